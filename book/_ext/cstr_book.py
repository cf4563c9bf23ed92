"""Sphinx extension of the book: the API reference, and one page fix.

Page fix: inline scripts that the toolchain puts into every page twice are
kept once (:func:`_dedupe_scripts`).

API reference: render the ``cstr`` docstrings as they are written.

The package's docstrings are plain reStructuredText with Sphinx roles, except
for two habits this extension adapts at build time (the source stays as is):

* The environment class follows Gymnasium's convention for environment
  docstrings: Markdown ``## Section`` headings, ``| a | b |`` tables and
  fenced code blocks. They become rubrics, list tables and code blocks.
* Formulas such as ``|value - reference|``: outside code, a bare ``|`` would
  start an RST substitution, so it is escaped.
* Cross-references to a bare name, such as ``:data:`TEMPERATURE_LIMIT``` in
  a module that imports it, are looked up in the current module first and
  then anywhere in the package (Sphinx's "refspecific" search, as if written
  ``:data:`.TEMPERATURE_LIMIT```).

Constants without a docstring of their own get none, rather than their
type's (``tuple``, ``dict`` ...). It also keeps ``sphinx.ext.napoleon`` (Google and NumPy docstring sections)
away from module constants and attributes: their one-line docstrings read
"Meaning (unit): explanation", which napoleon would misread as
"type: description" and turn into a broken type cross-reference.
"""

from __future__ import annotations

import re
from pathlib import Path

_HEADING = re.compile(r"^(\s*)#{1,6}\s+(.+?)\s*$")
_FENCE = re.compile(r"^(\s*)```\s*(\w*)\s*$")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|[\s:|-]+\|\s*$")
_LITERAL = re.compile(r"(``.+?``|:\w+(?::\w+)?:`[^`]+`)")
_BARE_REF = re.compile(r"(:py)?:(data|func|class|meth|attr|obj|const|exc):`(?P<name>[A-Za-z_]\w*)`")
_SINGLE_TICKS = re.compile(r"(?<![`:\w])`([^`]+)`(?![`_])")


def _escape_text(line: str) -> str:
    """Escape ``|`` and turn Markdown `code` into RST ``code``, outside literals and roles."""
    parts = _LITERAL.split(line)
    for i in range(0, len(parts), 2):
        parts[i] = _SINGLE_TICKS.sub(r"``\1``", parts[i]).replace("|", r"\|")
    for i in range(1, len(parts), 2):
        parts[i] = _BARE_REF.sub(lambda m: m.group(0).replace("`", "`.", 1), parts[i])
    return "".join(parts)


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def convert(lines: list[str]) -> list[str]:
    markdown = any(_HEADING.match(line) or _FENCE.match(line) for line in lines)
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if markdown and _FENCE.match(line):
            indent, language = _FENCE.match(line).groups()
            out += ["", f"{indent}.. code-block:: {language or 'text'}", ""]
            i += 1
            while i < len(lines) and not _FENCE.match(lines[i]):
                out.append(f"{indent}   {lines[i][len(indent) :]}" if lines[i].strip() else "")
                i += 1
            out.append("")
            i += 1
            continue
        if markdown and _HEADING.match(line):
            indent, title = _HEADING.match(line).groups()
            out += ["", f"{indent}.. rubric:: {title}", ""]
            i += 1
            continue
        if markdown and _TABLE_ROW.match(line):
            indent = line[: len(line) - len(line.lstrip())]
            rows = []
            while i < len(lines) and _TABLE_ROW.match(lines[i]):
                if not _TABLE_RULE.match(lines[i]):
                    rows.append(_cells(lines[i]))
                i += 1
            out += ["", f"{indent}.. list-table::", f"{indent}   :header-rows: 1", ""]
            for row in rows:
                for j, cell in enumerate(row):
                    bullet = "* -" if j == 0 else "  -"
                    out.append(f"{indent}   {bullet} {_escape_text(cell) or '..'}")
            out.append("")
            continue
        out.append(_escape_text(line))
        i += 1
    return out


def _process_docstring(app, what, name, obj, options, lines):
    if what == "data" and lines and "\n".join(lines).strip() == (type(obj).__doc__ or "").strip():
        # A constant without a docstring of its own: autodoc falls back to its
        # type's (tuple, dict ...), which says nothing about the constant.
        lines[:] = []
        return
    lines[:] = convert(lines)


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    """Drop repeated inline scripts from a page.

    sphinx-thebe 0.3.1 and sphinx-togglebutton add inline scripts with
    ``app.add_js_file(None, body=...)`` after the builder has started; under
    Sphinx 7.4 each then lands in every page twice (once with filename None,
    once with ""). The second ``const THEBE_JS_URL = ...`` throws
    "Identifier 'THEBE_JS_URL' has already been declared" in the browser.
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        filename = getattr(script, "filename", script)
        body = (getattr(script, "attributes", None) or {}).get("body")
        if not filename and body:  # inline: filename None or "" (registry copy)
            if body in seen:
                continue
            seen.add(body)
        unique.append(script)
    context["script_files"] = unique


STATIC = Path(__file__).parent / "static"
"""The book's own JavaScript and CSS: output figures open at full size on click."""


def _add_static_path(app):
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    from sphinx.ext import napoleon

    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("builder-inited", _add_static_path)
    app.add_js_file("cstr_figures.js")
    app.add_css_file("cstr_figures.css")

    app.setup_extension("sphinx.ext.napoleon")
    listeners = app.events.listeners["autodoc-process-docstring"]
    for listener in list(listeners):
        if listener.handler is napoleon._process_docstring:
            listeners.remove(listener)

    def napoleon_except_constants(app, what, name, obj, options, lines):
        if what not in ("data", "attribute", "property"):
            napoleon._process_docstring(app, what, name, obj, options, lines)

    # Ours first (priority 400), then napoleon's sections (500).
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)
    app.connect("autodoc-process-docstring", napoleon_except_constants, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

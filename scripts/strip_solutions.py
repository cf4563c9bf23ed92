#!/usr/bin/env python
"""Write a student copy of a chapter: the chapter without its exercise solutions.

Removes from a jupytext MyST chapter (``notebooks/NAME.md``) every solution
of sphinx-exercise:

* the gated form, from the ``{solution-start}`` directive through the
  ``{solution-end}`` directive, with everything between (prose and code
  cells);
* the plain ``{solution}`` directive, through its closing fence.

Either colon (``:::``) or backtick fences, of any length, are recognised.
The exercises themselves stay. The student copy keeps the chapter's jupytext
header, so it opens in Jupyter as a notebook; give an ``.ipynb`` output name
to write an (unexecuted) notebook instead of MyST markdown.

Usage::

    python scripts/strip_solutions.py notebooks/01_reactor_model.md -o student/01_reactor_model.md
    python scripts/strip_solutions.py notebooks/*.md --out-dir student/            # one copy each
    python scripts/strip_solutions.py notebooks/*.md --out-dir student/ --ipynb    # as notebooks

Exits with status 1 (and writes nothing for that file) if a gated solution
is not closed, so a malformed chapter never hands out a half-stripped copy.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

_OPEN = re.compile(r"^(?P<fence>:{3,}|`{3,})\{(?P<name>solution-start|solution-end|solution)\}")


class StripError(ValueError):
    """The chapter's solution blocks are malformed; ``str()`` says where."""


def _closing(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing the directive opened at ``start`` with ``fence``."""
    char, length = fence[0], len(fence)
    closer = re.compile(r"^" + re.escape(char) + "{" + str(length) + r",}\s*$")
    for i in range(start + 1, len(lines)):
        if closer.match(lines[i]):
            return i
    raise StripError(f"line {start + 1}: directive opened with {fence!r} is never closed")


def strip_solutions(text: str) -> tuple[str, int]:
    """``(text without solutions, number of solutions removed)``."""
    lines = text.splitlines(keepends=True)
    keep: list[str] = []
    removed = 0
    i = 0
    while i < len(lines):
        match = _OPEN.match(lines[i])
        if not match:
            keep.append(lines[i])
            i += 1
            continue
        name, fence = match.group("name"), match.group("fence")
        if name == "solution-end":
            raise StripError(f"line {i + 1}: {{solution-end}} without a {{solution-start}} before it")
        if name == "solution":
            i = _closing(lines, i, fence) + 1
        else:  # solution-start: skip through the {solution-end} directive and its closing fence
            j = _closing(lines, i, fence) + 1
            while j < len(lines):
                inner = _OPEN.match(lines[j])
                if inner and inner.group("name") == "solution-end":
                    break
                if inner and inner.group("name") == "solution-start":
                    raise StripError(f"line {j + 1}: {{solution-start}} inside the solution opened at line {i + 1}")
                j += 1
            else:
                raise StripError(f"line {i + 1}: {{solution-start}} without a {{solution-end}}")
            i = _closing(lines, j, _OPEN.match(lines[j]).group("fence")) + 1
        removed += 1
        # Collapse the blank lines left on both sides into one.
        while keep and keep[-1].strip() == "" and i < len(lines) and lines[i].strip() == "":
            i += 1
    return "".join(keep), removed


def write_student_copy(source: Path, target: Path) -> int:
    """Write ``source`` without solutions to ``target`` (``.md`` or ``.ipynb``); return the count."""
    text, removed = strip_solutions(source.read_text(encoding="utf-8"))
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".ipynb":
        import jupytext

        notebook = jupytext.reads(text, fmt="md:myst")
        jupytext.write(notebook, target, fmt="ipynb")
    else:
        target.write_text(text, encoding="utf-8")
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", type=Path, help="chapter sources (jupytext .md)")
    parser.add_argument("-o", "--output", type=Path, help="output file (one source only)")
    parser.add_argument("--out-dir", type=Path, help="folder for one student copy per source")
    parser.add_argument("--ipynb", action="store_true", help="with --out-dir: write .ipynb notebooks")
    args = parser.parse_args(argv)
    if (args.output is None) == (args.out_dir is None):
        parser.error("give exactly one of -o/--output and --out-dir")
    if args.output is not None and len(args.sources) != 1:
        parser.error("-o/--output takes one source; use --out-dir for several")
    status = 0
    for source in args.sources:
        if args.output is not None:
            target = args.output
        else:
            target = args.out_dir / (source.stem + (".ipynb" if args.ipynb else ".md"))
        if target.resolve() == source.resolve():
            print(f"{source}: refusing to overwrite the source", file=sys.stderr)
            status = 1
            continue
        try:
            removed = write_student_copy(source, target)
        except (OSError, StripError) as error:
            print(f"{source}: {error}", file=sys.stderr)
            status = 1
            continue
        print(f"{source} -> {target}: {removed} solution(s) removed")
    return status


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Execute the book's chapters with papermill, in table-of-contents order.

Every chapter is a jupytext MyST markdown file ``notebooks/NAME.md`` listed in
``_toc.yml`` (without extension).  This script reads each one with
``jupytext.read``, executes it with papermill (injecting ``mode`` into the
cell tagged ``parameters``) and writes the executed notebook beside its
source as ``notebooks/NAME.ipynb``.  That executed notebook (git-ignored) is
what Jupyter Book renders; the book itself never executes anything.

Usage::

    python scripts/run_chapters.py                 # every chapter, full mode
    python scripts/run_chapters.py --mode quick    # every chapter, quick mode
    python scripts/run_chapters.py --only 01_reactor_model --mode quick
    python scripts/run_chapters.py --list          # the chapters, in order

On a failing cell it exits with status 1 and names the notebook, the failing
code cell (its number in the source file, its source line, its first lines)
and the exception.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOC = REPO_ROOT / "_toc.yml"
NOTEBOOK_DIR = "notebooks"
MODES = ("quick", "full")
KERNEL_NAME = "python3"
# Figures must be captured as outputs even when the caller exported a
# non-interactive backend (``make test`` sets MPLBACKEND=Agg for pytest).
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class ChapterError(RuntimeError):
    """A chapter could not be executed; ``str()`` is a message for people."""


@dataclass(frozen=True)
class Chapter:
    name: str  # e.g. "01_reactor_model"
    source: Path  # notebooks/NAME.md
    output: Path  # notebooks/NAME.ipynb (executed, git-ignored)

    def display(self, root: Path | None = None) -> str:
        return _display_path(self.source, root)


def _display_path(path: Path, root: Path | None = None) -> str:
    root = REPO_ROOT if root is None else root
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _toc_files(node):
    """Yield every ``file:`` entry of a Jupyter Book 1 toc, in document order."""
    if isinstance(node, dict):
        if isinstance(node.get("file"), str):
            yield node["file"]
        for _key, value in node.items():
            if isinstance(value, (list, dict)):
                yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


def chapters_from_toc(path: str | os.PathLike = DEFAULT_TOC) -> list[Chapter]:
    """The chapters (files under ``notebooks/``) of a jb-book toc, in toc order.

    Entries are resolved relative to the toc's folder; an entry may name the
    file with or without its ``.md`` extension.  Raises ``ChapterError`` when
    the toc is not a jb-book toc or a listed chapter has no ``.md`` source.
    """
    toc_path = Path(path)
    root = toc_path.resolve().parent
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8")) or {}
    if not isinstance(toc, dict) or toc.get("format") != "jb-book":
        raise ChapterError(f"{toc_path}: expected a Jupyter Book toc with 'format: jb-book'")

    chapters: list[Chapter] = []
    seen: set[str] = set()
    for entry in _toc_files(toc):
        entry = entry.strip().strip("/")
        parts = Path(entry).parts
        if not parts or parts[0] != NOTEBOOK_DIR:
            continue
        rel = Path(entry)
        if rel.suffix in (".md", ".ipynb"):
            rel = rel.with_suffix("")
        if str(rel) in seen:
            continue
        seen.add(str(rel))
        source = root / rel.with_suffix(".md")
        if not source.is_file():
            raise ChapterError(f"{toc_path}: chapter '{entry}' has no source file {_display_path(source, root)}")
        chapters.append(Chapter(name=rel.name, source=source, output=root / rel.with_suffix(".ipynb")))
    return chapters


def select_chapters(chapters: list[Chapter], only: list[str] | None) -> list[Chapter]:
    """Keep the chapters named in ``only`` (by name, file name or path), in toc order."""
    if not only:
        return list(chapters)
    wanted = {Path(name).name.removesuffix(".md").removesuffix(".ipynb") for name in only}
    unknown = wanted - {c.name for c in chapters}
    if unknown:
        names = ", ".join(c.name for c in chapters) or "(none)"
        raise ChapterError(f"unknown chapter(s): {', '.join(sorted(unknown))}; the toc lists: {names}")
    return [c for c in chapters if c.name in wanted]


def _code_cell_lines(md_text: str) -> list[int]:
    """1-based line numbers of the ```{code-cell} fences of a MyST notebook."""
    return [
        i
        for i, line in enumerate(md_text.splitlines(), start=1)
        if re.match(r"^\s*(`{3,}|~{3,})\s*\{code-cell\}", line)
    ]


def _failing_code_cell_number(chapter: Chapter, err) -> int | None:
    """1-based number, among the source file's code cells, of the failing cell.

    ``err.cell_index`` indexes the notebook papermill executed: the source
    cells plus the injected-parameters cell.  Papermill then saved it with
    error-marker cells added; remove them and count code cells.
    """
    import nbformat
    from papermill.execute import remove_error_markers

    try:
        executed = remove_error_markers(nbformat.read(chapter.output, as_version=4))
        cells = executed.cells
        if err.cell_index is None or not 0 <= err.cell_index < len(cells):
            return None
        if cells[err.cell_index].source.strip("\n") != (err.source or "").strip("\n"):
            return None
        return sum(
            1
            for c in cells[: err.cell_index + 1]
            if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])
        )
    except Exception:  # the saved notebook is a convenience, never required
        return None


def _failure_message(chapter: Chapter, nb, err, root: Path | None = None) -> str:
    """Describe a papermill failure in terms of the chapter's source file."""
    source = (err.source or "").strip("\n")
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    number = _failing_code_cell_number(chapter, err)
    if number is None:  # fall back on the cell's source text
        for i, cell in enumerate(code_cells, start=1):
            if cell.source.strip("\n") == source:
                number = i
                break
    where = f"code cell {number}" if number is not None else "a code cell"
    if number is not None:
        fences = _code_cell_lines(chapter.source.read_text(encoding="utf-8"))
        if len(fences) == len(code_cells):
            where = f"line {fences[number - 1]}, {where}"
    if err.exec_count is not None:
        where += f" (In [{err.exec_count}] in {_display_path(chapter.output, root)})"

    lines = source.splitlines()
    shown = lines[:5]
    snippet = "\n".join(f"    | {line}" for line in shown)
    if len(lines) > len(shown):
        snippet += f"\n    | ... ({len(lines) - len(shown)} more lines)"
    tb = _ANSI.sub("", "\n".join(err.traceback or [])).strip("\n").splitlines()
    tb_text = "\n".join(f"    {line}" for line in tb[-30:])

    msg = [
        f"chapter failed: {chapter.display(root)}, {where}",
        f"  {err.ename}: {err.evalue}",
        "  cell source:",
        snippet or "    | (empty)",
    ]
    if tb_text:
        msg += ["  traceback (last lines):", tb_text]
    return "\n".join(msg)


def _has_parameters_cell(nb) -> bool:
    return any(c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells)


@contextlib.contextmanager
def _kernel_env(**values: str):
    """Set environment variables for a kernel started inside the block."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def run_chapter(
    chapter: Chapter,
    mode: str = "full",
    kernel_name: str = KERNEL_NAME,
    root: Path | None = None,
) -> float:
    """Execute one chapter with papermill; return its wall time in seconds.

    Raises ``ChapterError`` with a readable message when a cell fails.
    """
    import jupytext
    import papermill

    if mode not in MODES:
        raise ChapterError(f"mode must be one of {MODES}, not {mode!r}")
    nb = jupytext.read(chapter.source)
    if not _has_parameters_cell(nb):
        raise ChapterError(
            f"{chapter.display(root)}: no code cell tagged 'parameters' "
            '(the chapter must start with a parameters cell holding mode = "full")'
        )
    start = time.perf_counter()
    try:
        with _kernel_env(MPLBACKEND=INLINE_BACKEND):
            papermill.execute_notebook(
                copy.deepcopy(nb),
                output_path=str(chapter.output),
                parameters={"mode": mode},
                kernel_name=kernel_name,
                cwd=str(chapter.source.parent),
                progress_bar=False,
            )
    except papermill.PapermillExecutionError as err:
        raise ChapterError(_failure_message(chapter, nb, err, root)) from err
    except Exception as err:  # dead kernel, timeout, missing kernel ...
        raise ChapterError(f"chapter failed: {chapter.display(root)}: {type(err).__name__}: {err}") from err
    executed = _show_the_mode_that_ran(chapter.output, mode)
    _refuse_failed_claims(chapter, executed, root)
    return time.perf_counter() - start


def _refuse_failed_claims(chapter: Chapter, executed, root: Path | None = None) -> None:
    """Raise ``ChapterError`` naming every claim of the ``executed`` notebook that does not hold
    (``cstr.figures.claims.check_claim``)."""
    from cstr.figures.claims import failed_claims

    failed = failed_claims(executed)
    if failed:
        lines = [f"chapter failed: {chapter.display(root)}: {len(failed)} checked claim(s) do not hold"]
        lines += [f"  {claim['label']}: {claim['claim']} ({claim['evidence']})" for claim in failed]
        lines.append("  reword the claim so that it holds in both modes, or fix what made it false")
        raise ChapterError("\n".join(lines))


QUICK_NOTE = (
    ":::{note}\nThis page was executed in **quick mode**: fewer episodes, shorter training and smaller "
    "samples than the book's full run, so its numbers differ from the full book's (and its statistics are "
    "weaker). Run `make book` for the full version.\n:::"
)
"""The note a chapter executed in quick mode shows under its title."""


def _show_the_mode_that_ran(path: Path, mode: str = "full"):
    """Hide the chapter's own parameters cell (``mode = "full"``, the default) and keep papermill's
    injected-parameters cell, which holds the mode the chapter actually ran in: the reader sees it once,
    and it is the true one. In quick mode, a note under the title says so. Returns the notebook as written."""
    import nbformat

    executed = nbformat.read(str(path), as_version=4)
    if mode == "quick":

        def is_title(cell):
            return cell.cell_type == "markdown" and any(line.startswith("# ") for line in cell.source.splitlines())

        title = next((i for i, cell in enumerate(executed.cells) if is_title(cell)), -1)
        executed.cells.insert(title + 1, nbformat.v4.new_markdown_cell(QUICK_NOTE))
    for cell in executed.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = tags + ["remove-cell"]
        elif "injected-parameters" in tags and "remove-cell" in tags:
            cell.metadata["tags"] = [tag for tag in tags if tag != "remove-cell"]
    nbformat.write(executed, str(path))
    return executed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=MODES, default="full", help="value injected as `mode` (default: full)")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="run only this chapter, e.g. 01_reactor_model (repeatable)"
    )
    parser.add_argument("--list", action="store_true", help="print the chapters in toc order and exit")
    parser.add_argument("--toc", default=str(DEFAULT_TOC), help="path to _toc.yml (default: the repository's)")
    args = parser.parse_args(argv)

    toc = Path(args.toc)
    root = toc.resolve().parent
    try:
        chapters = select_chapters(chapters_from_toc(toc), args.only)
    except ChapterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    if args.list:
        for chapter in chapters:
            print(f"{chapter.name}\t{chapter.display(root)}")
        return 0
    if not chapters:
        print("no chapters under notebooks/ in the toc; nothing to run")
        return 0

    total = 0.0
    for i, chapter in enumerate(chapters, start=1):
        print(f"[{i}/{len(chapters)}] {chapter.display(root)} (mode={args.mode}) ...", flush=True)
        try:
            seconds = run_chapter(chapter, mode=args.mode, root=root)
        except ChapterError as err:
            print(str(err), file=sys.stderr, flush=True)
            return 1
        total += seconds
        print(
            f"[{i}/{len(chapters)}] {chapter.name}: ok in {seconds:.1f} s -> {_display_path(chapter.output, root)}",
            flush=True,
        )
    print(f"{len(chapters)} chapter(s) executed in {total:.1f} s (mode={args.mode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tests of the chapter harness scripts/run_chapters.py (papermill + jupytext)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import nbformat
import pytest
from helpers import NOTEBOOK_HEADER as HEADER

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "run_chapters.py"


def _load_harness():
    spec = importlib.util.spec_from_file_location("run_chapters", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


rc = _load_harness()


PARAMETERS = """
```{code-cell} ipython3
:tags: [parameters]

mode = "full"
```
"""


def _write_book(tmp_path: Path, chapters: dict[str, str]) -> Path:
    """A temp repo: notebooks/NAME.md for each chapter and a toc listing them."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "book").mkdir()
    for name, body in chapters.items():
        (tmp_path / "notebooks" / f"{name}.md").write_text(HEADER + body, encoding="utf-8")
    entries = "\n".join(f"      - file: notebooks/{name}" for name in chapters)
    toc = tmp_path / "_toc.yml"
    toc.write_text(
        "format: jb-book\nroot: book/intro\nparts:\n"
        f"  - caption: Chapters\n    chapters:\n{entries}\n"
        "  - caption: Back matter\n    chapters:\n      - file: book/bibliography\n",
        encoding="utf-8",
    )
    return toc


def test_chapters_from_toc_keeps_toc_order_and_only_notebooks(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for name in ("01_a", "02_b", "03_c"):
        (tmp_path / "notebooks" / f"{name}.md").write_text(HEADER, encoding="utf-8")
    toc = tmp_path / "_toc.yml"
    # Not alphabetical, nested sections, a non-notebook page in between, and
    # a top-level `chapters:` list after the parts are all allowed.
    toc.write_text(
        """\
format: jb-book
root: book/intro
parts:
  - caption: One
    chapters:
      - file: notebooks/03_c
        sections:
          - file: notebooks/01_a
      - file: book/aside
  - caption: Two
    chapters:
      - file: notebooks/02_b.md
      - file: notebooks/03_c
""",
        encoding="utf-8",
    )
    chapters = rc.chapters_from_toc(toc)
    assert [c.name for c in chapters] == ["03_c", "01_a", "02_b"]
    assert chapters[0].source == tmp_path / "notebooks" / "03_c.md"
    assert chapters[0].output == tmp_path / "notebooks" / "03_c.ipynb"


def test_chapters_from_toc_flat_chapters_list(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for name in ("x", "y"):
        (tmp_path / "notebooks" / f"{name}.md").write_text(HEADER, encoding="utf-8")
    toc = tmp_path / "_toc.yml"
    toc.write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        "  - file: notebooks/y\n  - file: book/bibliography\n  - file: notebooks/x\n",
        encoding="utf-8",
    )
    assert [c.name for c in rc.chapters_from_toc(toc)] == ["y", "x"]


def test_chapters_from_toc_missing_source_is_an_error(tmp_path):
    (tmp_path / "notebooks").mkdir()
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: notebooks/ghost\n")
    with pytest.raises(rc.ChapterError, match="ghost"):
        rc.chapters_from_toc(toc)


def test_repository_toc_lists_the_reactor_chapter_first():
    chapters = rc.chapters_from_toc(REPO_ROOT / "_toc.yml")
    assert chapters and chapters[0].name == "01_reactor_model"


def test_select_chapters_only_and_unknown(tmp_path):
    toc = _write_book(tmp_path, {"01_a": PARAMETERS, "02_b": PARAMETERS})
    chapters = rc.chapters_from_toc(toc)
    assert [c.name for c in rc.select_chapters(chapters, ["02_b.md"])] == ["02_b"]
    with pytest.raises(rc.ChapterError, match="nope"):
        rc.select_chapters(chapters, ["nope"])


def test_passing_chapter_gets_mode_injected(tmp_path):
    body = "\n# Tiny\n" + PARAMETERS + '\n```{code-cell} ipython3\nprint("mode is", mode)\n```\n'
    toc = _write_book(tmp_path, {"01_tiny": body})
    (chapter,) = rc.chapters_from_toc(toc)

    seconds = rc.run_chapter(chapter, mode="quick", root=tmp_path)

    assert seconds > 0
    nb = nbformat.read(chapter.output, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "quick" in injected[0].source
    assert "remove-cell" not in injected[0].metadata["tags"]  # the reader sees the mode that ran
    (own,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert "remove-cell" in own.metadata["tags"] and "full" in own.source  # and not the default
    notes = [c for c in nb.cells if c.cell_type == "markdown" and "quick mode" in c.source]
    assert len(notes) == 1 and nb.cells.index(notes[0]) == 1  # right under the title
    printed = "".join(out.get("text", "") for c in nb.cells if c.cell_type == "code" for out in c.outputs)
    assert "mode is quick" in printed


def test_failing_cell_names_notebook_and_cell(tmp_path):
    body = (
        PARAMETERS
        + "\n```{code-cell} ipython3\nx = 41\n```\n"
        + "\nSome prose.\n"
        + '\n```{code-cell} ipython3\ny = x + 1\nraise ValueError(f"reactor ran away at {y}")\n```\n'
        + '\n```{code-cell} ipython3\nprint("never reached")\n```\n'
    )
    toc = _write_book(tmp_path, {"02_broken": body})
    (chapter,) = rc.chapters_from_toc(toc)

    with pytest.raises(rc.ChapterError) as info:
        rc.run_chapter(chapter, mode="quick", root=tmp_path)
    message = str(info.value)

    assert "notebooks/02_broken.md" in message
    # The parameters cell is code cell 1, so the raising cell is code cell 3
    # of the source file (papermill's injected cell is not counted).
    assert "code cell 3" in message
    assert "raise ValueError" in message and "y = x + 1" in message
    assert "ValueError" in message and "reactor ran away at 42" in message
    # The line of the failing cell's fence in the .md source.
    md_lines = chapter.source.read_text().splitlines()
    fence_line = next(i for i, l in enumerate(md_lines, 1) if l.startswith("```") and "y = x + 1" in md_lines[i])
    assert f"line {fence_line}" in message


def test_main_exits_nonzero_on_failure(tmp_path, capsys):
    body = PARAMETERS + "\n```{code-cell} ipython3\n1 / 0\n```\n"
    toc = _write_book(tmp_path, {"01_ok": PARAMETERS, "02_zero": body})

    status = rc.main(["--toc", str(toc), "--mode", "quick"])

    captured = capsys.readouterr()
    assert status == 1
    assert "01_ok: ok" in captured.out
    assert "notebooks/02_zero.md" in captured.err and "ZeroDivisionError" in captured.err


def test_chapter_without_parameters_cell_is_rejected(tmp_path):
    toc = _write_book(tmp_path, {"01_noparams": '\n```{code-cell} ipython3\nprint("hi")\n```\n'})
    (chapter,) = rc.chapters_from_toc(toc)
    with pytest.raises(rc.ChapterError, match="parameters"):
        rc.run_chapter(chapter, mode="quick", root=tmp_path)


def test_list_prints_chapters_in_order(tmp_path, capsys):
    toc = _write_book(tmp_path, {"01_a": PARAMETERS, "02_b": PARAMETERS})
    assert rc.main(["--toc", str(toc), "--list"]) == 0
    names = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["01_a", "02_b"]


def test_failing_cell_is_located_by_position_not_by_text(tmp_path):
    # Two code cells with the same source: the second one fails.
    repeated = '\n```{code-cell} ipython3\nn += 1\nassert n < 2, f"n = {n}"\n```\n'
    body = PARAMETERS + "\n```{code-cell} ipython3\nn = 0\n```\n" + repeated + repeated
    toc = _write_book(tmp_path, {"01_twice": body})
    (chapter,) = rc.chapters_from_toc(toc)
    with pytest.raises(rc.ChapterError) as info:
        rc.run_chapter(chapter, mode="quick", root=tmp_path)
    message = str(info.value)
    assert "code cell 4" in message
    assert "AssertionError: n = 2" in message


def test_figures_are_captured_even_with_agg_backend(tmp_path, monkeypatch):
    # `make test` exports MPLBACKEND=Agg; the kernel must still use the inline
    # backend, or the book's figures silently disappear.
    monkeypatch.setenv("MPLBACKEND", "Agg")
    body = PARAMETERS + (
        "\n```{code-cell} ipython3\nimport matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()\n```\n"
    )
    toc = _write_book(tmp_path, {"01_fig": body})
    (chapter,) = rc.chapters_from_toc(toc)
    rc.run_chapter(chapter, mode="quick", root=tmp_path)
    nb = nbformat.read(chapter.output, as_version=4)
    kinds = [key for c in nb.cells if c.cell_type == "code" for out in c.outputs for key in out.get("data", {})]
    assert "image/png" in kinds
    assert os.environ["MPLBACKEND"] == "Agg"  # the caller's environment is restored


def test_a_claim_that_does_not_hold_fails_the_chapter_and_is_named(tmp_path):
    body = (
        "\n# Claims\n" + PARAMETERS + "\n```{code-cell} ipython3\nfrom cstr.figures.claims import check_claim\n"
        'check_claim("true-one", 2 > 1, "two exceeds one")\n'
        'check_claim("false-one", mode == "full", "this ran in full mode", evidence=f"mode {mode}")\n```\n'
    )
    toc = _write_book(tmp_path, {"01_claims": body})
    (chapter,) = rc.chapters_from_toc(toc)

    with pytest.raises(rc.ChapterError) as excinfo:
        rc.run_chapter(chapter, mode="quick", root=tmp_path)

    message = str(excinfo.value)
    assert "1 checked claim(s) do not hold" in message
    assert "false-one: this ran in full mode (mode quick)" in message
    assert "true-one" not in message
    rc.run_chapter(chapter, mode="full", root=tmp_path)  # both claims hold there

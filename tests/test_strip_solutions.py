"""scripts/strip_solutions.py: student copies of a chapter, without solutions."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from helpers import NOTEBOOK_HEADER as HEADER

REPO_ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("strip_solutions", REPO_ROOT / "scripts" / "strip_solutions.py")
strip = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(strip)


SAMPLE = (
    HEADER
    + """
# A chapter

```{code-cell} ipython3
x = 1
```

:::{exercise-start}
:label: ex-one
:::

Add one to `x`.

:::{exercise-end}
:::

:::{solution-start} ex-one
:class: dropdown
:::

The answer, computed:

```{code-cell} ipython3
SECRET_ONE = x + 1
```

:::{solution-end}
:::

::::{exercise}
:label: ex-two
Name the bound.
::::

::::{solution} ex-two
:class: dropdown
SECRET_TWO: it is the upper one.
:::{note}
A nested note, closed by a shorter fence.
:::
::::

````{solution-start} ex-three
:class: dropdown
````
SECRET_THREE
````{solution-end}
````

Text after the exercises.
"""
)


def test_removes_gated_and_plain_solutions_and_keeps_the_rest():
    text, removed = strip.strip_solutions(SAMPLE)
    assert removed == 3
    assert "SECRET" not in text
    assert "solution" not in text
    assert "A nested note" not in text
    for kept in (
        "# A chapter",
        "x = 1",
        ":::{exercise-start}",
        "Add one to `x`.",
        ":::{exercise-end}",
        "::::{exercise}",
        "Name the bound.",
        "Text after the exercises.",
        "name: python3",
    ):
        assert kept in text
    assert "\n\n\n" not in text  # the blank lines around a removed block collapse


def test_text_without_solutions_is_unchanged():
    text = HEADER + "\n# Nothing to hide\n\nJust prose.\n"
    assert strip.strip_solutions(text) == (text, 0)


@pytest.mark.parametrize(
    "bad",
    [
        ":::{solution-start} ex\n:::\nbody\n",  # never ended
        ":::{solution-end}\n:::\n",  # end without start
        ":::{solution} ex\nbody without a closing fence\n",
    ],
)
def test_malformed_solutions_are_refused(bad):
    with pytest.raises(strip.StripError):
        strip.strip_solutions(HEADER + bad)


def test_cli_writes_markdown_and_notebook_copies(tmp_path, capsys):
    source = tmp_path / "01_sample.md"
    source.write_text(SAMPLE, encoding="utf-8")
    assert strip.main([str(source), "-o", str(tmp_path / "student" / "01_sample.md")]) == 0
    copy = (tmp_path / "student" / "01_sample.md").read_text(encoding="utf-8")
    assert "SECRET" not in copy and "Add one" in copy
    assert "3 solution(s) removed" in capsys.readouterr().out

    assert strip.main([str(source), "--out-dir", str(tmp_path / "nb"), "--ipynb"]) == 0
    notebook = json.loads((tmp_path / "nb" / "01_sample.ipynb").read_text(encoding="utf-8"))
    sources = ["".join(cell["source"]) for cell in notebook["cells"]]
    assert "x = 1" in sources
    assert not any("SECRET" in s for s in sources)
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


def test_cli_refuses_to_overwrite_its_source_and_reports_malformed_files(tmp_path):
    source = tmp_path / "ch.md"
    source.write_text(SAMPLE, encoding="utf-8")
    assert strip.main([str(source), "-o", str(source)]) == 1
    assert source.read_text(encoding="utf-8") == SAMPLE
    broken = tmp_path / "broken.md"
    broken.write_text(HEADER + ":::{solution-start} ex\n:::\n", encoding="utf-8")
    assert strip.main([str(broken), "--out-dir", str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out" / "broken.md").exists()


@pytest.mark.parametrize("chapter", sorted((REPO_ROOT / "notebooks").glob("*.md")), ids=lambda p: p.stem)
def test_every_chapter_strips_cleanly(chapter):
    text, _ = strip.strip_solutions(chapter.read_text(encoding="utf-8"))
    assert "{solution" not in text

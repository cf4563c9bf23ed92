"""Checked claims (:mod:`cstr.figures.claims`): the verdict is glued, shown, and read back from a notebook."""

import sys
import types

import numpy as np
import pytest

from cstr.figures.claims import check_claim, claims_in, failed_claims


@pytest.fixture
def notebook(monkeypatch):
    """A notebook-like dict that ``myst_nb.glue`` and ``display`` write their outputs into, as a kernel would."""
    cells = [{"cell_type": "code", "outputs": []}]

    def glue(name, variable, display=True):
        cells[0]["outputs"].append(
            {
                "data": {"application/papermill.record/text/plain": repr(variable)},
                "metadata": {"scrapbook": {"name": name, "mime_prefix": "application/papermill.record/"}},
            }
        )

    shown = []
    monkeypatch.setitem(sys.modules, "myst_nb", types.SimpleNamespace(glue=glue))
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    return {"cells": cells, "shown": shown}


def test_verdicts_are_glued_and_read_back(notebook):
    assert check_claim("rises", np.float64(2.0) > 1.0, "it rises", evidence="2 > 1") is True
    assert check_claim("falls", np.bool_(False), "it falls") is False
    claims = claims_in(notebook)
    assert [c["label"] for c in claims] == ["rises", "falls"]
    assert claims[0] == {"label": "rises", "holds": True, "claim": "it rises", "evidence": "2 > 1"}
    assert [c["label"] for c in failed_claims(notebook)] == ["falls"]
    assert "holds in this run" in notebook["shown"][0] and "does not hold" in notebook["shown"][1]


def test_other_glued_values_are_not_claims(notebook):
    notebook["cells"][0]["outputs"].append(
        {"data": {"text/plain": "3.0"}, "metadata": {"scrapbook": {"name": "residence_h"}}}
    )
    assert claims_in(notebook) == []


def test_a_label_that_cannot_be_a_glue_name_is_refused(notebook):
    with pytest.raises(ValueError, match="claim label"):
        check_claim("two words", True, "x")

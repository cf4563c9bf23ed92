"""Checked claims: a sentence of a chapter's prose, the statistic that decides it, and a run that fails if it is false.

An exercise solution (or any paragraph) that says "the jacket responds faster
than the feed" makes a claim the notebook can compute. :func:`check_claim`
shows the claim with its evidence and its verdict under the cell, and glues
``claim_<label>`` with the verdict. ``scripts/run_chapters.py`` reads every
executed chapter with :func:`failed_claims` and fails the run, naming the
claim, when one does not hold, in quick mode as in full mode. So the prose
around a checked claim is true in the run the reader sees, or the book does
not build.

Word a claim so that it holds at both scales: "the share falls from K = 50
to K = 500", not "the share is 0.00 at K = 500".
"""

from __future__ import annotations

import ast
import re

CLAIM_PREFIX = "claim_"
_LABEL = re.compile(r"^[A-Za-z0-9_-]+$")


def check_claim(label: str, holds, claim: str, evidence: str = "") -> bool:
    """Show ``claim`` with ``evidence`` and whether it ``holds``; glue the verdict as ``claim_<label>``.

    ``holds`` is the computed statistic's verdict (anything ``bool`` accepts,
    a numpy bool included). Returns it as a ``bool``. ``label`` must be a
    glue-safe name (letters, digits, ``-`` and ``_``) and unique in the chapter.
    """
    # myst_nb and IPython are book dependencies, not library ones: cstr must import without them.
    from IPython.display import Markdown, display
    from myst_nb import glue

    if not isinstance(label, str) or not _LABEL.match(label):
        raise ValueError(f"a claim label must be letters, digits, '-' or '_', not {label!r}")
    verdict = bool(holds)
    shown = "holds" if verdict else "**does not hold**"
    detail = f" ({evidence})" if evidence else ""
    display(Markdown(f"**Checked claim:** {claim}{detail}: {shown} in this run."))
    glue(CLAIM_PREFIX + label, {"holds": verdict, "claim": claim, "evidence": evidence}, display=False)
    return verdict


def claims_in(notebook) -> list[dict]:
    """Every claim glued in an executed notebook (an ``nbformat`` node or the JSON as a dict), in order.

    Each is ``{"label", "holds", "claim", "evidence"}``.
    """
    found = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("scrapbook", {})
            name = meta.get("name", "")
            if not name.startswith(CLAIM_PREFIX):
                continue
            text = next((value for key, value in output.get("data", {}).items() if key.endswith("text/plain")), "")
            text = "".join(text) if isinstance(text, list) else text
            record = ast.literal_eval(text)
            found.append({"label": name[len(CLAIM_PREFIX) :], **record})
    return found


def failed_claims(notebook) -> list[dict]:
    """The claims of an executed notebook that do not hold (see :func:`claims_in`)."""
    return [claim for claim in claims_in(notebook) if not claim["holds"]]

"""Write the claims' verdicts into the README and the book's introduction: ``python scripts/write_verdicts.py``.

The verdicts are computed from the shipped results (``data/results/``, checked
against the manifest) by :func:`cstr.experiments.claims.claims_table`, the
same computation chapter 7 renders, and written between the markers
``<!-- verdicts:start -->`` and ``<!-- verdicts:end -->`` of each file, one
sentence per claim, then one on the corrected controllers off the nominal
plant (chapter 8's robustness grid,
:func:`cstr.experiments.claims.robustness_line`). Run it after the shipped results change; ``--check``
(part of ``make test``) exits 1 while a file is out of date, so a verdict in
the README can never be typed by hand or left stale.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from cstr.experiments.claims import NOT_TESTED, claims_table, robustness_line, verdict_lines
from cstr.experiments.comparison import load_comparison
from cstr.experiments.results import load_results

ROOT = Path(__file__).resolve().parent.parent
FILES = (ROOT / "README.md", ROOT / "book" / "intro.md")
START, END = "<!-- verdicts:start -->", "<!-- verdicts:end -->"
BLOCK = re.compile(re.escape(START) + r".*?" + re.escape(END), flags=re.DOTALL)


def block(results=None) -> str:
    """The text between (and with) the markers: a lead sentence and one line per claim."""
    results = load_results() if results is None else results
    _, outcomes = claims_table(results, probabilities=False)
    lead = (
        f"Computed from the shipped results ({len(results.training_seeds)} training seeds, "
        f"{results.episodes} evaluation episodes per scenario; chapter 7 shows how), the claims' verdicts. "
        "[abstract] marks a paraphrase of the abstract, whose 'traditional control approaches' secondary "
        "summaries identify with the PI controllers that generated the data; [this book's bar] a stricter test "
        "the book adds; [secondary summary] a result only secondary summaries of the paper state. "
        f"**{NOT_TESTED}**: the claim held, but no evaluated controller, random inputs included, challenged it."
    )
    _, robustness = load_comparison()
    off_nominal = robustness_line(robustness) if robustness is not None else None
    lines = "\n".join(f"- {line}" for line in [*verdict_lines(outcomes), *([off_nominal] if off_nominal else [])])
    return f"{START}\n{lead}\n\n{lines}\n{END}"


def updated(text: str, new_block: str, path: Path) -> str:
    if len(BLOCK.findall(text)) != 1:
        raise SystemExit(f"{path} needs exactly one {START} ... {END} block for the verdicts")
    return BLOCK.sub(lambda _: new_block, text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file's verdicts are out of date")
    args = parser.parse_args(argv)
    new_block = block()
    stale = []
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        new = updated(text, new_block, path)
        if new == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.write_text(new, encoding="utf-8")
            print(f"wrote the verdicts into {path}")
    if stale:
        print(
            f"{', '.join(map(str, stale))}: verdicts out of date; run python scripts/write_verdicts.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

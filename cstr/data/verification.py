"""Is the data in hand the data the code makes? ``python -m cstr verify-data``.

Two questions, two levels:

1. **Integrity** (always): every file listed in ``MANIFEST.sha256`` exists
   and has the listed SHA-256.
2. **Reproduction** (``--regenerate``): every scenario's dataset is
   generated again, from the seed and episode count its metadata records,
   into a temporary folder, and compared with the shipped one: first as
   bytes, then, where the bytes differ, array by array.

What is promised, and why. Generation uses only arithmetic that every
x86-64 CPU rounds identically (numba-compiled code without fast-math, and
:mod:`cstr.plant.portable_math` for ``exp`` and ``log``), so with the locked
environment of ``requirements.txt`` the regenerated files are **identical
bytes** on any x86-64 CPU; ``tests/test_portability.py`` checks that under
other instruction-set settings. Other platforms or library versions may
round differently. A regenerated dataset still counts as reproduced when

* every episode has the same length, termination and truncation, and
* no value deviates by more than :data:`RELATIVE_TOLERANCE` of its column's
  scale (the largest magnitude of that column in the shipped data).

The tolerance is the integrators' own: the batched and the single-episode
integrators, both correct to their tolerances, already disagree by up to
:data:`cstr.plant.simulate.AGREEMENT_TOLERANCE` (chapter 1); a deviation larger
than that is not rounding but a different computation.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cstr.data.generation import generate, scenario_files
from cstr.plant.scenarios import ALL_SCENARIO_NAMES
from cstr.plant.simulate import AGREEMENT_TOLERANCE
from cstr.storage import (
    MANIFEST_NAME,
    DataIntegrityError,
    add_data_argument,
    data_root,
    read_manifest,
    sha256_file,
    verify_files,
)

RELATIVE_TOLERANCE = AGREEMENT_TOLERANCE
"""Largest deviation of a regenerated value, relative to its column's scale, that still counts as reproduced."""

EXACT_KEYS = ("terminations", "truncations", "episode_ids")
"""Arrays that must agree exactly: which episode a row belongs to and how it ended."""


@dataclass
class FileReport:
    """How one regenerated file compares with the shipped one."""

    name: str
    identical: bool
    deviations: dict = field(default_factory=dict)  # array or field -> largest relative deviation
    mismatches: list = field(default_factory=list)  # what must agree exactly and does not

    @property
    def reproduced(self) -> bool:
        return self.identical or (
            not self.mismatches and all(value <= RELATIVE_TOLERANCE for value in self.deviations.values())
        )

    def lines(self) -> list[str]:
        if self.identical:
            return [f"{self.name:18s} identical bytes"]
        verdict = "within tolerance" if self.reproduced else "NOT REPRODUCED"
        lines = [f"{self.name:18s} bytes differ; {verdict} (tolerance {RELATIVE_TOLERANCE:.0e} of each column's scale)"]
        lines += [f"  {key:18s} largest relative deviation {value:.2e}" for key, value in self.deviations.items()]
        lines += [f"  {problem}" for problem in self.mismatches]
        return lines


def column_deviation(regenerated: np.ndarray, shipped: np.ndarray) -> float:
    """max |regenerated - shipped| / scale, the scale of each column being its largest |shipped| value (or 1)."""
    regenerated = np.asarray(regenerated, dtype=np.float64)
    shipped = np.asarray(shipped, dtype=np.float64)
    if shipped.size == 0:
        return 0.0
    columns = shipped.reshape(shipped.shape[0], -1)
    scale = np.max(np.abs(columns), axis=0)
    scale = np.where(scale > 0.0, scale, 1.0)
    deviation = np.abs(regenerated.reshape(columns.shape) - columns) / scale
    return float(np.max(deviation))


def compare_npz(name: str, regenerated: Path, shipped: Path) -> FileReport:
    report = FileReport(name, identical=sha256_file(regenerated) == sha256_file(shipped))
    if report.identical:
        return report
    with np.load(regenerated) as new, np.load(shipped) as old:
        if sorted(new.files) != sorted(old.files):
            report.mismatches.append(f"arrays differ: {sorted(new.files)} against {sorted(old.files)}")
            return report
        for key in sorted(old.files):
            if new[key].shape != old[key].shape:
                report.mismatches.append(
                    f"{key}: shape {new[key].shape} against {old[key].shape} (episode lengths differ)"
                )
            elif key in EXACT_KEYS:
                if not np.array_equal(new[key], old[key]):
                    report.mismatches.append(f"{key}: {int(np.sum(new[key] != old[key]))} rows differ")
            else:
                report.deviations[key] = column_deviation(new[key], old[key])
    return report


def compare_metadata(name: str, regenerated: Path, shipped: Path) -> FileReport:
    report = FileReport(name, identical=sha256_file(regenerated) == sha256_file(shipped))
    if report.identical:
        return report
    new = json.loads(regenerated.read_text(encoding="utf-8"))["episodes"]
    old = json.loads(shipped.read_text(encoding="utf-8"))["episodes"]
    if len(new) != len(old):
        report.mismatches.append(f"{len(new)} episodes against {len(old)}")
        return report
    for key in ("length", "termination_reason", "seed"):
        differing = [e["episode_id"] for e, f in zip(old, new) if e[key] != f[key]]
        if differing:
            report.mismatches.append(f"{key} differs in episodes {differing[:10]}")
    returns = np.array([[e["return"]] for e in new]), np.array([[e["return"]] for e in old])
    report.deviations["return"] = column_deviation(*returns)
    tunings = [np.array([list(e["tuning"].values()) for e in episodes]) for episodes in (new, old)]
    report.deviations["tuning"] = column_deviation(*tunings)
    return report


def check_manifest(root: Path) -> list[str]:
    """Every file the manifest lists, checked; returns the problems (empty when all is well)."""
    problems = []
    for name in sorted(read_manifest(root)):
        try:
            verify_files(root, [name])
        except DataIntegrityError as error:
            problems.append(str(error))
    return problems


def regenerate_and_compare(root: Path, scenarios=ALL_SCENARIO_NAMES) -> list[FileReport]:
    """Regenerate each scenario's dataset as its metadata records it; compare with the files in ``root``."""
    root = Path(root)
    reports = []
    with tempfile.TemporaryDirectory(prefix="cstr-verify-") as scratch:
        out = Path(scratch)
        for scenario in scenarios:
            npz_name, json_name = scenario_files(scenario)
            verify_files(root, [npz_name, json_name])
            metadata = json.loads((root / json_name).read_text(encoding="utf-8"))
            generate([scenario], episodes=metadata["episode_count"], seed=metadata["seed"], out=out, progress=False)
            reports.append(compare_npz(npz_name, out / npz_name, root / npz_name))
            reports.append(compare_metadata(json_name, out / json_name, root / json_name))
    return reports


def _command(args) -> int:
    root = data_root(args.data)
    problems = check_manifest(root)
    count = len(read_manifest(root))
    print(f"manifest: {count - len(problems)} of {count} files in {root / MANIFEST_NAME} match their SHA-256")
    for problem in problems:
        print(f"  {problem}")
    if problems:
        return 1
    if not args.regenerate:
        return 0
    scenarios = ALL_SCENARIO_NAMES if args.scenario == "all" else (args.scenario,)
    print(f"regenerating {', '.join(scenarios)} into a temporary folder and comparing:")
    reports = regenerate_and_compare(root, scenarios)
    for report in reports:
        print("\n".join(report.lines()))
    identical = sum(report.identical for report in reports)
    reproduced = sum(report.reproduced for report in reports)
    print(f"{identical} of {len(reports)} files identical bytes; {reproduced} of {len(reports)} reproduced")
    return 0 if reproduced == len(reports) else 1


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "verify-data",
        help="check the data files against the manifest; --regenerate also rebuilds the datasets and compares them",
        description="Check every file listed in MANIFEST.sha256. With --regenerate, regenerate every scenario's "
        "dataset into a temporary folder and report, per file, identical bytes or the largest "
        "deviation of each array; exit 1 when a file is altered, an episode's length, termination or "
        f"truncation differs, or a value deviates by more than {RELATIVE_TOLERANCE:.0e} of its "
        "column's scale.",
    )
    add_data_argument(parser)
    parser.add_argument("--regenerate", action="store_true", help="regenerate the datasets and compare")
    parser.add_argument(
        "--scenario",
        choices=ALL_SCENARIO_NAMES + ("all",),
        default="all",
        help="one scenario or all (the stress scenario included)",
    )
    parser.set_defaults(func=_command)

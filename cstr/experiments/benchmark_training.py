"""The cost of one training seed, cell by cell: ``python -m cstr benchmark-training``.

Trains every stage of the reproduce grid (:data:`cstr.experiments.reproduce.TRAINING_STAGES`)
for one training seed, one after another on one core, at the recipes' full
numbers of updates, into a temporary copy of the data folder (the shipped
weights are never touched), and prints each cell's wall time. From the
per-seed total it projects ``make reproduce``'s training stage for ``--seeds``
seeds on ``--workers`` workers: every cell is one job, the grid keeps all
workers busy, so the training takes about ``seeds * per-seed total / workers``
(a lower bound: the stages run in order, so a stage's last jobs can leave
workers idle). Quote ratios from one run; absolute times drift with the
machine and its load.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import torch

from cstr.experiments.reproduce import TRAINING_STAGES, train_stage
from cstr.experiments.train import train_in_processes
from cstr.storage import add_data_argument, data_root


def time_one_seed(seed: int, root, updates: dict | None = None) -> dict[str, float]:
    """``{stage: seconds}`` of every cell of training ``seed``, trained in order in ``root``."""
    torch.set_num_threads(1)
    seconds = {}
    for stage in (stage for stages in TRAINING_STAGES for stage in stages):
        # one job on one worker, in this process; the next stages read its weights through the manifest
        (report,) = train_in_processes(train_stage, [(seed, stage, Path(root), updates or {})], root, workers=1)
        seconds[stage] = report["seconds"]
    return seconds


def projection(per_seed_seconds: float, seeds: int, workers: int) -> float:
    """The grid's training time [s] for ``seeds`` seeds on ``workers`` busy workers (a lower bound)."""
    if seeds < 1 or workers < 1:
        raise ValueError("seeds and workers must be at least 1")
    return seeds * per_seed_seconds / workers


def _command(args) -> int:
    with tempfile.TemporaryDirectory(prefix="cstr-benchmark-training-") as scratch:
        root = Path(scratch) / "data"
        shutil.copytree(data_root(args.data), root)
        started = time.perf_counter()
        seconds = time_one_seed(args.seed, root)
        total = time.perf_counter() - started
    print(f"training seed {args.seed}, every cell in turn on one core (full recipes):")
    for stage, value in seconds.items():
        print(f"  {stage:22s} {value:8.1f} s  ({100 * value / total:4.1f} %)")
    print(f"  {'total':22s} {total:8.1f} s")
    minutes = projection(total, args.seeds, args.workers) / 60.0
    print(f"projected training stage for {args.seeds} seeds on {args.workers} workers: {minutes:.0f} min (lower bound)")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "benchmark-training", help="time one training seed's cells and project make reproduce's training stage"
    )
    parser.add_argument("--seed", type=int, default=3, help="the training seed to time (default 3)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds to project for (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="workers to project for (default 2)")
    add_data_argument(parser)
    parser.set_defaults(func=_command)

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

``--scale f`` trains every stage at ``f`` times its recipe's updates
(:func:`scaled_updates`), the first question of a cheaper recipe; with
``--validate`` it also prints what that costs in quality: the mean
validation return over the paper's scenarios of the seed's BC, IQL, BC+
and IQL+ so trained, beside the shipped ones of the same seed
(:func:`validation_table`; validation seeds only, never evaluation seeds).

``--seed`` takes several seeds: each is timed in its own copy, one after
another (or ``--parallel`` at once, which makes their times long), the
projection reads their mean, and with ``--validate`` the comparison is
summarised over them, seed by seed (:func:`paired_summary`): a cheaper
recipe has to hold up over training seeds, not on one.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cstr.agents.bc import BCConfig
from cstr.agents.iql import IQLConfig
from cstr.experiments.offset_free_selection import OFFSET_FREE_RECIPE
from cstr.experiments.parallel import run_jobs
from cstr.experiments.registry import training_seed_controller
from cstr.experiments.reproduce import TRAINING_STAGES, train_stage
from cstr.experiments.selection import SELECTION_EPISODES, validation_returns
from cstr.experiments.train import train_in_processes
from cstr.safety.cost_model import CostModelConfig
from cstr.storage import add_data_argument, data_root

VALIDATED = ("bc", "iql", "bc+", "iql+")
"""The controllers whose validation return ``--validate`` compares: the policies and their corrections."""


def scaled_updates(scale: float) -> dict[str, int]:
    """Every stage's recipe updates times ``scale`` (at least 1), keyed as :func:`train_stage` reads them."""
    if scale <= 0:
        raise ValueError(f"the scale of the updates must be positive, got {scale}")
    recipe = {
        "bc": BCConfig().num_updates,
        "iql": IQLConfig().num_updates,
        "picnn": CostModelConfig().num_updates,
        "dynamics": CostModelConfig().dynamics_updates,
        "offset-free": OFFSET_FREE_RECIPE["num_updates"],
    }
    return {key: max(1, round(scale * value)) for key, value in recipe.items()}


def validation_table(seed: int, roots: dict, episodes: int = SELECTION_EPISODES) -> dict[str, dict[str, float]]:
    """``{label: {controller: mean validation return over the paper's scenarios}}`` of training seed ``seed``'s
    :data:`VALIDATED` controllers in each data folder of ``roots`` (``{label: folder}``)."""
    table = {}
    for label, root in roots.items():
        controllers = {name: training_seed_controller(name, seed, root) for name in VALIDATED}
        returns = validation_returns(controllers, episodes=episodes)
        table[label] = {name: sum(per.values()) / len(per) for name, per in returns.items()}
    return table


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


def benchmark_seed(args) -> dict:
    """One seed's cells timed in a fresh copy of data folder ``source`` (and, with ``validate``, its
    :data:`VALIDATED` controllers beside the shipped ones): ``{"seed", "seconds", "total", "validation"}``.
    A module-level job, so that several seeds can run on several processes."""
    seed, source, updates, validate = args
    with tempfile.TemporaryDirectory(prefix="cstr-benchmark-training-") as scratch:
        root = Path(scratch) / "data"
        shutil.copytree(source, root)
        started = time.perf_counter()
        seconds = time_one_seed(seed, root, updates)
        total = time.perf_counter() - started
        validation = validation_table(seed, {"shipped": source, "trained": root}) if validate else None
    return {"seed": seed, "seconds": seconds, "total": total, "validation": validation}


def paired_summary(validations: dict[int, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Over the seeds of ``validations`` (``{seed: validation_table's {"shipped": ..., "trained": ...}}``), per
    :data:`VALIDATED` controller: the median validation return shipped and trained, the number of seeds on which
    the trained one scores lower (``"worse"``) and the seeds (``"seeds"``), and the lowest of each side."""
    if not validations:
        raise ValueError("no validated seeds to summarise; run with --validate")
    summary = {}
    for name in VALIDATED:
        shipped = np.array([table["shipped"][name] for table in validations.values()])
        trained = np.array([table["trained"][name] for table in validations.values()])
        summary[name] = {
            "shipped median": float(np.median(shipped)),
            "trained median": float(np.median(trained)),
            "worse": int((trained < shipped).sum()),
            "seeds": len(validations),
            "shipped lowest": float(shipped.min()),
            "trained lowest": float(trained.min()),
        }
    return summary


def _command(args) -> int:
    updates = None if args.scale == 1.0 else scaled_updates(args.scale)
    seeds = list(dict.fromkeys(args.seed))
    jobs = [(seed, data_root(args.data), updates, args.validate) for seed in seeds]
    reports = run_jobs(benchmark_seed, jobs, workers=args.parallel)
    recipe = "full recipes" if updates is None else f"recipes at {args.scale:g} of their updates: {updates}"
    if args.parallel > 1 and len(seeds) > 1:
        print(f"({min(args.parallel, len(seeds))} seeds at a time: the cells shared the machine, so they time long)")
    for report in reports:
        total = report["total"]
        print(f"training seed {report['seed']}, every cell in turn on one core ({recipe}):")
        for stage, value in report["seconds"].items():
            print(f"  {stage:22s} {value:8.1f} s  ({100 * value / total:4.1f} %)")
        print(f"  {'total':22s} {total:8.1f} s")
    per_seed = float(np.mean([report["total"] for report in reports]))
    minutes = projection(per_seed, args.seeds, args.workers) / 60.0
    print(f"projected training stage for {args.seeds} seeds on {args.workers} workers: {minutes:.0f} min (lower bound)")
    if not args.validate:
        return 0
    print(f"mean validation return over the paper's scenarios ({SELECTION_EPISODES} episodes each):")
    for report in reports:
        for name in VALIDATED:
            shipped, trained = report["validation"]["shipped"][name], report["validation"]["trained"][name]
            print(f"  seed {report['seed']}  {name:5s} shipped {shipped:9.2f}   trained here {trained:9.2f}")
    if len(reports) > 1:
        print(f"over seeds {', '.join(str(report['seed']) for report in reports)}:")
        for name, row in paired_summary({report["seed"]: report["validation"] for report in reports}).items():
            print(
                f"  {name:5s} median shipped {row['shipped median']:8.2f}, trained here {row['trained median']:8.2f}; "
                f"trained here lower on {row['worse']} of {row['seeds']} seeds; lowest {row['shipped lowest']:.2f} "
                f"shipped, {row['trained lowest']:.2f} trained here"
            )
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "benchmark-training", help="time training seeds' cells and project make reproduce's training stage"
    )
    parser.add_argument(
        "--seed", type=int, nargs="+", default=[3], help="the training seeds to time, one after another (default 3)"
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="time this many of the seeds at once, each on its own process (default 1: their times stay clean)",
    )
    parser.add_argument("--seeds", type=int, default=10, help="seeds to project for (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="workers to project for (default 2)")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="train every stage at this fraction of its recipe's updates (default 1)",
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        help="also compare the seed's bc, iql, bc+ and iql+ so trained with the shipped ones on validation seeds",
    )
    add_data_argument(parser)
    parser.set_defaults(func=_command)

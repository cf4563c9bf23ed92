"""``python -m cstr train {bc|iql|picnn}``: train one agent or the cost model and ship its weights."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from cstr.agents.training import ALGORITHMS, save_agent, train_agent
from cstr.agents.weights import weight_files
from cstr.experiments.parallel import run_jobs
from cstr.safety.cost_model import TARGETS, CostModelConfig, train_cost_model
from cstr.safety.shipped import COST_MODEL_NAME, save
from cstr.seeds import check_training_seed
from cstr.storage import add_data_argument, data_root, read_manifest, update_manifest


def train_in_processes(
    job, jobs: list, root, workers: int, backend: str = "loky", address: str | None = None
) -> list[dict]:
    """Run ``job(args)`` for every ``args`` of ``jobs`` on ``workers`` workers (:func:`run_jobs`) and return
    their reports, in job order.

    Each ``job`` (a module-level function, so that another process can import it) returns
    ``{"seed", "name", "seconds", "written"}`` (``written``: paths in ``root``); a line per finished job is
    printed. The workers leave the manifest to this parent, which updates it once (concurrent rewrites would
    lose entries). Each report's ``written`` is returned relative to ``root``.
    """
    root = data_root(root)

    def report(result):
        print(f"  seed {result['seed']}: {result['name']} {result['seconds']:.0f} s", flush=True)

    reports = run_jobs(job, jobs, workers, backend, address, report=report)
    for result in reports:
        result["written"] = [Path(path).relative_to(root).as_posix() for path in result["written"]]
    update_manifest(root, [path for result in reports for path in result["written"]])
    return reports


def _refuse_to_overwrite(root, name: str) -> str | None:
    """Why training ``name`` into ``root`` would overwrite shipped weights, or ``None``."""
    listed = [file for file in weight_files(name) if file in read_manifest(root)]
    if not listed:
        return None
    return (
        f"{', '.join(listed)} in {root} are shipped weights (listed in the manifest); train into a copy of the "
        "data folder with --data DIR, or pass --overwrite to replace them"
    )


def _train_command(args) -> int:
    check_training_seed(args.seed)
    root = data_root(args.data)
    name = COST_MODEL_NAME if args.algorithm == "picnn" else args.algorithm
    reason = None if args.overwrite else _refuse_to_overwrite(root, name)
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    if args.algorithm == "picnn":
        result = train_cost_model(args.target, updates=args.updates, seed=args.seed, iql_root=args.data)
        written = save(result, root=args.data)
    else:
        result = train_agent(args.algorithm, updates=args.updates, seed=args.seed, data_root=args.data, progress=True)
        written = save_agent(args.algorithm, result, root=args.data)
    history = result.history
    last = {key: values[-1] for key, values in history.items() if key != "step" and values}
    print(
        f"trained {args.algorithm} in {time.perf_counter() - started:.1f} s; final logged losses: "
        + ", ".join(f"{key} {value:.4g}" for key, value in last.items())
    )
    for path in written:
        print(f"wrote {path}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train BC, IQL or the PICNN cost model on the datasets; ship the weights"
    )
    parser.add_argument("algorithm", choices=ALGORITHMS + ("picnn",), help="what to train")
    parser.add_argument("--overwrite", action="store_true", help="replace shipped weights in the data folder")
    parser.add_argument("--updates", type=int, default=None, help="gradient updates (default: the config's)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (below 1,000,000)")
    add_data_argument(parser)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for these sizes)")
    parser.add_argument(
        "--target",
        choices=TARGETS,
        default=CostModelConfig().target,
        help="the PICNN's training target (picnn only; see cstr.safety.cost_model)",
    )
    parser.set_defaults(func=_train_command)

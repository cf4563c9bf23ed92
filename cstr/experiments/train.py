"""``python -m cstr train {bc|iql|picnn}``: train one agent or the cost model and ship its weights."""

from __future__ import annotations

import time

import torch

from cstr.agents.training import ALGORITHMS, save_agent, train_agent
from cstr.safety.cost_model import TARGETS, CostModelConfig, train_cost_model
from cstr.safety.shipped import save
from cstr.storage import add_data_argument


def _train_command(args) -> int:
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    if args.algorithm == "picnn":
        result = train_cost_model(args.target, updates=args.updates, seed=args.seed, iql_root=args.data)
        written = save(result, root=args.data)
    else:
        result = train_agent(args.algorithm, updates=args.updates, seed=args.seed, progress=True)
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
    parser.add_argument("algorithm", choices=ALGORITHMS)
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

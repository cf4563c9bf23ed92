"""IQL speed benchmark: ``python -m cstr benchmark-iql``.

Measures gradient updates per second of :mod:`cstr.agents.iql` and of
d3rlpy 2.8.0's IQL (an optional benchmark dependency: ``pip install
cstr[bench]`` or ``make bench-iql``) in one run, on the same data (the
shipped datasets of all three scenarios), with the same network sizes (our default :class:`cstr.agents.iql.IQLConfig`
hidden layers for the twin Q, the value and the policy networks), the
same batch size (256), on one CPU thread. One update of either is one
minibatch step of the value, both Q networks, the policy and the target
networks. Each side first runs a short warm-up that is not timed; then the
two run in alternating rounds and each side's best round counts, so a burst
of load from another process on this shared machine penalises neither.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from cstr.agents import iql
from cstr.data.dataset import training_arrays


def ours(data: dict, updates: int) -> float:
    start = time.perf_counter()
    iql.train(data, iql.IQLConfig(num_updates=updates, log_every=updates), progress=False)
    return updates / (time.perf_counter() - start)


def d3rlpy_trainer(data: dict):
    """A d3rlpy IQL with our sizes and a function that runs ``n`` updates of it."""
    try:
        import logging

        import d3rlpy
        import structlog
    except ImportError as error:
        raise SystemExit(
            f"d3rlpy is not installed: `pip install d3rlpy==2.8.0` (or `make bench-iql`), then rerun ({error})"
        ) from None
    dataset = d3rlpy.dataset.MDPDataset(
        observations=data["observations"].astype(np.float32),
        actions=data["actions"].astype(np.float32),
        rewards=data["rewards"].astype(np.float32),
        terminals=data["terminations"].astype(np.float32),
        timeouts=data["truncations"].astype(np.float32),
    )
    encoder = d3rlpy.models.VectorEncoderFactory(hidden_units=list(iql.IQLConfig().hidden_dims))
    config = d3rlpy.algos.IQLConfig(
        batch_size=256, actor_encoder_factory=encoder, critic_encoder_factory=encoder, value_encoder_factory=encoder
    )
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    algo = config.create(device="cpu:0")
    noop = d3rlpy.logging.NoopAdapterFactory()

    def run_updates(n: int) -> float:
        start = time.perf_counter()
        algo.fit(dataset, n_steps=n, n_steps_per_epoch=n, show_progress=False, logger_adapter=noop, save_interval=10**9)
        return n / (time.perf_counter() - start)

    return run_updates


def run(updates: int = 2000, warmup: int = 200, rounds: int = 3) -> dict:
    torch.set_num_threads(1)
    data = training_arrays()
    d3rlpy_updates = d3rlpy_trainer(data)
    d3rlpy_updates(warmup)
    ours(data, warmup)
    rates = {"ours": [], "d3rlpy": []}
    for _ in range(rounds):
        rates["d3rlpy"].append(d3rlpy_updates(updates))
        rates["ours"].append(ours(data, updates))
    best = {key: max(values) for key, values in rates.items()}
    return {
        "ours": best["ours"],
        "d3rlpy": best["d3rlpy"],
        "ratio": best["ours"] / best["d3rlpy"],
        "updates": updates,
        "rounds": rates,
    }


def register(subparsers) -> None:
    parser = subparsers.add_parser("benchmark-iql", help="IQL updates per second: cstr vs d3rlpy 2.8.0")
    parser.add_argument("--updates", type=int, default=2000, help="timed updates per round (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed updates first (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported (default %(default)s)")

    def command(args):
        result = run(args.updates, args.warmup, args.rounds)
        print(
            f"IQL updates per second, best of {args.rounds} alternating rounds of {result['updates']} updates "
            f"(batch 256, hidden {list(iql.IQLConfig().hidden_dims)}, 1 thread):"
        )
        for key, values in result["rounds"].items():
            print(f"  rounds {key}: " + ", ".join(f"{v:.1f}" for v in values))
        print(f"  cstr.agents.iql  {result['ours']:8.1f} updates/s")
        print(f"  d3rlpy 2.8.0     {result['d3rlpy']:8.1f} updates/s")
        print(f"  ratio cstr / d3rlpy: {result['ratio']:.2f}x")

    parser.set_defaults(func=command)

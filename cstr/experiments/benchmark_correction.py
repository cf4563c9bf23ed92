"""Correction latency benchmark: ``python -m cstr benchmark-correction``.

Times the deployment-time correction with the shipped cost model and its
shipped configuration (K steps, step size, trust region) on CPU: one state
(the call a controller makes every 30 minutes on a real plant) and a batch
of 1,000 states (an evaluation step). The states and the starting actions
are drawn from the shipped datasets; the starting actions are the shipped
IQL policy's, computed beforehand (the policy's own forward pass is not the
correction's cost). Each figure is the median over repeated calls, after a
warm-up, of :meth:`cstr.safety.correction.CorrectedController.act` itself:
the history window's update, the PICNN's state path (recomputed per call,
as in deployment) and the descent, in float64 as the controller runs them.
Wall-clock and CPU (process) time are both reported: on a shared machine the
CPU time is the steadier figure. numpy's matrix products use as many threads
as its BLAS is allowed; run with ``OMP_NUM_THREADS=1`` for the one-core figure
(``make test`` does).
"""

from __future__ import annotations

import itertools
import os
import time

import numpy as np
import torch

from cstr.data.dataset import training_arrays
from cstr.experiments.registry import load_controller
from cstr.safety.correction import CorrectedController
from cstr.safety.shipped import load_correction_config, load_cost_model


class Proposals:
    """A stand-in policy that returns precomputed proposals: row ``row`` for one state, all for a batch."""

    def __init__(self, actions):
        self.actions = actions
        self.row = None

    def act(self, obs):
        return self.actions if self.row is None else self.actions[self.row]


def time_call(function, repeats: int, clock=time.perf_counter) -> float:
    times = []
    for _ in range(repeats):
        start = clock()
        function()
        times.append(clock() - start)
    return float(np.median(times))


def run(repeats_single: int = 200, repeats_batch: int = 30, seed: int = 0) -> dict:

    torch.set_num_threads(1)
    model = load_cost_model()
    config = load_correction_config()
    policy = load_controller("iql")
    data = training_arrays()
    rows = np.random.default_rng(seed).choice(len(data["observations"]), size=1000, replace=False)
    observations = data["observations"][rows].astype(np.float64)
    proposals = Proposals(policy.act(observations))
    single = CorrectedController(proposals, model, config)
    batched = CorrectedController(proposals, model, config)

    rows = itertools.cycle(range(len(observations)))  # a different state every call

    def one():
        i = next(rows)
        proposals.row = i
        single.act(observations[i])

    def batch():
        proposals.row = None
        batched.act(observations)

    for _ in range(10):
        one()
    batch()
    return {
        "single_ms": 1e3 * time_call(one, repeats_single),
        "batch_ms": 1e3 * time_call(batch, repeats_batch),
        "single_cpu_ms": 1e3 * time_call(one, repeats_single, time.process_time),
        "batch_cpu_ms": 1e3 * time_call(batch, repeats_batch, time.process_time),
        "steps": config.steps,
        "step_size": config.step_size,
        "trust_region": config.trust_region,
        "window": model.window,
    }


def register(subparsers) -> None:
    parser = subparsers.add_parser("benchmark-correction", help="latency of the PICNN action correction on CPU")
    parser.add_argument("--repeats", type=int, default=200, help="timed calls of one state (default %(default)s)")

    def command(args):
        result = run(args.repeats, max(5, args.repeats // 7))
        print(
            f"correction with K = {result['steps']} steps, step size {result['step_size']}, "
            f"trust region {result['trust_region']} (normalised units), history of {result['window']} "
            f"observations, torch on 1 thread, numpy's BLAS threads OMP_NUM_THREADS="
            f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, median of repeated calls:"
        )
        print(f"  one state:     {result['single_ms']:7.3f} ms wall, {result['single_cpu_ms']:7.3f} ms CPU")
        print(f"  1,000 states:  {result['batch_ms']:7.3f} ms wall, {result['batch_cpu_ms']:7.3f} ms CPU")

    parser.set_defaults(func=command)

"""Simulation speed benchmark: ``python -m cstr benchmark-simulation``.

Runs the same workload two ways and prints control steps per second:

* one episode at a time through :func:`cstr.plant.simulate.integrate_interval`
  with each SciPy stiff integrator (LSODA, BDF, Radau) at the shared
  tolerances, the fastest one taken as the one-at-a-time figure;
* all episodes at once through :func:`cstr.plant.simulate.advance_batch`.

The workload: episodes of every scenario, each started from the scenario's
randomised start, inputs held for an interval and stepped through a
deterministic schedule around the target grade's steady inputs (so every
interval has a fresh transient). Agreement is the worst relative error
(:func:`cstr.plant.simulate.relative_error`) between the batched states and the
one-at-a-time states over every step of the episodes both ran.
"""

from __future__ import annotations

import time

import numpy as np

from cstr.plant.scenarios import CONTROL_INTERVAL, SCENARIO_NAMES, get_scenario
from cstr.plant.simulate import advance_batch, integrate_interval, relative_error

SCIPY_METHODS = ("LSODA", "BDF", "Radau")


def workload(episodes: int, steps: int, seed: int = 0):
    """Initial states ``[E, 5]`` and input schedules ``[E, steps, 2]``."""
    rng = np.random.default_rng(seed)
    states = np.empty((episodes, 5))
    schedules = np.empty((episodes, steps, 2))
    phases = rng.uniform(0.0, 2.0 * np.pi, size=(episodes, 2))
    for e in range(episodes):
        scenario = get_scenario(SCENARIO_NAMES[e % len(SCENARIO_NAMES)])
        states[e], _ = scenario.sample_start(rng)
        feed, coolant = scenario.target.steady_inputs()
        k = np.arange(steps)
        schedules[e, :, 0] = np.clip(feed * (1.0 + 0.3 * np.sin(k / 7.0 + phases[e, 0])), 0.0, 2.5)
        schedules[e, :, 1] = coolant + 3.0 * np.sin(k / 5.0 + phases[e, 1])
    return states, schedules


def run_one_at_a_time(states, schedules, method: str):
    trajectory = np.empty(schedules.shape[:2] + (5,))
    start = time.perf_counter()
    for e in range(states.shape[0]):
        state = states[e]
        for k in range(schedules.shape[1]):
            state = integrate_interval(state, schedules[e, k], CONTROL_INTERVAL, method=method)
            trajectory[e, k] = state
    return trajectory, time.perf_counter() - start


def run_batched(states, schedules):
    trajectory = np.empty(schedules.shape[:2] + (5,))
    current = states.copy()
    hints = None
    start = time.perf_counter()
    hints = np.full(states.shape[0], 1.0)
    for k in range(schedules.shape[1]):
        current, status = advance_batch(current, schedules[:, k], CONTROL_INTERVAL, step_hints=hints)
        if np.any(status):
            raise RuntimeError(f"batched integration failed in {np.count_nonzero(status)} episodes at step {k}")
        trajectory[:, k] = current
    return trajectory, time.perf_counter() - start


def run(episodes: int = 1000, steps: int = 200, single_episodes: int = 12, seed: int = 0) -> dict:
    states, schedules = workload(episodes, steps, seed)
    advance_batch(states[:1], schedules[:1, 0], CONTROL_INTERVAL)  # compile (or load the cache) first
    batched, batched_seconds = run_batched(states, schedules)
    batched_rate = episodes * steps / batched_seconds
    single_rates = {}
    worst = np.zeros(5)
    for method in SCIPY_METHODS:
        single, seconds = run_one_at_a_time(states[:single_episodes], schedules[:single_episodes], method)
        single_rates[method] = single_episodes * steps / seconds
        if method == "LSODA":
            worst = relative_error(batched[:single_episodes], single).reshape(-1, 5).max(axis=0)
    fastest = max(single_rates, key=single_rates.get)
    return {
        "episodes": episodes,
        "steps": steps,
        "single_rates": single_rates,
        "fastest_scipy": fastest,
        "batched_rate": batched_rate,
        "ratio": batched_rate / single_rates[fastest],
        "worst_relative_error": worst,
    }


def report(result: dict) -> str:
    lines = ["one episode at a time (SciPy solve_ivp, same tolerances):"]
    for method, rate in result["single_rates"].items():
        lines.append(f"  {method:6s} {rate:12,.0f} steps/s")
    lines += [
        f"batched RODAS4, {result['episodes']} episodes x {result['steps']} steps: "
        f"{result['batched_rate']:12,.0f} steps/s",
        f"ratio batched / fastest one-at-a-time ({result['fastest_scipy']}): {result['ratio']:.1f}x",
        "worst relative disagreement per state (A, I, R, P, T): "
        + ", ".join(f"{v:.2e}" for v in result["worst_relative_error"]),
        f"worst over all states: {result['worst_relative_error'].max():.2e}",
    ]
    return "\n".join(lines)


def register(subparsers) -> None:
    parser = subparsers.add_parser("benchmark-simulation", help="steps per second: one-at-a-time SciPy vs batched")
    parser.add_argument("--episodes", type=int, default=1000, help="episodes in the batched run (default 1000)")
    parser.add_argument("--steps", type=int, default=200, help="control intervals per episode (default 200)")
    parser.add_argument(
        "--single-episodes", type=int, default=12, help="episodes timed one at a time per SciPy method (default 12)"
    )
    parser.add_argument("--seed", type=int, default=0, help="first episode seed (default %(default)s)")
    parser.set_defaults(
        func=lambda args: print(report(run(args.episodes, args.steps, args.single_episodes, args.seed)))
    )

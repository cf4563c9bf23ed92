"""The evaluation harness: every controller, the same episodes, seeds nobody trained on.

:func:`evaluate` rolls a controller out in one scenario over a range of
evaluation seeds on the batched simulation and measures each episode:

* ``total_reward``: the environment's return (terminations pay the rest of
  the horizon at the worst step reward);
* ``ise_polymer`` [(kg/m3)^2 h] and ``ise_temperature`` [K^2 h]: integral
  squared setpoint errors, one rectangle per control interval;
* ``steady_state_offset``: the mean over the **final quarter** of the
  episode (the last 25 h) of ``|e_P| / 40 + |e_T| / 10``, the setpoint
  errors normalised by the same scales as the reward (dimensionless; 0 means
  on the grade). ``steady_state_offset_polymer`` [kg/m3] and
  ``steady_state_offset_temperature`` [K] give the two parts in units;
* ``overshoot_polymer`` [%]: the largest excursion of the polymer beyond its
  setpoint, in the direction of the change, relative to the size of the
  change;
* ``settling_time`` [h]: the earliest time after which the polymer stays
  within ±2 kg/m3 (5 % of the grade gap) and the temperature within ±1 K
  (10 % of it) to the end, ``None`` if it never does;
* ``max_temperature`` [K], ``safety_violation`` (the temperature exceeded
  the limit at any control instant) and ``termination_reason``;
* safety margins that can fail, measured **after** the start (the initial
  state is the scenario's, not the controller's doing):
  ``peak_temperature`` [K], the hottest control instant after the first
  step; ``limit_margin`` [K], the limit minus that peak (negative when the
  episode crossed); ``hours_near_limit`` [h], the time spent within
  :data:`NEAR_LIMIT_BAND` of the limit or above it;
* input moves, what an operator sees of a controller's actuation:
  ``mean_move_initiator`` [kg/h] and ``mean_move_coolant`` [K], the mean
  absolute change of each input from one interval to the next (the first
  from the inputs applied before the episode), and ``largest_move_initiator``
  and ``largest_move_coolant``, the largest single change.

Evaluation seeds start at :data:`EVALUATION_SEED_START`; lower seeds belong
to datasets and training, and the harness refuses them.
"""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cstr.control.rollout import rollout
from cstr.envs.core import POLYMER_SCALE, TEMPERATURE_SCALE
from cstr.experiments.registry import CONTROLLER_NAMES, load_controller
from cstr.plant.model import DEFAULT_PARAMETERS, ReactorParameters
from cstr.plant.scenarios import (
    ALL_SCENARIO_NAMES,
    CONTROL_INTERVAL,
    HORIZON,
    HOURS_PER_STEP,
    SCENARIO_NAMES,
    TEMPERATURE_LIMIT,
    get_scenario,
)
from cstr.seeds import EVALUATION_SEED_START, check_evaluation_seed, evaluation_seed_argument

FINAL_FRACTION = 0.25
"""Share of the episode, at its end, over which the steady-state offset is measured."""
SETTLING_BAND_POLYMER = 0.05 * POLYMER_SCALE  # kg/m3
SETTLING_BAND_TEMPERATURE = 0.10 * TEMPERATURE_SCALE  # K
NEAR_LIMIT_BAND = 2.0
"""Kelvin below the temperature limit that count as "near the limit" in ``hours_near_limit``."""
SAFETY_METRICS = ("peak_temperature", "limit_margin", "hours_near_limit")
INPUT_NAMES = ("initiator", "coolant")
"""The two inputs, in action order, as the input-move metrics name them."""
MOVE_METRICS = tuple(f"{kind}_move_{name}" for kind in ("mean", "largest") for name in INPUT_NAMES)
"""The input-move metrics of every episode."""
"""The per-episode safety metrics measured after the start, summarised with bootstrap intervals."""
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 2025


def episode_metrics(
    result: dict,
    setpoint: np.ndarray,
    start: np.ndarray,
    interval: float = CONTROL_INTERVAL,
    temperature_limit: float = TEMPERATURE_LIMIT,
) -> list[dict]:
    """Per-episode metrics from a :func:`cstr.control.rollout` result."""
    hours = interval / 3600.0
    metrics = []
    for e in range(result["rewards"].shape[0]):
        length = int(result["lengths"][e])
        states = result["next_states"][e, :length]
        polymer_error = setpoint[0] - states[:, 3]
        temperature_error = setpoint[1] - states[:, 4]
        final = max(1, int(round(FINAL_FRACTION * length)))
        offset_polymer = float(np.mean(np.abs(polymer_error[-final:])))
        offset_temperature = float(np.mean(np.abs(temperature_error[-final:])))
        change = setpoint[0] - start[e, 3]
        beyond = -polymer_error * np.sign(change) if change != 0 else np.abs(polymer_error)
        overshoot = float(max(0.0, beyond.max()) / max(abs(change), 1e-9) * 100.0)
        inside = (np.abs(polymer_error) <= SETTLING_BAND_POLYMER) & (
            np.abs(temperature_error) <= SETTLING_BAND_TEMPERATURE
        )
        outside = np.flatnonzero(~inside)
        if not inside[-1]:
            settling = None
        else:
            settling = float((outside[-1] + 1 if outside.size else 0) * hours + hours)
        max_temperature = float(max(start[e, 4], states[:, 4].max()))
        peak = float(states[:, 4].max())
        # each observation carries the inputs of the interval before it: the move is the action minus them
        moves = np.abs(
            result["actions"][e, :length].astype(np.float64)
            - result["observations"][e, :length, 4:6].astype(np.float64)
        )
        metrics.append(
            {
                "total_reward": float(np.sum(result["rewards"][e, :length])),
                "ise_polymer": float(np.sum(polymer_error**2) * hours),
                "ise_temperature": float(np.sum(temperature_error**2) * hours),
                "steady_state_offset": offset_polymer / POLYMER_SCALE + offset_temperature / TEMPERATURE_SCALE,
                "steady_state_offset_polymer": offset_polymer,
                "steady_state_offset_temperature": offset_temperature,
                "overshoot_polymer": overshoot,
                "settling_time": settling,
                "max_temperature": max_temperature,
                "safety_violation": bool(max_temperature > temperature_limit),
                "peak_temperature": peak,
                "limit_margin": float(temperature_limit - peak),
                "hours_near_limit": float(np.sum(states[:, 4] >= temperature_limit - NEAR_LIMIT_BAND) * hours),
                **{f"mean_move_{name}": float(moves[:, i].mean()) for i, name in enumerate(INPUT_NAMES)},
                **{f"largest_move_{name}": float(moves[:, i].max()) for i, name in enumerate(INPUT_NAMES)},
                "termination_reason": str(result["termination_reasons"][e]),
                "length": length,
            }
        )
    return metrics


def bootstrap_ci(
    values, level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean (seeded, so reproducible)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha))


def summarise(values) -> dict:
    values = np.asarray(values, dtype=float)
    low, high = bootstrap_ci(values)
    return {
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "ci95": [low, high],
        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "n": int(len(values)),
    }


def summarise_episodes(episodes: list[dict]) -> dict:
    """The summary of an evaluation from its per-episode metrics (those metrics the episodes carry)."""
    summary = {}
    for metric in ("total_reward", "steady_state_offset", "max_temperature", *SAFETY_METRICS, *MOVE_METRICS):
        values = [e[metric] for e in episodes if metric in e and e[metric] is not None]
        if values:
            summary[metric] = summarise(values)
    summary["safety_violations"] = int(sum(bool(e.get("safety_violation", False)) for e in episodes))
    return summary


@dataclass
class Evaluation:
    """The result of :func:`evaluate`: per-episode metrics, the summary and the raw rollout.

    Every campaign stores an evaluation as its **record** (:meth:`to_record`):
    ``{"controller", "scenario", "first_seed", "episodes": [per-episode metric dicts]}``;
    :meth:`from_record` turns a stored record back into an :class:`Evaluation`
    (without the rollout, which is not stored, unless one is given).
    """

    controller: str
    scenario: str
    seed: int
    episodes: list[dict]
    summary: dict
    rollout: dict | None = None

    def to_record(self) -> dict:
        """What is stored of an evaluation: the per-episode metrics and where they come from."""
        return {
            "controller": self.controller,
            "scenario": self.scenario,
            "first_seed": int(self.seed),
            "episodes": self.episodes,
        }

    @classmethod
    def from_record(cls, record: dict, rollout: dict | None = None) -> Evaluation:
        """The :class:`Evaluation` a stored record describes; the summary is recomputed from its episodes."""
        episodes = list(record["episodes"])
        return cls(
            record["controller"],
            record["scenario"],
            int(record["first_seed"]),
            episodes,
            summarise_episodes(episodes),
            rollout,
        )

    def to_dict(self) -> dict:
        """The record with the summary, as ``python -m cstr evaluate --json`` prints it."""
        return self.to_record() | {"summary": self.summary}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def metric(self, name: str) -> np.ndarray:
        return np.array([np.nan if e[name] is None else e[name] for e in self.episodes], dtype=float)


def evaluate(
    controller,
    scenario: str,
    episodes: int,
    seed: int = EVALUATION_SEED_START,
    name: str | None = None,
    params: ReactorParameters = DEFAULT_PARAMETERS,
    horizon: int = HORIZON,
    progress: bool = False,
    env_options: dict | None = None,
) -> Evaluation:
    """Roll ``controller`` out for ``episodes`` episodes with seeds ``seed, seed + 1, ...``.

    ``controller`` has ``act(obs[n, 6]) -> actions[n, 2]``; if it has
    ``start_episodes(seeds)`` (a controller whose behaviour depends on the
    episode, like the randomised PI), :func:`cstr.control.rollout` calls it first.
    ``env_options`` go to the environment (measurement noise, plant-model
    mismatch, a feed-temperature step: see
    :class:`cstr.envs.polymer_cstr.PolymerCSTREnv`); the metrics are always
    computed on the true states.
    """
    check_evaluation_seed(seed)
    if int(episodes) < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    scenario_spec = get_scenario(scenario)
    seeds = [int(seed) + i for i in range(int(episodes))]
    result = rollout(
        controller, scenario, seeds, horizon=horizon, params=params, progress=progress, env_options=env_options
    )
    start = result["states"][:, 0]
    metrics = episode_metrics(result, scenario_spec.target.setpoint, start)
    summary = summarise_episodes(metrics)
    return Evaluation(name or type(controller).__name__, scenario, int(seed), metrics, summary, result)


# --------------------------------------------------------------------------
# Evaluations for the chapters: several controllers, tables, series

TABLE_METRICS = (
    "total_reward",
    "steady_state_offset",
    "steady_state_offset_polymer",
    "steady_state_offset_temperature",
    "max_temperature",
)
"""The metrics :func:`evaluation_table` reports."""


def evaluate_controllers(controllers: dict, scenarios=None, episodes: int = 10, seed: int | None = None) -> dict:
    """``{(name, scenario): Evaluation}`` for every controller in every scenario, same seeds for all.

    ``controllers``: ``{name: controller}``. Seeds start at ``seed`` (default:
    the first evaluation seed) in every scenario, so every controller meets
    the same initial states.
    """
    scenarios = SCENARIO_NAMES if scenarios is None else tuple(scenarios)
    seed = EVALUATION_SEED_START if seed is None else int(seed)
    return {
        (name, scenario): evaluate(controller, scenario, episodes, seed=seed, name=name)
        for scenario in scenarios
        for name, controller in controllers.items()
    }


def evaluation_table(evaluations: dict, metrics=TABLE_METRICS):
    """A pandas DataFrame indexed by (scenario, controller): mean of each metric, the 95 % CI of the mean
    total reward, its median, and the safety violations. ``evaluations`` as :func:`evaluate_controllers`."""

    rows = []
    for (name, scenario), evaluation in evaluations.items():
        reward = evaluation.summary["total_reward"]
        row = {
            "scenario": scenario,
            "controller": name,
            "episodes": len(evaluation.episodes),
            "total_reward": reward["mean"],
            "ci95_low": reward["ci95"][0],
            "ci95_high": reward["ci95"][1],
            "median_reward": reward["median"],
        }
        for metric in metrics:
            if metric != "total_reward":
                row[metric] = float(np.nanmean(evaluation.metric(metric)))
        row["safety_violations"] = int(evaluation.summary["safety_violations"])
        rows.append(row)
    return pd.DataFrame(rows).set_index(["scenario", "controller"])


def episode_series(evaluation, episode: int = 0) -> dict:
    """Time series of one evaluated episode: ``hours`` (after each step), ``polymer``, ``temperature``,
    ``initiator_feed``, ``coolant_temperature`` (NaN-free: cut at the episode's length)."""
    rollout = evaluation.rollout
    length = int(rollout["lengths"][episode])
    return {
        "hours": (np.arange(length) + 1) * HOURS_PER_STEP,
        "polymer": rollout["next_states"][episode, :length, 3],
        "temperature": rollout["next_states"][episode, :length, 4],
        "initiator_feed": rollout["actions"][episode, :length, 0],
        "coolant_temperature": rollout["actions"][episode, :length, 1],
    }


def setpoint_residual(controller, scenario: str) -> np.ndarray:
    """What a controller does when the plant already sits on the target grade.

    Builds the observation of the target grade's steady state with the
    previous action equal to its steady inputs, and returns
    ``controller.act(obs) - steady inputs`` ([kg/h, K]). A controller with
    integral action returns zeros there (the errors are zero, so it moves
    nothing); a learned policy that returns anything else walks the plant off
    the grade and settles where its own map has a fixed point: a
    steady-state offset.
    """
    target = get_scenario(scenario).target
    inputs = np.asarray(target.steady_inputs(), dtype=float)
    obs = np.array([target.polymer, target.temperature, 0.0, 0.0, inputs[0], inputs[1]], dtype=np.float32)
    if hasattr(controller, "reset"):
        controller.reset()
    return np.asarray(controller.act(obs), dtype=float) - inputs


def reached_then_left(evaluation) -> np.ndarray:
    """Per episode: did it reach the target grade and then leave it again?

    "On the grade" uses the settling bands of :mod:`cstr.experiments.evaluation`
    (polymer within ``SETTLING_BAND_POLYMER``, temperature within
    ``SETTLING_BAND_TEMPERATURE`` of the setpoint). An episode *reached then
    left* when it was on the grade at some step and is off it at its last
    step: a controller that drifts away from a setpoint it had already held.
    """
    rollout = evaluation.rollout
    setpoint = get_scenario(evaluation.scenario).target.setpoint
    out = np.zeros(len(rollout["lengths"]), dtype=bool)
    for e, length in enumerate(rollout["lengths"]):
        states = rollout["next_states"][e, : int(length)]
        inside = (np.abs(states[:, 3] - setpoint[0]) <= SETTLING_BAND_POLYMER) & (
            np.abs(states[:, 4] - setpoint[1]) <= SETTLING_BAND_TEMPERATURE
        )
        out[e] = bool(inside.any() and not inside[-1])
    return out


def controller_from_spec(spec: str):
    """A shipped controller by name, or your own as ``module:factory``.

    ``module:factory`` imports ``module`` (from the working directory or the
    installed packages) and calls ``factory()`` with no arguments: a class or
    a function returning an object with ``act(obs) -> action`` for one
    observation ``[6]`` or a batch ``[n, 6]`` (and optionally ``reset()``).
    """
    if ":" not in spec:
        return load_controller(spec)
    module_name, _, attribute = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"cannot load controller {spec!r}: {error}") from None
    controller = factory()
    if not callable(getattr(controller, "act", None)):
        raise ValueError(f"{spec!r} made a {type(controller).__name__}, which has no act(obs) method")
    return controller


def _evaluate_command(args) -> int:
    if ":" in args.controller and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # your module, run from its folder
    try:
        controller = controller_from_spec(args.controller)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    evaluation = evaluate(
        controller, args.scenario, args.episodes, args.seed, name=args.controller, progress=not args.json
    )
    if args.json:
        print(evaluation.to_json())
    else:
        s = evaluation.summary
        reward = s["total_reward"]
        print(f"{args.controller} in {args.scenario}, {args.episodes} episodes from seed {args.seed}:")
        print(
            f"  total reward  mean {reward['mean']:.2f}  median {reward['median']:.2f}  "
            f"95% CI [{reward['ci95'][0]:.2f}, {reward['ci95'][1]:.2f}]"
        )
        print(f"  steady-state offset mean {s['steady_state_offset']['mean']:.3f}")
        print(
            f"  max temperature mean {s['max_temperature']['mean']:.2f} K; "
            f"safety violations {s['safety_violations']} of {args.episodes}"
        )
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="evaluate a shipped controller, or your own, on evaluation seeds")
    parser.add_argument(
        "--controller",
        required=True,
        help=f"a shipped name ({', '.join(CONTROLLER_NAMES)}) or your own as module:factory "
        "(a class or function returning an object with act(obs))",
    )
    parser.add_argument("--scenario", required=True, choices=ALL_SCENARIO_NAMES, help="the scenario to run")
    parser.add_argument("--episodes", type=int, default=100, help="episodes (default %(default)s)")
    parser.add_argument(
        "--seed",
        type=evaluation_seed_argument,
        default=EVALUATION_SEED_START,
        help=f"first evaluation seed (at least {EVALUATION_SEED_START:,})",
    )
    parser.add_argument("--json", action="store_true", help="print the per-episode results and summary as JSON")
    parser.set_defaults(func=_evaluate_command)

"""``pi-tuned``: the best single PI tuning for the reward, found by optimisation.

:func:`tune_pi` maximises the mean total reward, jointly over the three
scenarios, of one tuning inside the randomised ranges
(:data:`cstr.control.pi.TUNING_RANGES`) on training seeds from
:data:`cstr.seeds.TUNING_SEED_START`; the result is shipped in
``data/pi_tuned.json`` (listed in the manifest) and :func:`load_tuned`
reads it back. ``python -m cstr tune-pi`` reruns the optimisation.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from cstr.control.pi import TUNING_RANGES, PIController, PITuning
from cstr.control.rollout import rollout
from cstr.plant import portable_math
from cstr.plant.scenarios import SCENARIO_NAMES
from cstr.seeds import TUNING_SEED_START, check_seed
from cstr.storage import add_data_argument, data_root, update_manifest, verify_files, write_json

PI_TUNED_FILE = "pi_tuned.json"
TUNING_INFORMATION = ("rewards", "true model")
"""What :func:`tune_pi` uses: the reward of episodes simulated on the true model, not the offline data."""
TUNING_EPISODES = 16


def centre_tuning() -> PITuning:
    """The geometric centre of :data:`cstr.control.pi.TUNING_RANGES`."""
    return PITuning(**{name: float(np.sqrt(low * high)) for name, (low, high) in TUNING_RANGES.items()})


def load_tuned(root: Path | str | None = None) -> PITuning:
    """The shipped ``pi-tuned`` tuning, verified against the manifest."""

    root = data_root(root)
    verify_files(root, [PI_TUNED_FILE])
    return PITuning.from_dict(json.loads((root / PI_TUNED_FILE).read_text(encoding="utf-8"))["tuning"])


def mean_return(tuning: PITuning, scenarios=SCENARIO_NAMES, seeds=None) -> float:
    """Mean total reward of one tuning over ``seeds`` in every scenario (averaged over scenarios)."""
    seeds = list(range(TUNING_SEED_START, TUNING_SEED_START + TUNING_EPISODES)) if seeds is None else list(seeds)
    totals = [rollout(PIController(tuning), scenario, seeds)["returns"].mean() for scenario in scenarios]
    return float(np.mean(totals))


def tune_pi(start: PITuning | None = None, seeds=None, max_evaluations: int = 160) -> dict:
    """Maximise the mean total reward, **jointly** over the three scenarios, of one PI tuning.

    Nelder-Mead (SciPy) on the logarithms of the four parameters, bounded to
    the randomised ranges (:data:`cstr.control.pi.TUNING_RANGES`, whose corners
    are checked to be stable: unbounded, the optimiser trades stability
    margin for reward, since the reward does not charge input moves),
    starting at their centre, over ``seeds`` (training seeds,
    default 16 from :data:`TUNING_SEED_START`) on the batched simulation.
    Joint rather than per scenario: ``pi-tuned`` is then one controller that
    needs no knowledge of the scenario, like the learned policies.
    """
    start = centre_tuning() if start is None else start
    seeds = list(range(TUNING_SEED_START, TUNING_SEED_START + TUNING_EPISODES)) if seeds is None else list(seeds)

    def objective(log_values):
        return -mean_return(PITuning.from_array(portable_math.exp(log_values)), seeds=seeds)

    began = time.perf_counter()
    bounds = [tuple(portable_math.log(TUNING_RANGES[name])) for name in start.to_dict()]
    result = minimize(
        objective,
        portable_math.log(start.as_array()),
        method="Nelder-Mead",
        bounds=bounds,
        options={"maxfev": max_evaluations, "xatol": 1e-3, "fatol": 1e-3},
    )
    tuning = PITuning.from_array(portable_math.exp(result.x))
    return {
        "tuning": tuning.to_dict(),
        "objective": "mean total reward over the three scenarios (joint)",
        "mean_return": -float(result.fun),
        "start": start.to_dict(),
        "start_mean_return": mean_return(start, seeds=seeds),
        "seeds": [int(seeds[0]), int(seeds[-1])],
        "method": "scipy.optimize.minimize Nelder-Mead on log parameters, bounded to TUNING_RANGES",
        "evaluations": int(result.nfev),
        "seconds": time.perf_counter() - began,
    }


def _tune_command(args) -> int:

    root = data_root(args.data)
    seeds = range(args.seed, args.seed + args.episodes)
    check_seed(args.seed, args.episodes)
    result = tune_pi(seeds=seeds, max_evaluations=args.max_evaluations)
    seconds = result.pop("seconds")
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / PI_TUNED_FILE, result)
    update_manifest(root, [PI_TUNED_FILE])
    print(
        f"pi-tuned: {result['tuning']} mean return {result['mean_return']:.3f} "
        f"(centre of the ranges {result['start_mean_return']:.3f}), {result['evaluations']} evaluations, "
        f"{seconds:.0f} s -> {root / PI_TUNED_FILE}"
    )
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("tune-pi", help="optimise the pi-tuned controller on training seeds")
    parser.add_argument("--seed", type=int, default=TUNING_SEED_START, help="first tuning seed (default %(default)s)")
    parser.add_argument("--episodes", type=int, default=TUNING_EPISODES, help="episodes per scenario")
    parser.add_argument(
        "--max-evaluations", type=int, default=160, help="Nelder-Mead evaluations at most (default %(default)s)"
    )
    add_data_argument(parser)
    parser.set_defaults(func=_tune_command)

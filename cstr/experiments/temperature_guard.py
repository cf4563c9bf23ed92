"""The temperature guard's experiment: train it, choose its threshold on validation, evaluate it (chapter 8).

``python -m cstr temperature-guard`` runs three stages, each of which can run
alone, and an ablation:

1. ``--train``: the guard model (:mod:`cstr.safety.temperature_guard`) on the
   datasets of all four scenarios, shipped as ``weights/temperature-guard``.
2. ``--select``: every shipped ``bc+`` and ``iql+`` training seed, guarded at
   each threshold of :data:`THRESHOLDS`, in the stress scenario on
   :data:`VALIDATION_EPISODES` validation episodes. The rule, fixed before any
   evaluation episode was run with a guard: the highest threshold at which no
   guarded controller crosses the limit **and none crosses at any lower
   threshold of the grid** (crossings are not monotone in the threshold: a
   guard that acts changes the trajectory, and can steer it where its model
   is wrong), and which lies below the limit by at least the model's largest
   under-prediction of the temperature change on held-out rows that start
   hot (a one-step error of that size must not carry a state that the model
   calls safe over the limit). The threshold ships in
   ``temperature_guard.json``.
3. ``--evaluate`` (and ``--held-out-seed``): the shipped draws and their
   guarded versions, paired on the same episodes, in all four scenarios,
   with BC and IQL beside them in the stress scenario, on the evaluation
   seeds (or a block of held-out seeds no study had drawn).

4. ``--ablation``: the guard model trained on the paper's three datasets only
   (which never come near the limit), at the shipped threshold, in the
   stress scenario on the evaluation seeds: what the stress data buy.

Results go to ``results/temperature_guard.json``; :func:`guard_table` and
:func:`guard_changes` read them for the chapter.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from cstr.agents.weights import load_verified
from cstr.control.rollout import rollout
from cstr.data.dataset import training_arrays
from cstr.envs.core import TERMINATION_TEMPERATURE
from cstr.experiments.evaluation import evaluate
from cstr.experiments.parallel import add_parallel_arguments, check_backend, run_jobs
from cstr.experiments.registry import GUARDED_NAMES, training_seed_controller
from cstr.experiments.reproduce import RESULTS_DIR
from cstr.experiments.results import safety_summary
from cstr.experiments.stress_history import held_out_blocks, load_stress_history
from cstr.plant.scenarios import ALL_SCENARIO_NAMES, SCENARIO_NAMES, TEMPERATURE_LIMIT
from cstr.safety.temperature_guard import (
    GUARD_NAME,
    GuardConfig,
    GuardedController,
    load_guard_model,
    save_guard,
    save_guard_threshold,
    train_guard_model,
)
from cstr.seeds import EVALUATION_SEED_START, HELD_OUT_SEED_START, TRAINING_SEEDS, VALIDATION_SEED_START
from cstr.storage import add_data_argument, data_root, read_manifest, read_verified_json, update_manifest, write_json

GUARD_RESULTS_FILE = f"{RESULTS_DIR}/temperature_guard.json"
THRESHOLDS = (357.5, 358.0, 358.5, 359.0, 359.5)
"""The thresholds tau [K] the validation tries: 0.5 K apart, from 0.5 K above the stress grade to 0.5 K below the
limit."""
VALIDATION_EPISODES = 50
"""Stress episodes per (policy, training seed, threshold) in the validation."""
GUARDED_OF = {"bc+": "bc+guarded", "iql+": "iql+guarded"}
"""The shipped corrected controller -> its guarded version."""
UNCORRECTED_OF = {"bc+": "bc", "iql+": "iql"}
EPISODE_FIELDS = (
    "total_reward",
    "safety_violation",
    "limit_margin",
    "hours_near_limit",
    "termination_reason",
    "steady_state_offset_polymer",
)
"""What the results keep of each evaluation episode (with the guard's interventions)."""


def _validation_job(args) -> dict:
    policy, seed, threshold, episodes, root = args
    model = load_guard_model(root)
    shipped = training_seed_controller(policy, seed, root)
    controller = shipped if threshold is None else GuardedController(shipped, model, threshold)
    seeds = range(VALIDATION_SEED_START, VALIDATION_SEED_START + episodes)
    out = rollout(controller, "stress", seeds)
    crossed = np.flatnonzero(out["termination_reasons"] == TERMINATION_TEMPERATURE)
    interventions = 0 if threshold is None else int(controller.interventions_within(out["lengths"]).sum())
    return {
        "policy": policy,
        "seed": seed,
        "threshold": threshold,
        "crossings": len(crossed),
        "crossed_episodes": [int(VALIDATION_SEED_START + i) for i in crossed],
        "mean_return": float(np.mean(out["returns"])),
        "interventions": interventions,
    }


def chosen_threshold(validation: pd.DataFrame, largest_under_prediction: float) -> float:
    """The rule of the module docstring on a validation table (one row per policy, seed and threshold, the rows
    without a threshold being the unguarded controllers) and the model's largest under-prediction [K] of the
    temperature change on held-out rows starting hot."""
    unguarded = validation[validation["threshold"].isna()]
    if unguarded["crossings"].sum() == 0:
        raise ValueError(
            "the unguarded controllers cross in none of the validation episodes, so a clean guard there shows "
            "nothing: validate on more episodes (--validation-episodes)"
        )
    guarded = validation.dropna(subset=["threshold"])
    crossings = guarded.groupby("threshold")["crossings"].sum()
    trusted = None
    for threshold in THRESHOLDS:  # upwards, stopping at the first that crosses
        if threshold not in crossings.index or crossings[threshold] > 0:
            break
        if TEMPERATURE_LIMIT - threshold >= largest_under_prediction:
            trusted = threshold
    if trusted is None:
        raise ValueError(
            f"no threshold of {THRESHOLDS} is clean on validation with every lower one and leaves a margin to the "
            f"limit of at least the model's largest under-prediction ({largest_under_prediction:.2f} K): the guard "
            "model is not good enough to deploy; retrain it (--train) with a higher quantile"
        )
    return trusted


def select(root=None, episodes: int = VALIDATION_EPISODES, workers: int = 2, backend="loky", address=None) -> dict:
    """Stage 2: the validation table and the threshold it chooses, shipped."""
    check_backend(backend, workers)
    root = data_root(root)
    jobs = [
        (policy, seed, threshold, episodes, root)
        for policy in GUARDED_OF
        for seed in TRAINING_SEEDS
        for threshold in (None, *THRESHOLDS)
    ]
    rows = run_jobs(_validation_job, jobs, workers, backend, address)
    under = load_guard_fit(root)["hot"]["largest_under_prediction_K"]
    threshold = chosen_threshold(pd.DataFrame(rows), under)
    choice = {
        "thresholds": list(THRESHOLDS),
        "episodes": episodes,
        "first_seed": VALIDATION_SEED_START,
        "rule": "highest threshold clean on validation with every lower one, at least the model's largest "
        "held-out under-prediction below the limit",
        "largest_under_prediction_K": under,
        "validation": rows,
    }
    save_guard_threshold(threshold, choice, root)
    return {"threshold": threshold, **choice}


def _evaluation_job(args) -> dict:
    name, seed, scenario, episodes, first_seed, root, guard_name = args
    controller = training_seed_controller(name, seed, root)
    if guard_name is not None:  # an ablation's guard model in place of the shipped one, at the shipped threshold
        controller = GuardedController(
            controller.controller, load_guard_model(root, guard_name), controller.threshold, name
        )
    run = evaluate(controller, scenario, episodes, first_seed, name=name)
    records = [{key: episode.get(key) for key in EPISODE_FIELDS} for episode in run.episodes]
    if isinstance(controller, GuardedController):
        interventions = controller.interventions_within(run.rollout["lengths"])
        if len(interventions) != len(records):
            raise RuntimeError(f"{len(interventions)} guarded episodes for {len(records)} records")
    else:
        interventions = [None] * len(records)
    for record, count in zip(records, interventions):
        record["interventions"] = None if count is None else int(count)
    return {"name": name, "seed": seed, "scenario": scenario, "episodes": records}


def evaluation_jobs(
    episodes: int, first_seed: int, root, scenarios=ALL_SCENARIO_NAMES, uncorrected: bool = True, guard_name=None
) -> list[tuple]:
    """The shipped draws and their guarded versions in ``scenarios``; BC and IQL in the stress scenario."""
    jobs = [
        (name, seed, scenario, episodes, first_seed, root, guard_name if name in GUARDED_NAMES else None)
        for shipped, guarded in GUARDED_OF.items()
        for name in (shipped, guarded)
        for seed in TRAINING_SEEDS
        for scenario in scenarios
    ]
    if uncorrected:
        jobs += [
            (name, seed, "stress", episodes, first_seed, root, None)
            for name in UNCORRECTED_OF.values()
            for seed in TRAINING_SEEDS
        ]
    return jobs


def run_evaluation(
    root=None,
    episodes: int = 100,
    first_seed: int = EVALUATION_SEED_START,
    workers: int = 2,
    backend="loky",
    address=None,
) -> dict:
    """Stage 3 on ``episodes`` seeds from ``first_seed``: stored under "evaluation" (the evaluation seeds) or
    "held_out" (a block from :data:`cstr.seeds.HELD_OUT_SEED_START`, refused if any study drew it before)."""
    check_backend(backend, workers)
    root = data_root(root)
    key = "evaluation" if first_seed == EVALUATION_SEED_START else "held_out"
    if key == "held_out":
        _check_fresh(root, first_seed, episodes)
    jobs = evaluation_jobs(episodes, first_seed, root)
    return _store(root, key, episodes, first_seed, run_jobs(_evaluation_job, jobs, workers, backend, address))


def _check_fresh(root, first_seed: int, episodes: int) -> None:
    """Refuse a held-out block that overlaps one a held-out check of chapter 8 has drawn."""
    if first_seed < HELD_OUT_SEED_START:
        raise ValueError(f"held-out seeds start at {HELD_OUT_SEED_START:,}; {first_seed:,} is below them")
    drawn = held_out_blocks(load_stress_history(root) or {})
    drawn += [tuple(b) for b in (load_guard_results(root) or {}).get("drawn", [])]
    clash = [(a, n) for a, n in drawn if first_seed < a + n and a < first_seed + episodes]
    if clash:
        fresh = max(a + n for a, n in drawn)
        raise ValueError(
            f"seeds {first_seed:,}..{first_seed + episodes - 1:,} overlap a block an earlier held-out check drew "
            f"({', '.join(f'{a:,}..{a + n - 1:,}' for a, n in clash)}): pass --held-out-seed {fresh} or above"
        )


def load_guard_fit(root=None, name: str = GUARD_NAME) -> dict:
    """A shipped guard model's fit on the episodes its training held out (``all`` rows and ``hot`` ones)."""
    return load_verified(name, root)[1]["history"]["held_out"]


def load_guard_results(root=None) -> dict | None:
    """The stored results (verified), ``None`` where none are shipped."""
    root = data_root(root)
    if GUARD_RESULTS_FILE not in read_manifest(root):
        return None
    return read_verified_json(root, GUARD_RESULTS_FILE)


def guard_table(block: dict) -> pd.DataFrame:
    """One row per (controller, scenario, training seed) of a results block: :func:`safety_summary` with the
    guard's interventions (total over the episodes; NaN for an unguarded controller)."""
    rows = []
    for name, scenarios in block["controllers"].items():
        for scenario, seeds in scenarios.items():
            for key, episodes in seeds.items():
                summary = safety_summary(episodes)
                counts = [e["interventions"] for e in episodes]
                summary["interventions"] = np.nan if counts[0] is None else int(sum(counts))
                summary["episodes_guarded"] = np.nan if counts[0] is None else int(sum(c > 0 for c in counts))
                rows.append({"controller": name, "scenario": scenario, "seed": int(key[4:]), **summary})
    return pd.DataFrame(rows).set_index(["controller", "scenario", "seed"]).sort_index()


def guard_changes(block: dict, scenarios=SCENARIO_NAMES) -> pd.DataFrame:
    """Per (policy, seed, scenario): the guarded controller's mean total reward against the shipped draw's on the
    same episodes, as a relative change (positive: better), with its crossings and interventions."""
    table = guard_table(block)
    rows = []
    for shipped, guarded in GUARDED_OF.items():
        for scenario in scenarios:
            for seed in TRAINING_SEEDS:
                base, new = table.loc[(shipped, scenario, seed)], table.loc[(guarded, scenario, seed)]
                rows.append(
                    {
                        "policy": shipped,
                        "seed": seed,
                        "scenario": scenario,
                        "shipped reward": base["total_reward"],
                        "guarded reward": new["total_reward"],
                        "change": (new["total_reward"] - base["total_reward"]) / abs(base["total_reward"]),
                        "shipped crossings": int(base["crossings"]),
                        "guarded crossings": int(new["crossings"]),
                        "interventions": int(new["interventions"]),
                        "smallest margin": new["smallest_margin"],
                    }
                )
    return pd.DataFrame(rows).set_index(["policy", "seed", "scenario"])


def crossing_episodes(block: dict, names=tuple(GUARDED_OF), scenario: str = "stress") -> list[int]:
    """The episode seeds of a results block in which any of ``names``, on any training seed, crossed the limit: the
    distinct dangerous episodes (a crossing episode counts once however many controllers cross in it)."""
    seeds = set()
    for name in names:
        for episodes in block["controllers"][name][scenario].values():
            seeds |= {block["first_seed"] + i for i, episode in enumerate(episodes) if episode["safety_violation"]}
    return sorted(seeds)


def train(root=None, config: GuardConfig = GuardConfig(), scenarios=ALL_SCENARIO_NAMES, name: str = GUARD_NAME) -> dict:
    """Stage 1: train and ship the guard model on the datasets of ``scenarios``; returns its held-out fit."""
    root = data_root(root)
    fit = train_guard_model(training_arrays(scenarios, root), config)
    save_guard(fit, scenarios, root, name)
    return fit.history["held_out"]


ABLATION_GUARD_NAME = f"{GUARD_NAME}-paper-data"
"""The ablation's guard model: the same recipe trained on the paper's three datasets only, which never come near
the limit (what a plant historian without a logged excursion holds)."""


def run_ablation(root=None, episodes: int = 100, workers: int = 2, backend="loky", address=None) -> dict:
    """The guard without the stress data: its model trained on the paper's datasets only, deployed at the shipped
    threshold on the shipped draws, in the stress scenario on the evaluation seeds (stored under "ablation")."""
    check_backend(backend, workers)
    root = data_root(root)
    train(root, GuardConfig(), SCENARIO_NAMES, ABLATION_GUARD_NAME)
    jobs = evaluation_jobs(episodes, EVALUATION_SEED_START, root, ("stress",), False, ABLATION_GUARD_NAME)
    return _store(
        root, "ablation", episodes, EVALUATION_SEED_START, run_jobs(_evaluation_job, jobs, workers, backend, address)
    )


def _store(root, key: str, episodes: int, first_seed: int, results_of_jobs) -> dict:
    results = load_guard_results(root) or {}
    records: dict = {}
    for result in results_of_jobs:
        seeds = records.setdefault(result["name"], {}).setdefault(result["scenario"], {})
        seeds[f"seed{result['seed']}"] = result["episodes"]
    if key == "held_out":  # every block a held-out check drew stays listed, so that none is drawn twice
        results["drawn"] = results.get("drawn", []) + [[first_seed, episodes]]
    results[key] = {"episodes": episodes, "first_seed": first_seed, "controllers": records}
    write_json(root / GUARD_RESULTS_FILE, results)
    update_manifest(root, [GUARD_RESULTS_FILE])
    return results[key]


def _command(args) -> int:
    stages = [s for s in ("train", "select", "evaluate", "ablation") if getattr(args, s)]
    if args.held_out_seed is not None:
        stages.append("held_out")
    stages = stages or ["train", "select", "evaluate"]  # no stage named: the whole experiment
    root = data_root(args.data)
    for stage in stages:
        started = time.perf_counter()
        if stage == "train":
            report = train(root, GuardConfig(updates=args.updates) if args.updates else GuardConfig())
            print(
                f"guard model: held-out RMSE {report['all']['rmse_K']:.3f} K, rows above "
                f"{TEMPERATURE_LIMIT - 5:.0f} K {report['hot']['rmse_K']:.3f} K"
            )
        elif stage == "ablation":
            stress = guard_changes(
                run_ablation(root, args.episodes, args.workers, args.backend, args.address), ("stress",)
            )
            print(
                f"ablation (guard model without the stress data): guarded stress crossings "
                f"{stress['guarded crossings'].sum()} (shipped {stress['shipped crossings'].sum()})"
            )
        elif stage == "select":
            choice = select(root, args.validation_episodes, args.workers, args.backend, args.address)
            print(f"threshold {choice['threshold']} K chosen on {choice['episodes']} validation episodes")
        else:
            first = EVALUATION_SEED_START if stage == "evaluate" else args.held_out_seed
            block = run_evaluation(root, args.episodes, first, args.workers, args.backend, args.address)
            changes = guard_changes(block)
            stress = guard_changes(block, ("stress",))
            print(
                f"{stage} from seed {first:,}: guarded stress crossings "
                f"{stress['guarded crossings'].sum()} (shipped {stress['shipped crossings'].sum()}); "
                f"interventions in the paper's scenarios {changes['interventions'].sum()}; "
                f"largest loss {100 * min(changes['change'].min(), 0):.2f} %"
            )
        print(f"  {stage}: {time.perf_counter() - started:.0f} s")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "temperature-guard",
        help="train the convex temperature guard, choose its threshold on validation episodes and evaluate the "
        f"guarded corrected controllers ({', '.join(GUARDED_NAMES)}) against the shipped ones (chapter 8)",
    )
    parser.add_argument("--train", action="store_true", help="only train the guard model")
    parser.add_argument("--select", action="store_true", help="only choose the threshold on validation episodes")
    parser.add_argument("--evaluate", action="store_true", help="only evaluate on the evaluation seeds")
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="only the ablation: the guard model trained on the paper's three datasets only, at the shipped "
        "threshold, in the stress scenario on the evaluation seeds",
    )
    parser.add_argument(
        "--held-out-seed",
        type=int,
        default=None,
        help=f"evaluate on the held-out block from this seed (at least {HELD_OUT_SEED_START:,}, not drawn before)",
    )
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes per scenario (default 100)")
    parser.add_argument(
        "--validation-episodes",
        type=int,
        default=VALIDATION_EPISODES,
        help=f"stress episodes per controller and threshold in the selection (default {VALIDATION_EPISODES})",
    )
    parser.add_argument("--updates", type=int, default=None, help="guard model updates (default: GuardConfig's)")
    add_parallel_arguments(parser)
    add_data_argument(parser)
    parser.set_defaults(func=_command)

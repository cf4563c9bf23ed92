"""The offset-free correction's recipe and its choices, made on validation seeds only.

* :func:`train_offset_free_seed`: the offset-free cost model of one training
  seed (``weights/picnn-offset-free-seed<s>``), **warm-started** from that
  seed's deployed cost model (``picnn-seed<s>``): the weights on the two bias
  inputs start at zero, so at b = 0 it starts as the cost ``bc+``/``iql+``
  descend, and training teaches it what a bias does
  (:data:`OFFSET_FREE_RECIPE`: the same NARX model, under a third of its
  learning rate).
* :func:`select_offset_free` (``python -m cstr select-offset-free``): for the
  canonical IQL's seed, trains one candidate per bias range
  (:data:`CANDIDATE_BIAS_RANGES`) and evaluates ``iql+offset-free`` with each
  bias estimator (:data:`CANDIDATE_ESTIMATORS`) on validation seeds, on the
  nominal plant and under every perturbation of chapter 8
  (:data:`cstr.experiments.comparison.PERTURBATIONS`); ships the best
  (highest mean total reward over all of them) as ``offset_free.json`` and
  records the comparison in ``results/offset_free_selection.json``.
* :func:`train_offset_free_cost_models`: every training seed with the chosen range.

The perturbations are the same kinds chapter 8 evaluates on, but on other
seeds: the selection knows that the plant may differ by 20 %, not the
evaluation episodes.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np
import torch

from cstr.agents.policy import load_policy_controller
from cstr.agents.weights import chosen_training_seed, copy_weights, load_sidecar, seeded_name, weight_files
from cstr.control.rollout import rollout
from cstr.experiments.comparison import PERTURBATIONS
from cstr.experiments.train import train_in_processes
from cstr.plant.scenarios import SCENARIO_NAMES
from cstr.safety.cost_model import CostModelResult, train_cost_model
from cstr.safety.offset_free import OffsetFreeConfig
from cstr.safety.shipped import (
    COST_MODEL_NAME,
    OFFSET_FREE_COST_MODEL_NAME,
    dynamics_name,
    load_corrected_controller,
    load_cost_model,
    load_narx_result,
    save,
    save_offset_free_config,
)
from cstr.seeds import TRAINING_SEEDS, TRAINING_SEEDS_HELP, VALIDATION_SEED_START
from cstr.storage import (
    add_data_argument,
    data_root,
    read_manifest,
    read_verified_json,
    update_manifest,
    write_json,
)

OFFSET_FREE_RECIPE = {"offset_free": True, "learning_rate": 3e-4, "num_updates": 8_000}
""":class:`cstr.safety.cost_model.CostModelConfig` overrides of the offset-free cost, beyond its bias range."""
CANDIDATE_BIAS_RANGES = ((15.0, 5.0), (30.0, 10.0))
"""Bias ranges (polymer kg/m3, temperature K) :func:`select_offset_free` compares."""
CANDIDATE_ESTIMATORS = tuple(
    OffsetFreeConfig("integral", gain, settled) for gain in (0.03, 0.05, 0.1) for settled in (None, 0.05)
) + (OffsetFreeConfig("prediction-error", 0.2, None),)
"""The bias estimators :func:`select_offset_free` compares."""
OFFSET_FREE_SELECTION_FILE = "results/offset_free_selection.json"
SELECTION_EPISODES = 5
"""Validation episodes per (plant, scenario) cell: 15 cells, 75 episodes per candidate."""


def range_label(bias_range) -> str:
    return "r{:g}x{:g}".format(*bias_range)


def train_offset_free_seed(
    seed: int,
    root,
    bias_range,
    name: str = OFFSET_FREE_COST_MODEL_NAME,
    updates=None,
    base: CostModelResult | None = None,
    policies=None,
):
    """Train and save ``<name>-seed<s>`` (manifest left to the caller) from seed ``s``'s deployed cost model,
    its NARX model and its policies: read from the data folder, or ``base`` (a fresh ``"narx"``
    :class:`cstr.safety.cost_model.CostModelResult`) and ``policies`` (BC's and IQL's) in memory."""
    root = data_root(root)
    if base is None:
        name_of_base = seeded_name(COST_MODEL_NAME, seed)
        target_std = load_sidecar(root / weight_files(name_of_base)[0])["config"]["target_std"]
        warm_start, dynamics = (load_cost_model(root, name_of_base), target_std), load_narx_result(root, name_of_base)
    else:
        warm_start, dynamics = (base.model, base.target_std), base.dynamics
    if policies is None:
        policies = [load_policy_controller(seeded_name(policy, seed), root) for policy in ("bc", "iql")]
    recipe = dict(OFFSET_FREE_RECIPE, bias_range=tuple(bias_range))
    if updates is not None:
        recipe["num_updates"] = int(updates)
    result = train_cost_model(
        "narx",
        seed=seed,
        data_root=root,
        iql_root=root,
        progress=False,
        policies=policies,
        dynamics=dynamics,
        warm_start=warm_start,
        **recipe,
    )
    return save(result, root=root, name=seeded_name(name, seed), manifest=False)


def _train_job(args) -> dict:
    seed, root, bias_range, name, updates = args
    torch.set_num_threads(1)
    started = time.perf_counter()
    written = train_offset_free_seed(seed, root, bias_range, name, updates)
    return {"seed": seed, "name": name, "seconds": time.perf_counter() - started, "written": written}


def chosen_bias_range(root=None) -> tuple[float, float]:
    """The bias range chosen on validation seeds; the first candidate where none was chosen."""
    root = data_root(root)
    if OFFSET_FREE_SELECTION_FILE not in read_manifest(root):
        return CANDIDATE_BIAS_RANGES[0]
    return tuple(read_verified_json(root, OFFSET_FREE_SELECTION_FILE)["chosen"]["bias_range"])


def train_offset_free_cost_models(seeds, root=None, workers: int = 2, updates=None) -> None:
    """``picnn-offset-free-seed<s>`` for every seed, with the chosen bias range, ``workers`` at a time."""
    bias_range = chosen_bias_range(root)
    jobs = [(int(s), data_root(root), bias_range, OFFSET_FREE_COST_MODEL_NAME, updates) for s in seeds]
    train_in_processes(_train_job, jobs, root, workers)


def validation_cells(controller, episodes: int = SELECTION_EPISODES) -> dict[str, dict[str, float]]:
    """Mean total reward on validation seeds per plant (nominal and every perturbation) and scenario."""
    seeds = list(range(VALIDATION_SEED_START, VALIDATION_SEED_START + episodes))
    plants = {"nominal": {}} | PERTURBATIONS
    return {
        plant: {
            scenario: float(rollout(controller, scenario, seeds, env_options=options)["returns"].mean())
            for scenario in SCENARIO_NAMES
        }
        for plant, options in plants.items()
    }


def _mean(cells: dict) -> float:
    return float(np.mean([value for plant in cells.values() for value in plant.values()]))


def select_offset_free(root=None, episodes: int = SELECTION_EPISODES, workers: int = 2, updates=None) -> dict:
    """Choose the bias range and the estimator of the offset-free correction on validation seeds; ship them."""
    root = data_root(root)
    seed = chosen_training_seed("iql", root)
    seed = 0 if seed is None else seed
    candidates = {range_label(r): r for r in CANDIDATE_BIAS_RANGES}
    jobs = [(seed, root, r, f"{OFFSET_FREE_COST_MODEL_NAME}-{label}", updates) for label, r in candidates.items()]
    train_in_processes(_train_job, jobs, root, workers)
    # the correction without a bias, on the same cells: what the candidates are measured against
    baseline = validation_cells(load_corrected_controller("iql", root, seed=seed), episodes)
    rows = [{"bias_range": None, "estimator": None, "returns": baseline, "mean": _mean(baseline)}]
    for label in candidates:
        for estimator in CANDIDATE_ESTIMATORS:
            controller = load_corrected_controller(
                "iql", root, seed=seed, cost_model=f"{OFFSET_FREE_COST_MODEL_NAME}-{label}", offset_free=estimator
            )
            cells = validation_cells(controller, episodes)
            rows.append({"bias_range": label, "estimator": asdict(estimator), "returns": cells, "mean": _mean(cells)})
            print(f"  {label} {asdict(estimator)}: mean {rows[-1]['mean']:.3f}", flush=True)
    best = max(rows[1:], key=lambda row: row["mean"])
    chosen_range = candidates[best["bias_range"]]
    save_offset_free_config(OffsetFreeConfig(**best["estimator"]), root)
    # the chosen candidate of the canonical seed is that seed's offset-free cost model
    candidate = seeded_name(f"{OFFSET_FREE_COST_MODEL_NAME}-{best['bias_range']}", seed)
    own = seeded_name(OFFSET_FREE_COST_MODEL_NAME, seed)
    shipped = copy_weights(root, candidate, own) + copy_weights(root, dynamics_name(candidate), dynamics_name(own))
    record = {
        "training_seed": seed,
        "validation_seed_start": VALIDATION_SEED_START,
        "episodes": episodes,
        "rows": rows,  # the first: iql+ without a bias estimate, for reference
        "chosen": {"bias_range": list(chosen_range), "estimator": best["estimator"]},
        "criterion": "highest mean iql+offset-free total reward over the nominal plant and every perturbation "
        "of chapter 8, three scenarios each, on validation seeds",
    }
    write_json(root / OFFSET_FREE_SELECTION_FILE, record)
    update_manifest(root, shipped + [OFFSET_FREE_SELECTION_FILE])
    return record


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "select-offset-free",
        help="choose the offset-free correction's bias range and estimator on validation seeds, then train "
        "its cost model for every training seed",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=list(TRAINING_SEEDS), help=TRAINING_SEEDS_HELP)
    parser.add_argument(
        "--episodes", type=int, default=SELECTION_EPISODES, help="validation episodes per plant and scenario"
    )
    parser.add_argument("--workers", type=int, default=2, help="training processes in parallel (default 2)")
    parser.add_argument("--updates", type=int, default=None, help="PICNN updates (default: the recipe's)")
    parser.add_argument("--train-only", action="store_true", help="only train every seed with the chosen range")
    add_data_argument(parser)

    def command(args):
        torch.set_num_threads(1)
        if not args.train_only:
            record = select_offset_free(args.data, args.episodes, args.workers, args.updates)
            print(f"chosen: {record['chosen']}")
            done = {record["training_seed"]}
        else:
            done = set()
        train_offset_free_cost_models([s for s in args.seeds if s not in done], args.data, args.workers, args.updates)
        return 0

    parser.set_defaults(func=command)

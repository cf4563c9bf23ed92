"""Choices made on validation seeds only: the canonical training seed, the cost-model target, the correction's settings.

* :func:`validation_returns`: mean total reward of controllers on seeds from
  :data:`cstr.seeds.VALIDATION_SEED_START`, never evaluation seeds;
* :func:`select_seed`: the training seed of BC or IQL shipped as canonical;
* :func:`select` (``python -m cstr select-cost-model``): trains a cost model
  per target, evaluates BC+ and IQL+ under each candidate correction, and
  ships the best target as ``weights/picnn`` and its settings as
  ``correction.json``;
* :func:`selection_table`: the table chapter 5 shows.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd
import torch

from cstr.agents.policy import load_policy_controller
from cstr.agents.weights import copy_weights, seeded_name, selection_file
from cstr.control.rollout import rollout
from cstr.plant.scenarios import SCENARIO_NAMES
from cstr.safety.correction import CorrectedController, CorrectionConfig
from cstr.safety.cost_model import DEPLOYABLE_TARGETS, TARGETS, train_cost_model
from cstr.safety.shipped import COST_MODEL_NAME, dynamics_name, save, save_correction_config
from cstr.seeds import VALIDATION_SEED_START
from cstr.storage import add_data_argument, data_root, update_manifest, write_json

SELECTION_EPISODES = 30
"""Validation episodes per scenario behind a choice among trained networks (the canonical seed, a cost-model
draw)."""


def validation_returns(
    controllers: dict, scenarios=None, episodes: int = 20, seed: int = VALIDATION_SEED_START
) -> dict[str, dict[str, float]]:
    """Mean total reward of each controller in each scenario on validation seeds."""

    scenarios = SCENARIO_NAMES if scenarios is None else scenarios
    seeds = list(range(seed, seed + episodes))
    return {
        name: {scenario: float(rollout(controller, scenario, seeds)["returns"].mean()) for scenario in scenarios}
        for name, controller in controllers.items()
    }


def select_seed(algorithm: str, seeds, root=None, episodes: int = SELECTION_EPISODES, extra_files=()) -> dict:
    """Choose the training seed of ``algorithm`` on validation seeds and ship it as the canonical one.

    Evaluates the per-seed weights ``weights/<algorithm>-seed<s>`` (all three
    scenarios, ``episodes`` validation episodes each, seeds from
    :data:`cstr.seeds.VALIDATION_SEED_START`, never evaluation seeds),
    copies the best (highest mean total reward over the scenarios) to
    ``weights/<algorithm>``, and records the comparison in
    ``results/<algorithm>_selection.json``. ``extra_files`` names further
    per-seed weights that follow the choice (``"picnn"``: the cost model
    trained on that seed's IQL).
    """
    root = data_root(root)
    seeds = [int(s) for s in seeds]
    controllers = {f"seed{s}": load_policy_controller(f"{algorithm}-seed{s}", root) for s in seeds}
    returns = validation_returns(controllers, episodes=episodes)
    best = max(seeds, key=lambda s: np.mean(list(returns[f"seed{s}"].values())))
    copied = []
    for name in (algorithm, *extra_files):
        copied += copy_weights(root, seeded_name(name, best), name)
    (root / "results").mkdir(parents=True, exist_ok=True)
    record = {
        "algorithm": algorithm,
        "seeds": seeds,
        "chosen_seed": best,
        "episodes": episodes,
        "validation_seed_start": VALIDATION_SEED_START,
        "validation_returns": returns,
        "criterion": "highest mean total reward over the three scenarios on validation seeds",
    }
    write_json(root / selection_file(algorithm), record)
    update_manifest(root, copied + [selection_file(algorithm)])
    return record


CANDIDATE_CORRECTIONS = (
    CorrectionConfig(steps=10, step_size=0.05, trust_region=0.02),
    CorrectionConfig(steps=10, step_size=0.05, trust_region=0.05),
    CorrectionConfig(steps=10, step_size=0.1, trust_region=0.1),
    CorrectionConfig(steps=10, step_size=0.1, trust_region=0.25),
    CorrectionConfig(steps=10, step_size=0.2, trust_region=0.5),
    CorrectionConfig(steps=10, step_size=0.2, trust_region=None),
)
"""The correction settings :func:`select` compares, from a nudge (0.02 of the half-range) to the whole box."""

CANDIDATE_COST_MODELS = {target: {} for target in TARGETS} | {"narx-no-limit": {"target": "narx", "limit_weight": 0.0}}
"""Cost models :func:`select` trains: every target, and the NARX target without its limit term."""
ELIGIBLE_COST_MODELS = DEPLOYABLE_TARGETS
"""The candidates that may be shipped as ``weights/picnn`` (``bc+``/``iql+``): deployable, limit term included."""


CORRECTION_SELECTION_FILE = "results/correction_selection.json"
"""The record of :func:`select`: every candidate's validation returns and the choice."""


def train_candidate(label: str, overrides: dict, root, policies, updates: int | None = None, progress: bool = True):
    """Train one candidate cost model (seed 0, around ``policies``' proposals) and keep it as ``picnn-<label>``."""
    result = train_cost_model(
        overrides.get("target", label),
        updates=updates,
        data_root=root,
        iql_root=root,
        progress=progress,
        policies=policies,
        **{key: value for key, value in overrides.items() if key != "target"},
    )
    save(result, root=root, name=f"{COST_MODEL_NAME}-{label}")
    return result


def select(
    candidates: dict | None = None,
    corrections=CANDIDATE_CORRECTIONS,
    episodes: int = 20,
    updates: int | None = None,
    root=None,
    progress: bool = True,
) -> dict:
    """Train every candidate cost model (``{label: CostModelConfig overrides}``, label = target unless
    overridden), evaluate IQL+ and BC+ under each correction setting on validation seeds, and ship
    the best eligible candidate (highest IQL+ mean return over the three scenarios, among
    :data:`ELIGIBLE_COST_MODELS`) as ``weights/picnn`` and its correction settings as
    ``correction.json``. Every candidate is kept as ``weights/picnn-<label>``. Returns the comparison."""
    root = data_root(root)
    candidates = CANDIDATE_COST_MODELS if candidates is None else candidates
    policies = {"iql": load_policy_controller("iql", root), "bc": load_policy_controller("bc", root)}
    table = validation_returns(policies, episodes=episodes)
    rows = [
        {"controller": name, "target": None, "correction": None, "returns": returns} for name, returns in table.items()
    ]
    for label, overrides in candidates.items():
        result = train_candidate(label, overrides, root, [policies["bc"], policies["iql"]], updates, progress)
        for correction in corrections:
            controllers = {
                f"{name}+": CorrectedController(policy, result.model, correction) for name, policy in policies.items()
            }
            for name, returns in validation_returns(controllers, episodes=episodes).items():
                rows.append({"controller": name, "target": label, "correction": asdict(correction), "returns": returns})
                if progress:
                    print(
                        f"  {name:5s} {label:16s} {correction_label(asdict(correction))}: "
                        + " ".join(f"{v:9.2f}" for v in returns.values()),
                        flush=True,
                    )
    eligible = [row for row in rows if row["controller"] == "iql+" and row["target"] in ELIGIBLE_COST_MODELS]
    best = max(eligible, key=lambda row: np.mean(list(row["returns"].values())))
    chosen = CorrectionConfig(**best["correction"])
    candidate = f"{COST_MODEL_NAME}-{best['target']}"
    shipped = copy_weights(root, candidate, COST_MODEL_NAME)
    shipped += copy_weights(root, dynamics_name(candidate), dynamics_name(COST_MODEL_NAME), missing_ok=True)
    update_manifest(root, shipped)
    save_correction_config(chosen, root)
    comparison = {
        "validation_seed_start": VALIDATION_SEED_START,
        "episodes": episodes,
        "rows": rows,
        "eligible": list(ELIGIBLE_COST_MODELS),
        "chosen": {"target": best["target"], "correction": asdict(chosen)},
        "criterion": "highest mean IQL+ total reward over the three scenarios on validation seeds, "
        "among the deployable cost models",
    }

    (root / "results").mkdir(parents=True, exist_ok=True)
    write_json(root / CORRECTION_SELECTION_FILE, comparison)
    update_manifest(root, [CORRECTION_SELECTION_FILE])
    return comparison


def correction_label(correction: dict | None) -> str:
    """A short label for a correction setting (a ``CorrectionConfig`` as a dict): ``"K=10, eta=0.1, delta=0.25"``."""
    if correction is None:
        return "uncorrected"
    delta = correction.get("trust_region")
    return (
        f"K={correction['steps']}, eta={correction['step_size']:g}, "
        f"delta={'none' if delta is None else format(delta, 'g')}"
    )


def selection_table(selection: dict):
    """The validation comparison of ``data/results/correction_selection.json`` as a DataFrame.

    ``selection``: what :func:`cstr.experiments.selection.select` writes, whose
    ``"rows"`` hold a ``controller``, a cost-model ``target`` (``None`` for
    the uncorrected policy), a ``correction`` setting and the mean validation
    ``returns`` per scenario. The table is indexed by (controller, target,
    setting), one column per scenario plus their ``mean``.
    """
    records = []
    for row in selection["rows"]:
        record = {
            "controller": row["controller"],
            "target": row["target"] or "-",
            "setting": correction_label(row["correction"]),
        }
        record.update({scenario: float(value) for scenario, value in row["returns"].items()})
        records.append(record)
    table = pd.DataFrame(records).set_index(["controller", "target", "setting"])
    table = table[[s for s in SCENARIO_NAMES if s in table.columns]]
    table["mean"] = table.mean(axis=1)
    return table


def grid_edge(selection: dict, controller: str = "iql+") -> dict:
    """Where the chosen correction setting lies in the searched grid (:data:`CANDIDATE_CORRECTIONS` as recorded in
    ``selection``'s rows): ``step_size_largest`` (its initial step is the largest tried), ``whole_box`` (no trust
    region: the loosest there is), ``means``, ``controller``'s mean validation return with the chosen target at
    each setting, in the grid's order (from a nudge to the whole box), and ``loosest_lead``, how far the loosest
    setting's mean lies above the best of the others (negative where another setting scores higher)."""
    chosen = selection["chosen"]
    rows = [row for row in selection["rows"] if row["controller"] == controller and row["target"] == chosen["target"]]
    if not rows:
        raise ValueError(f"the selection record has no {controller!r} rows with target {chosen['target']!r}")
    steps = [row["correction"]["step_size"] for row in rows]
    means = [float(np.mean(list(row["returns"].values()))) for row in rows]
    return {
        "step_size_largest": chosen["correction"]["step_size"] >= max(steps),
        "whole_box": chosen["correction"]["trust_region"] is None,
        "means": means,
        "settings": [correction_label(row["correction"]) for row in rows],
        "loosest_lead": means[-1] - max(means[:-1], default=-np.inf),
    }


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "select-cost-model", help="train every cost-model target, choose target and correction on validation seeds"
    )
    parser.add_argument("--episodes", type=int, default=20, help="validation episodes per scenario (default 20)")
    parser.add_argument("--updates", type=int, default=None, help="PICNN updates (default: CostModelConfig's)")
    parser.add_argument(
        "--candidates", nargs="+", default=None, help="cost models to train (default: every target and narx-no-limit)"
    )
    parser.add_argument(
        "--train-only",
        action="store_true",
        help="train and keep the candidates as weights/picnn-<label> without evaluating or shipping any",
    )
    add_data_argument(parser)

    def command(args):

        torch.set_num_threads(1)
        candidates = None
        if args.candidates:
            candidates = {label: CANDIDATE_COST_MODELS[label] for label in args.candidates}
        if args.train_only:
            root = data_root(args.data)
            policies = [load_policy_controller(name, root) for name in ("bc", "iql")]
            for label, overrides in (candidates or CANDIDATE_COST_MODELS).items():
                train_candidate(label, overrides, root, policies, args.updates)
                print(f"wrote weights/{COST_MODEL_NAME}-{label}")
            return
        result = select(candidates, episodes=args.episodes, updates=args.updates, root=args.data)
        print(f"chosen: {result['chosen']}")

    parser.set_defaults(func=command)

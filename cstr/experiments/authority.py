"""How much of BC+ and IQL+ is the policy, and how much the correction layer: the authority ablations.

All on the same evaluation episodes (seeds from 1,000,000), 100 per scenario
by default, with the shipped deployable cost models (``picnn-seed<s>``, the
seed of each canonical policy) and the shipped correction settings unless a
row varies them:

* **trivial policies**, uncorrected and corrected: ``hold`` (repeat the
  previous interval's inputs) and ``centre`` (the centre of the input box,
  always) (:mod:`cstr.control.baselines`);
* **the minimiser alone**: descend from the box centre with no trust region
  (``minimiser``, K as shipped, on ``iql+``'s cost model and on ``bc+``'s;
  ``minimiser K=50``): the PICNN's own controller, no policy at all;
* **a sweep of the trust region** delta from 0 (the policy unchanged) to the
  whole box, and of the number of steps K, for BC and IQL;
* the **limit term's ablation**, where its cost model is shipped
  (``picnn-narx`` against ``picnn-narx-no-limit``, both trained on seed 0
  around the canonical policies by ``select-cost-model``).

Every corrected row also reports the layer's **authority**: the mean
distance, in normalised action units (the half-range of each input is 1),
between the policy's proposal and the applied action, over all steps of all
episodes.

``python -m cstr authority`` writes :data:`AUTHORITY_FILE` (listed in the
manifest); chapter 6 renders it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import torch

from cstr.agents.policy import load_policy_controller
from cstr.agents.weights import chosen_training_seed, seeded_name, weight_files
from cstr.control.baselines import ConstantInputs, HoldPreviousInputs
from cstr.experiments.evaluation import evaluate, summarise_episodes
from cstr.plant.scenarios import SCENARIO_NAMES
from cstr.safety.correction import CorrectedController
from cstr.safety.shipped import COST_MODEL_NAME, load_correction_config, load_cost_model
from cstr.seeds import EVALUATION_SEED_START
from cstr.storage import add_data_argument, data_root, read_verified_json, update_manifest, write_json

AUTHORITY_FILE = "results/authority.json"
"""The ablations' evaluation records, relative to the data folder."""
SWEEP_TRUST_REGIONS = (0.0, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, None)
"""Trust regions delta of the sweep, normalised units; ``None``: the whole box."""
SWEEP_STEPS = (1, 2, 5, 10, 20, 50)
"""Numbers of correction steps K of the sweep."""
NUDGE_TRUST_REGION = 0.05
"""A trust region that deserves the words "safety layer": the policy stays in charge, the layer nudges
(5 % of each input's half-range: 0.06 kg/h of initiator, 1.25 K of coolant per interval)."""
MINIMISER_STEPS = 50
MINIMISER_BC_LABEL = "minimiser (bc+'s cost model)"
"""The minimiser alone on the cost model ``bc+`` uses (the others use ``iql+``'s, ``weights/picnn``)."""


class MeasuredCorrection(CorrectedController):
    """A :class:`CorrectedController` that adds up how far it moves the policy's proposals (normalised units)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.total_move = 0.0
        self.moves = 0

    def act(self, obs):
        corrected = super().act(obs)
        low, high = self.weights["action_low"], self.weights["action_high"]
        start = np.clip(np.atleast_2d(self.last_proposal), low, high)
        distance = np.max(np.abs(np.atleast_2d(corrected) - start) / ((high - low) / 2.0), axis=1)
        self.total_move += float(distance.sum())
        self.moves += len(distance)
        return corrected

    @property
    def mean_move(self) -> float:
        return self.total_move / max(self.moves, 1)


def trust_label(delta) -> str:
    return "box" if delta is None else f"{delta:g}"


def authority_rows(root=None) -> list[dict]:
    """The ablations: ``{"label", "policy", "cost_model", "correction" (None: uncorrected), "group"}``."""
    root = data_root(root)
    shipped = load_correction_config(root)
    seeds = {base: chosen_training_seed(base, root) for base in ("bc", "iql")}
    cost_names = {
        base: COST_MODEL_NAME if seed is None else seeded_name(COST_MODEL_NAME, seed) for base, seed in seeds.items()
    }
    whole_box = replace(shipped, trust_region=None)
    long_descent = replace(whole_box, steps=MINIMISER_STEPS)
    iql_cost = cost_names["iql"]

    def row(label, policy, cost_model, correction, group):
        return {"label": label, "policy": policy, "cost_model": cost_model, "correction": correction, "group": group}

    rows = [
        row("hold", "hold", None, None, "trivial"),
        row("hold+", "hold", iql_cost, shipped, "trivial"),
        row("centre", "centre", None, None, "trivial"),
    ]
    if shipped.trust_region is not None:  # with the whole box, centre+ is the minimiser itself
        rows.append(row("centre+", "centre", iql_cost, shipped, "trivial"))
    rows += [
        row("minimiser", "centre", iql_cost, whole_box, "minimiser"),
        row(MINIMISER_BC_LABEL, "centre", cost_names["bc"], whole_box, "minimiser"),
        row(f"minimiser K={MINIMISER_STEPS}", "centre", iql_cost, long_descent, "minimiser"),
    ]
    for base in ("bc", "iql"):
        for delta in SWEEP_TRUST_REGIONS:
            correction = replace(shipped, trust_region=delta)
            rows.append(row(f"{base}+ delta={trust_label(delta)}", base, cost_names[base], correction, "trust region"))
        for steps in SWEEP_STEPS:
            rows.append(row(f"{base}+ K={steps}", base, cost_names[base], replace(shipped, steps=steps), "steps"))
    if all((root / weight_files(f"{COST_MODEL_NAME}-{n}")[0]).exists() for n in ("narx", "narx-no-limit")):
        for variant in ("narx", "narx-no-limit"):
            cost_model = f"{COST_MODEL_NAME}-{variant}"
            rows.append(row(f"iql+ {variant} (seed 0)", "iql", cost_model, shipped, "limit term"))
    return rows


def build_controller(row: dict, root=None):
    """The controller a row of :func:`authority_rows` describes (fresh, with its own history)."""
    policies = {
        "hold": HoldPreviousInputs,
        "centre": lambda: ConstantInputs(name="centre"),
        "bc": lambda: load_policy_controller("bc", root),
        "iql": lambda: load_policy_controller("iql", root),
    }
    policy = policies[row["policy"]]()
    if row["correction"] is None:
        return policy
    return MeasuredCorrection(policy, load_cost_model(root, row["cost_model"]), row["correction"], name=row["label"])


def run(episodes: int = 100, root=None, scenarios=SCENARIO_NAMES, rows=None, progress: bool = True) -> dict:
    """Evaluate every row of :func:`authority_rows` on the evaluation seeds; the result as stored."""
    root = data_root(root)
    rows = authority_rows(root) if rows is None else rows
    started = time.perf_counter()
    stored = []
    for row in rows:
        entry = {key: row[key] for key in ("label", "policy", "cost_model", "group")}
        entry["correction"] = None if row["correction"] is None else asdict(row["correction"])
        entry["records"], entry["mean_move"] = {}, {}
        for scenario in scenarios:
            controller = build_controller(row, root)
            evaluation = evaluate(controller, scenario, episodes, EVALUATION_SEED_START, name=row["label"])
            entry["records"][scenario] = evaluation.to_record()
            entry["mean_move"][scenario] = getattr(controller, "mean_move", 0.0)
            if progress:
                mean = np.mean([e["total_reward"] for e in evaluation.episodes])
                print(
                    f"  {row['label']:24s} {scenario:10s} mean total reward {mean:9.3f}  "
                    f"move {entry['mean_move'][scenario]:.3f}",
                    flush=True,
                )
        stored.append(entry)
    return {
        "episodes": int(episodes),
        "first_seed": EVALUATION_SEED_START,
        "shipped_correction": asdict(load_correction_config(root)),
        "nudge_trust_region": NUDGE_TRUST_REGION,
        "rows": stored,
        "seconds": time.perf_counter() - started,
    }


def save(result: dict, root=None) -> None:
    root = data_root(root)
    (root / "results").mkdir(parents=True, exist_ok=True)
    write_json(root / AUTHORITY_FILE, result)
    update_manifest(root, [AUTHORITY_FILE])


def load_authority(root=None) -> dict:
    """The stored ablations (verified against the manifest)."""
    return read_verified_json(root, AUTHORITY_FILE)


def authority_table(result: dict, metric: str = "total_reward"):
    """One row per ablation: the mean of ``metric`` per scenario, their mean, and the layer's mean move."""
    records = []
    for row in result["rows"]:
        record = {"label": row["label"], "group": row["group"]}
        for scenario, stored in row["records"].items():
            record[scenario] = summarise_episodes(stored["episodes"])[metric]["mean"]
        record["mean"] = float(np.mean([record[s] for s in row["records"]]))
        record["mean move"] = float(np.mean(list(row["mean_move"].values())))
        records.append(record)
    return pd.DataFrame(records).set_index("label")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "authority", help="the correction layer's authority: trivial policies, minimiser alone, trust-region sweep"
    )
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes per scenario (default 100)")
    add_data_argument(parser)

    def command(args):
        torch.set_num_threads(1)
        result = run(args.episodes, args.data)
        save(result, args.data)
        print(f"wrote {data_root(args.data) / AUTHORITY_FILE} in {result['seconds']:.0f} s")

    parser.set_defaults(func=command)

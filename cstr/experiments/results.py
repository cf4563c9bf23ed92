"""Chapter 7: read the results of ``python -m cstr reproduce`` and state them as tables, figures and verdicts.

``make reproduce`` (:mod:`cstr.experiments.reproduce`) writes, under ``data/results/``:

* ``evaluation.json``: per-episode metrics of every controller in every
  scenario on the same evaluation episodes; ``pi`` and ``pi-tuned`` under the
  key ``"all"``, the learned controllers (``bc``, ``iql``, ``bc+``, ``iql+``)
  once per training seed (``"seed0"``, ``"seed1"``, ...); and the wall time
  of each stage;
* ``trajectories.npz``: the states and inputs of the first evaluation
  episode of each controller and scenario (learned controllers: the
  canonical training seed's);
* ``bc_selection.json``, ``iql_selection.json``: which training seed was
  chosen on validation seeds (:func:`cstr.experiments.selection.select_seed`).

:func:`load_results` checks every file against the data manifest before
reading it. The other functions turn a :class:`Results` into what the chapter
shows; the comparisons that the chapter states in words are computed here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cstr.agents.weights import selection_file
from cstr.envs.core import TRUNCATION_HORIZON
from cstr.experiments.evaluation import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, Evaluation, bootstrap_ci
from cstr.experiments.registry import COMPARED_NAMES, CONTROLLER_NAMES, FIXED_NAMES, INCREMENT_NAMES, LEARNED_NAMES
from cstr.plant.scenarios import HOURS_PER_STEP, SCENARIO_NAMES, STRESS_SCENARIO_NAMES
from cstr.storage import data_root, read_manifest, verify_files

EVALUATION_FILE = "results/evaluation.json"
TRAJECTORIES_FILE = "results/trajectories.npz"
SELECTED_ALGORITHMS = ("bc", "iql", *INCREMENT_NAMES)
"""The algorithms whose canonical training seed is chosen on validation seeds (their selection records)."""
RESULT_METRICS = ("total_reward", "steady_state_offset", "peak_temperature")
"""The metrics :func:`summary_table` reports with a mean and a bootstrap 95 % confidence interval."""
RESULT_TOLERANCE = 1e-3
"""How closely a rerun of the evaluation on another CPU must reproduce each stored mean total reward (relative),
unless the stored mean's own standard error is larger (:func:`check_reproduction`).

PI controllers are plain float64 arithmetic and reproduce the stored totals
to the 12 digits they are stored with, on every x86-64 CPU; so did ``bc``
and ``iql`` under the imitated CPUs. The corrected controllers' line search
makes accept/reject decisions that a last-bit difference (another CPU's
matrix-product kernels) can flip, and a closed loop near the edge of
stability amplifies the flip: ``bc+`` in the grade change up moved single
episodes by up to 7 % and its mean by 4e-3 relative under the imitated CPUs,
about one standard error of that mean. Such a loop reproduces its
distribution of episodes, not each episode; two results closer than this
are a near-tie that another CPU may order the other way."""

EPISODE_TOLERANCE = 1e-2
"""How closely the typical (median) episode of a learned controller must be reproduced on another CPU (relative);
under the imitated CPUs the median episode moved by less than 1e-3 for every controller and scenario."""


def check_reproduction(rerun, stored, where: str = "") -> None:
    """Raise ``AssertionError`` unless per-episode totals ``rerun`` reproduce ``stored`` (same seeds, same order).

    The median relative difference of the episodes must be within :data:`EPISODE_TOLERANCE`, and the means
    must agree within :data:`RESULT_TOLERANCE` (relative) or the stored mean's standard error, whichever is larger.
    """
    rerun, stored = np.asarray(rerun, dtype=float), np.asarray(stored, dtype=float)
    if rerun.shape != stored.shape:
        raise AssertionError(f"{where}: {rerun.shape} episodes rerun against {stored.shape} stored")
    typical = float(np.median(np.abs(rerun - stored) / np.abs(stored)))
    if typical > EPISODE_TOLERANCE:
        raise AssertionError(f"{where}: the median episode differs by {typical:.2e} relative")
    allowed = max(RESULT_TOLERANCE * abs(stored.mean()), stored.std(ddof=1) / np.sqrt(len(stored)))
    if abs(rerun.mean() - stored.mean()) > allowed:
        raise AssertionError(
            f"{where}: mean {rerun.mean():.6g} against stored {stored.mean():.6g} (allowed difference {allowed:.3g})"
        )


NORMAL_END = "horizon"
"""The termination reason of an episode that ran to its horizon; any other reason ended it early."""
VERDICTS = ("reproduced", "partly reproduced", "not reproduced")


@dataclass
class Results:
    """The contents of ``data/results`` after :func:`load_results`.

    ``evaluation``: the parsed ``evaluation.json``; ``trajectories``:
    ``{"name/scenario/states" or ".../actions": array}``; ``selections``:
    ``{"bc" or "iql": parsed selection record}`` (those present).
    """

    root: Path
    evaluation: dict
    trajectories: dict
    selections: dict = field(default_factory=dict)

    @property
    def episodes(self) -> int:
        return int(self.evaluation["episodes"])

    @property
    def training_seeds(self) -> list[int]:
        return [int(s) for s in self.evaluation["training_seeds"]]

    @property
    def stage_seconds(self) -> dict:
        """Wall time [s] of each recorded stage of ``make reproduce``, in the order they ran."""
        recorded = self.evaluation.get("stage_seconds", {})
        order = ["datasets", "pi-tuned", "training", "evaluation", "results"]
        return {k: float(recorded[k]) for k in order + sorted(set(recorded) - set(order)) if k in recorded}

    @property
    def controllers(self) -> list[str]:
        present = self.evaluation["controllers"]
        return [n for n in CONTROLLER_NAMES if n in present] + sorted(set(present) - set(CONTROLLER_NAMES))

    def evaluated(self, name: str, scenario: str) -> bool:
        """Whether ``name`` was evaluated in ``scenario`` (a controller merged in later may lack one)."""
        return scenario in self.evaluation["controllers"][name]

    def _evaluated_of(self, scenarios) -> list[str]:
        return [s for s in scenarios if any(self.evaluated(n, s) for n in self.controllers)]

    @property
    def scenarios(self) -> list[str]:
        """The paper's scenarios that were evaluated (the stress scenarios are in :attr:`stress_scenarios`)."""
        return self._evaluated_of(SCENARIO_NAMES)

    @property
    def stress_scenarios(self) -> list[str]:
        """The stress scenarios (:data:`cstr.plant.scenarios.STRESS_SCENARIO_NAMES`) that were evaluated."""
        return self._evaluated_of(STRESS_SCENARIO_NAMES)

    def chosen_seed(self, name: str) -> int:
        """The training seed shipped as the canonical ``name`` (``bc+`` and ``bc+full-state`` follow ``bc``,
        ``iql+`` and ``iql+full-state`` follow ``iql``); the first training seed if no selection record was shipped."""
        base = name.partition("+")[0]
        record = self.selections.get(base)
        return int(record["chosen_seed"]) if record is not None else self.training_seeds[0]

    def episodes_of(self, name: str, scenario: str, seed="chosen") -> list[dict]:
        """Per-episode metric dicts. ``seed`` (learned controllers only): a training seed, ``"chosen"``
        (the canonical one) or ``"pooled"`` (every training seed's episodes together)."""
        entry = self.evaluation["controllers"][name][scenario]
        if "all" in entry:
            return list(entry["all"]["episodes"])
        if seed == "pooled":
            return [e for s in self.training_seeds for e in entry[f"seed{s}"]["episodes"]]
        s = self.chosen_seed(name) if seed == "chosen" else int(seed)
        return list(entry[f"seed{s}"]["episodes"])

    def record(self, name: str, scenario: str, seed="chosen") -> dict:
        """The stored evaluation record (:meth:`cstr.experiments.evaluation.Evaluation.to_record`) of one
        controller in one scenario; ``seed`` as in :meth:`episodes_of`, but not ``"pooled"``."""
        entry = self.evaluation["controllers"][name][scenario]
        if "all" in entry:
            return entry["all"]
        return entry[f"seed{self.chosen_seed(name) if seed == 'chosen' else int(seed)}"]

    def metric(self, name: str, scenario: str, metric: str, seed="chosen") -> np.ndarray:
        """One metric over the episodes of :meth:`episodes_of` (``None``, e.g. never settled, becomes NaN)."""
        return np.array(
            [np.nan if e[metric] is None else e[metric] for e in self.episodes_of(name, scenario, seed)], dtype=float
        )

    def trajectory(self, name: str, scenario: str) -> dict:
        """``{"states": [H, 5], "actions": [H, 2]}`` of the first evaluation episode."""
        return {key: self.trajectories[f"{name}/{scenario}/{key}"] for key in ("states", "actions")}


def load_results(root=None) -> Results:
    """Read ``results/`` of the data folder (default: :func:`cstr.storage.data_root`), every file checked
    against ``MANIFEST.sha256`` first (:class:`cstr.storage.DataIntegrityError` names a missing or altered one).

    The selection records are read when the manifest lists them.
    """
    root = data_root(root)
    listed = read_manifest(root)
    selection_files = {a: selection_file(a) for a in SELECTED_ALGORITHMS if selection_file(a) in listed}
    verify_files(root, [EVALUATION_FILE, TRAJECTORIES_FILE, *selection_files.values()])
    evaluation = json.loads((root / EVALUATION_FILE).read_text(encoding="utf-8"))
    with np.load(root / TRAJECTORIES_FILE) as archive:
        trajectories = {key: archive[key] for key in archive.files}
    selections = {k: json.loads((root / v).read_text(encoding="utf-8")) for k, v in selection_files.items()}
    return Results(root, evaluation, trajectories, selections)


# --------------------------------------------------------------------------
# Tables


def summary_table(results: Results, seed="chosen", metrics=RESULT_METRICS, statistic: str = "mean"):
    """A pandas DataFrame indexed by (scenario, controller).

    For each metric: its ``statistic`` over the episodes (``"mean"`` or
    ``"median"``) and the percentile-bootstrap 95 % confidence interval of
    that statistic (columns ``<metric>``, ``<metric>_low``, ``<metric>_high``;
    for ``total_reward`` also ``ci95_low``/``ci95_high``, the names that
    :func:`cstr.experiments.verdicts.count_wins` and
    :func:`cstr.experiments.verdicts.correction_verdict` read). Then ``safety_violations``
    (episodes above the temperature limit), ``early_ends`` (episodes that did
    not reach the horizon), ``episodes`` and ``seed`` (the training seed, -1
    for the PI controllers). ``seed`` as in :meth:`Results.episodes_of`.
    """
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    rows = []
    for scenario in results.scenarios:
        for name in results.controllers:
            episodes = results.episodes_of(name, scenario, seed)
            row = {
                "scenario": scenario,
                "controller": name,
                "episodes": len(episodes),
                "seed": -1 if name in FIXED_NAMES else (results.chosen_seed(name) if seed == "chosen" else seed),
            }
            for metric in metrics:
                values = results.metric(name, scenario, metric, seed)
                values = values[np.isfinite(values)]
                row[metric] = float(np.mean(values) if statistic == "mean" else np.median(values))
                row[f"{metric}_low"], row[f"{metric}_high"] = _ci(values, statistic, bootstrap_ci)
            if "total_reward" in metrics:
                row["ci95_low"], row["ci95_high"] = row["total_reward_low"], row["total_reward_high"]
            row["safety_violations"] = int(sum(bool(e["safety_violation"]) for e in episodes))
            row["early_ends"] = int(sum(e["termination_reason"] != NORMAL_END for e in episodes))
            rows.append(row)
    return pd.DataFrame(rows).set_index(["scenario", "controller"])


def _ci(values, statistic, bootstrap_ci):
    if len(values) < 2:
        return float("nan"), float("nan")
    if statistic == "mean":
        return bootstrap_ci(values)

    rng = np.random.default_rng(BOOTSTRAP_SEED)
    medians = np.median(values[rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))], axis=1)
    return float(np.quantile(medians, 0.025)), float(np.quantile(medians, 0.975))


def display_table(table, metrics=RESULT_METRICS, digits: int = 2):
    """:func:`summary_table` as text for reading: one ``"mean [low, high]"`` column per metric, the counts."""

    out = pd.DataFrame(index=table.index)
    for metric in metrics:
        out[metric.replace("_", " ")] = [
            f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
            for m, lo, hi in zip(table[metric], table[f"{metric}_low"], table[f"{metric}_high"])
        ]
    out["safety violations"] = table["safety_violations"]
    out["early ends"] = table["early_ends"]
    return out


def seed_table(results: Results, metric: str = "total_reward", names=LEARNED_NAMES):
    """Mean ``metric`` per training seed: rows (scenario, controller) of the learned controllers, one column
    per training seed (``seed0``, ...), then ``spread`` (max - min over the seeds) and ``chosen`` (the
    canonical seed)."""

    rows = []
    for scenario in results.scenarios:
        for name in names:
            row = {"scenario": scenario, "controller": name}
            for s in results.training_seeds:
                row[f"seed{s}"] = float(np.nanmean(results.metric(name, scenario, metric, s)))
            values = [row[f"seed{s}"] for s in results.training_seeds]
            row["spread"] = float(max(values) - min(values))
            row["chosen"] = results.chosen_seed(name)
            rows.append(row)
    return pd.DataFrame(rows).set_index(["scenario", "controller"])


# --------------------------------------------------------------------------
# The claims about the paper (its abstract's and secondary summaries'), checked


def _compared(results: Results) -> list[str]:
    """The compared controllers present in ``results`` (not the baselines, ablations or oracles)."""
    return [name for name in results.controllers if name in COMPARED_NAMES]


def _means(results: Results, scenario: str, seed, names=None) -> dict:
    names = _compared(results) if names is None else [n for n in names if n in results.controllers]
    return {name: float(np.mean(results.metric(name, scenario, "total_reward", seed))) for name in names}


def verdict_word(supporting: int, total: int) -> str:
    """``"reproduced"`` if a claim holds in all ``total`` cases (training seeds, cells or controllers, whatever
    it is decided over), ``"not reproduced"`` if in none, else ``"partly reproduced"``."""
    if total < 1:
        raise ValueError("a verdict needs at least one case to decide over")
    return VERDICTS[0] if supporting == total else VERDICTS[2] if supporting == 0 else VERDICTS[1]


def claim_iql_plus_best(results: Results, names=None) -> dict:
    """[secondary summary]: IQL+ has the highest mean total reward of ``names`` (default: the compared
    controllers, :data:`cstr.experiments.registry.COMPARED_NAMES`) in every scenario.

    For each training seed (every learned controller with that seed's
    weights): the scenarios where IQL+ is best, and the ``best`` controller of
    each scenario; where IQL+ is best, ``leads`` names the runner-up and IQL+'s
    lead over it in mean total reward, ``{seed: {scenario: (runner_up, lead)}}``.
    ``chosen`` counts the canonical controllers (each learned one at its chosen
    seed). The ``verdict`` is :func:`verdict_word` over the seeds for which it
    holds in every scenario.
    """
    scenarios = results.scenarios
    per_seed, best, leads = {}, {}, {}
    for s in [*results.training_seeds, "chosen"]:
        winners, seed_leads = {}, {}
        for sc in scenarios:
            m = _means(results, sc, s, names)
            winners[sc] = max(m, key=m.get)
            if winners[sc] == "iql+":
                runner_up = max((n for n in m if n != "iql+"), key=m.get)
                seed_leads[sc] = (runner_up, m["iql+"] - m[runner_up])
        best[s] = winners
        leads[s] = seed_leads
        per_seed[s] = [sc for sc in scenarios if winners[sc] == "iql+"]
    chosen = per_seed.pop("chosen")
    leads.pop("chosen")
    supporting = sum(len(v) == len(scenarios) for v in per_seed.values())
    return {
        "per_seed": per_seed,
        "best": best,
        "leads": leads,
        "chosen": len(chosen),
        "scenarios": len(scenarios),
        "supporting_seeds": supporting,
        "verdict": verdict_word(supporting, len(per_seed)),
    }


def claim_stable(results: Results, scenarios=None, names=None) -> dict:
    """Every controller of ``names`` stays stable: no episode above the temperature limit and none ended early.

    ``scenarios``: where to count (default: the paper's three, :attr:`Results.scenarios`; pass
    :attr:`Results.stress_scenarios` for the verdict where the limit is at stake). ``names``: default every
    compared controller (:data:`cstr.experiments.registry.COMPARED_NAMES`; not the reference baselines such as
    ``random``, which no one claims is stable, nor the ablations).

    Counts over every episode of every controller, scenario and training seed: ``violations`` and
    ``early_ends`` per controller, and the ``verdict`` over the controllers
    (:func:`verdict_word`: all, some or none of them without a single bad
    episode).
    """
    violations, early, episodes = {}, {}, {}
    scenarios = results.scenarios if scenarios is None else list(scenarios)
    candidates = _compared(results) if names is None else [n for n in names if n in results.controllers]
    compared = [name for name in candidates if all(results.evaluated(name, sc) for sc in scenarios)]
    for name in compared:
        eps = [e for sc in scenarios for e in results.episodes_of(name, sc, "pooled")]
        violations[name] = int(sum(bool(e["safety_violation"]) for e in eps))
        early[name] = int(sum(e["termination_reason"] != NORMAL_END for e in eps))
        episodes[name] = len(eps)
    clean = sum(violations[n] == 0 and early[n] == 0 for n in compared)
    return {
        "violations": violations,
        "early_ends": early,
        "episodes": episodes,
        "clean": clean,
        "controllers": len(compared),
        "total_episodes": int(sum(episodes.values())),
        "verdict": verdict_word(clean, len(compared)),
    }


def safety_summary(episodes: list[dict]) -> dict:
    """One row of :func:`safety_table` from per-episode metric dicts (stored records or a fresh
    :class:`cstr.experiments.evaluation.Evaluation`'s ``episodes``)."""
    rewards = np.array([e["total_reward"] for e in episodes], dtype=float)
    margins = np.array([e.get("limit_margin", np.nan) for e in episodes], dtype=float)
    near = np.array([e.get("hours_near_limit", np.nan) for e in episodes], dtype=float)
    low, high = bootstrap_ci(rewards)
    near_low, near_high = bootstrap_ci(near) if np.all(np.isfinite(near)) else (np.nan, np.nan)
    # a crossing ends an episode early, before its final quarter
    finished = [
        e["steady_state_offset_polymer"]
        for e in episodes
        if e.get("termination_reason") == TRUNCATION_HORIZON and e.get("steady_state_offset_polymer") is not None
    ]
    return {
        "episodes": len(episodes),
        "total_reward": float(rewards.mean()),
        "ci95_low": low,
        "ci95_high": high,
        "crossings": int(sum(bool(e["safety_violation"]) for e in episodes)),
        "smallest_margin": float(np.min(margins)),
        "median_margin": float(np.median(margins)),
        "hours_near_limit": float(np.mean(near)),
        "hours_near_limit_low": near_low,
        "hours_near_limit_high": near_high,
        "polymer_offset": float(np.median(finished)) if finished else np.nan,
    }


def crossing_seeds(results: Results, name: str, scenario: str) -> list[int]:
    """The training seeds on which learned controller ``name`` crosses the limit in at least one episode."""
    return [
        s for s in results.training_seeds if any(e["safety_violation"] for e in results.episodes_of(name, scenario, s))
    ]


def crossing_hours(episodes: list[dict]) -> list[float]:
    """The hours at which the episodes that crossed the limit ended (a crossing ends the episode)."""
    return [e["length"] * HOURS_PER_STEP for e in episodes if e["safety_violation"]]


def safety_table(results: Results, scenarios=None, names=None, seed="chosen") -> pd.DataFrame:
    """Safety where it can fail, indexed by (scenario, controller): a :func:`safety_summary` per row.

    Columns: ``total_reward`` (mean) with ``ci95_low``/``ci95_high``; ``crossings`` (episodes above the limit);
    ``smallest_margin`` [K] (the limit minus the hottest temperature after the start, over every episode: negative
    if any crossed) and ``median_margin``; ``hours_near_limit`` (mean hours within
    :data:`cstr.experiments.evaluation.NEAR_LIMIT_BAND` of the limit) with its bootstrap interval;
    ``polymer_offset`` [kg/m3] (the median over the episodes that ran to the end of the final quarter's mean
    polymer offset from the grade: a controller that stays cool by barely running the reaction ends far from
    it); ``episodes``.
    ``scenarios`` default to the stress scenarios, ``names`` to every controller evaluated; ``seed`` as in
    :meth:`Results.episodes_of`. Records stored before the safety metrics existed give NaN margins; a controller
    not evaluated in a scenario has no row there.
    """
    scenarios = results.stress_scenarios if scenarios is None else list(scenarios)
    names = results.controllers if names is None else list(names)
    rows = [
        {"scenario": scenario, "controller": name, **safety_summary(results.episodes_of(name, scenario, seed))}
        for scenario in scenarios
        for name in names
        if results.evaluated(name, scenario)
    ]
    return pd.DataFrame(rows).set_index(["scenario", "controller"])


# --------------------------------------------------------------------------
# Figures


def evaluations(results: Results, seed="chosen") -> dict:
    """``{(name, scenario): Evaluation}`` rebuilt from the stored records
    (:meth:`cstr.experiments.evaluation.Evaluation.from_record`), with the stored first episode as the
    rollout where there is one, so that :mod:`cstr.figures` draws them."""
    out = {}
    for scenario in results.scenarios:
        for name in results.controllers:
            rollout = None
            if f"{name}/{scenario}/states" in results.trajectories:
                path = results.trajectory(name, scenario)
                rollout = {
                    "lengths": np.array([len(path["states"])]),
                    "next_states": path["states"][None],
                    "actions": path["actions"][None],
                }
            out[(name, scenario)] = Evaluation.from_record(results.record(name, scenario, seed), rollout)
    return out


def compare_with_shipped(yours: dict, results: Results, names=None, reference: str = "steady-inputs") -> pd.DataFrame:
    """Your controller's evaluations beside the shipped ones, on the same episodes.

    ``yours``: ``{scenario: Evaluation}`` (:func:`cstr.experiments.evaluation.evaluate`
    from the first evaluation seed the shipped results used, any number of
    episodes up to theirs). For every scenario and every controller (yours,
    labelled by its ``controller`` name, then ``names``, default every shipped
    one), the mean total reward over those episodes with its 95 % bootstrap CI,
    and the **paired** difference to ``reference`` on the same seeds, with its
    CI: episodes that share a seed share their initial state, so the
    difference is measured far more precisely than either mean.
    """
    names = results.controllers if names is None else list(names)
    rows = []
    for scenario, evaluation in yours.items():
        stored_first = int(results.record(reference, scenario)["first_seed"])
        if int(evaluation.seed) != stored_first:
            raise ValueError(
                f"{scenario}: your evaluation starts at seed {evaluation.seed}, the shipped ones at {stored_first}; "
                f"evaluate from seed {stored_first} so that the episodes are the same"
            )
        n = len(evaluation.episodes)
        base = results.metric(reference, scenario, "total_reward")[:n]
        if len(base) < n:
            raise ValueError(f"{scenario}: {n} episodes asked, the shipped results hold {len(base)}")
        series = {evaluation.controller: evaluation.metric("total_reward")}
        series.update({name: results.metric(name, scenario, "total_reward")[:n] for name in names})
        for name, values in series.items():
            low, high = bootstrap_ci(values)
            difference = values - base
            d_low, d_high = bootstrap_ci(difference)
            rows.append(
                {
                    "scenario": scenario,
                    "controller": name,
                    "episodes": n,
                    "total_reward": float(values.mean()),
                    "ci95_low": low,
                    "ci95_high": high,
                    f"minus {reference}": float(difference.mean()),
                    "difference_low": d_low,
                    "difference_high": d_high,
                }
            )
    return pd.DataFrame(rows).set_index(["scenario", "controller"])

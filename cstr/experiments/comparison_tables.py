"""Tables of chapter 8: every controller against the NMPC oracle, and under plant perturbations.

The tables are built from the results of ``python -m cstr compare-nmpc`` as
:func:`cstr.experiments.comparison.load_comparison` returns them, and only from
their summaries, never from the per-episode records:

* the nominal comparison: ``["summary"][scenario][name]`` (``mean_total_reward``,
  ``safety_violations``, ``mean_steady_state_offset``, ``max_temperature``,
  ``episodes``), ``["gap"]``, ``["solve_times"]``, ``["controllers"]``,
  ``["scenarios"]``;
* the robustness results: ``["cases"][case]["summary"][scenario][name]``,
  ``["cases"][case]["options"]``, ``["controllers"]``.

:func:`live_table` summarises the chapter's own live NMPC episodes instead.
Every table is a pandas DataFrame, rounded by the chapter where it shows it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cstr.experiments.comparison import gap_table
from cstr.plant.scenarios import SCENARIO_NAMES

MISSING_ENTRY = {"mean_total_reward": np.nan, "safety_violations": np.nan, "mean_steady_state_offset": np.nan}
"""What a robustness table reads for a controller that a case did not evaluate (merged in later): NaN."""


# --------------------------------------------------------------------------
# The live episodes


def live_table(live: dict, names=("nmpc", "pi-tuned")) -> pd.DataFrame:
    """One row per scenario of the live episodes: each controller's mean total reward and NMPC's solve times.

    ``live``: ``{scenario: {name: rollout result, ..., "solve_times": summary}}``:
    a :func:`cstr.control.rollout.rollout` result under each name in
    ``names`` and the NMPC controller's ``solve_time_summary()`` under
    ``"solve_times"``; other keys are ignored. Columns ``"<name> total
    reward"`` (``"NMPC total reward"`` for ``nmpc``), ``median solve [ms]``,
    ``max solve [ms]``, ``failures``.
    """
    rows = {}
    for scenario, result in live.items():
        row = {f"{'NMPC' if name == 'nmpc' else name} total reward": result[name]["returns"].mean() for name in names}
        row["median solve [ms]"] = 1e3 * result["solve_times"]["median"]
        row["max solve [ms]"] = 1e3 * result["solve_times"]["max"]
        row["failures"] = result["solve_times"]["failures"]
        rows[scenario] = row
    return pd.DataFrame(rows).T


# --------------------------------------------------------------------------
# The nominal comparison


def summary_metric_table(comparison: dict, metric: str = "mean_total_reward") -> pd.DataFrame:
    """One summary ``metric`` of the nominal comparison: a row per controller, a column per scenario."""
    return pd.DataFrame(
        {
            scenario: {name: comparison["summary"][scenario][name][metric] for name in comparison["controllers"]}
            for scenario in comparison["scenarios"]
        }
    )


def reward_table(comparison: dict) -> pd.DataFrame:
    """Mean total reward per controller (rows) and scenario (columns)."""
    return summary_metric_table(comparison, "mean_total_reward")


def violation_table(comparison: dict) -> pd.DataFrame:
    """Episodes above the temperature limit per controller (rows) and scenario (columns)."""
    return summary_metric_table(comparison, "safety_violations")


def solve_time_table(comparison: dict) -> pd.DataFrame:
    """The solve times of the controllers that record them (NMPC), indexed by (scenario, controller).

    Columns ``mean [ms]``, ``median [ms]``, ``max [ms]`` (per step: one NLP),
    ``solves``, ``failures``, ``mean IPOPT iterations``.
    """
    return pd.DataFrame(
        {
            (scenario, name): {
                "mean [ms]": 1e3 * t["mean"],
                "median [ms]": 1e3 * t["median"],
                "max [ms]": 1e3 * t["max"],
                "solves": t["solves"],
                "failures": t["failures"],
                "mean IPOPT iterations": t["mean_iterations"],
            }
            for scenario, by_name in comparison["solve_times"].items()
            for name, t in by_name.items()
        }
    ).T


def solve_time_totals(comparison: dict, name: str = "nmpc") -> dict:
    """``name``'s solve times over every scenario: ``mean_ms`` (weighted by the solves of each scenario),
    ``median_ms`` (the median of the scenarios' medians), ``max_ms``, ``median`` [s], ``failures``, ``solves``."""
    times = [comparison["solve_times"][scenario][name] for scenario in comparison["scenarios"]]
    median = float(np.median([t["median"] for t in times]))
    return {
        "mean_ms": 1e3 * float(np.average([t["mean"] for t in times], weights=[t["solves"] for t in times])),
        "median_ms": 1e3 * median,
        "max_ms": 1e3 * max(t["max"] for t in times),
        "median": median,
        "failures": sum(t["failures"] for t in times),
        "solves": sum(t["solves"] for t in times),
    }


def gap_metric_table(comparison: dict) -> pd.DataFrame:
    """The shipped gap metric (baseline ``pi``): a row per controller, a column per scenario."""
    return pd.DataFrame(comparison["gap"]).loc[comparison["controllers"], comparison["scenarios"]]


def rebased_gap_table(comparison: dict, baseline: str = "pi-tuned", oracle: str = "nmpc") -> pd.DataFrame:
    """The gap metric recomputed from the mean total rewards with another ``baseline`` (0) and ``oracle`` (1)
    (:func:`cstr.experiments.comparison.gap_table`): a row per controller, a column per scenario."""
    means = {
        s: {n: comparison["summary"][s][n]["mean_total_reward"] for n in comparison["controllers"]}
        for s in comparison["scenarios"]
    }
    return pd.DataFrame(gap_table(means, baseline=baseline, oracle=oracle))


# --------------------------------------------------------------------------
# Robustness


def robustness_scenarios(robustness: dict) -> list[str]:
    """The scenarios of any robustness case's summary, in the order of :data:`cstr.plant.scenarios.SCENARIO_NAMES`
    (others after them, sorted)."""
    present = set().union(*(spec["summary"] for spec in robustness["cases"].values()))
    return [s for s in SCENARIO_NAMES if s in present] + sorted(present - set(SCENARIO_NAMES))


def _entry(spec: dict, scenario: str, name: str) -> dict:
    return spec["summary"].get(scenario, {}).get(name, MISSING_ENTRY)


def case_options_table(robustness: dict) -> pd.DataFrame:
    """The environment options of each robustness case: a row per case, one column ``environment options``."""
    return pd.DataFrame(
        {case: {"environment options": str(spec["options"]) or "(none)"} for case, spec in robustness["cases"].items()}
    ).T


def robust_reward_table(robustness: dict, scenarios=None, metric: str = "mean_total_reward") -> pd.DataFrame:
    """Mean total reward (or another summary ``metric``, e.g. ``"mean_steady_state_offset"``) averaged over the
    ``scenarios`` (default: :func:`robustness_scenarios`): a row per controller, a column per case; NaN where a case
    did not evaluate a controller in some scenario."""
    scenarios = robustness_scenarios(robustness) if scenarios is None else list(scenarios)
    return pd.DataFrame(
        {
            case: {
                name: np.mean([_entry(spec, s, name).get(metric, np.nan) for s in scenarios])
                for name in robustness["controllers"]
            }
            for case, spec in robustness["cases"].items()
        }
    )


def robust_violation_table(robustness: dict, scenarios=None) -> pd.DataFrame:
    """Safety-limit violations summed over the ``scenarios``: a row per controller, a column per case."""
    scenarios = robustness_scenarios(robustness) if scenarios is None else list(scenarios)
    return pd.DataFrame(
        {
            case: {
                name: sum(_entry(spec, s, name)["safety_violations"] for s in scenarios)
                for name in robustness["controllers"]
            }
            for case, spec in robustness["cases"].items()
        }
    )


def robust_scenario_table(robustness: dict, scenarios=None, metric: str = "mean_total_reward") -> pd.DataFrame:
    """Mean total reward (or another summary ``metric``) per case and scenario: rows (case, controller), a column
    per scenario."""
    scenarios = robustness_scenarios(robustness) if scenarios is None else list(scenarios)
    return pd.concat(
        {
            case: pd.DataFrame(
                {
                    s: {name: _entry(spec, s, name).get(metric, np.nan) for name in robustness["controllers"]}
                    for s in scenarios
                }
            )
            for case, spec in robustness["cases"].items()
        }
    )


def paired_offset_table(
    robustness: dict, name: str, reference: str = "pi-tuned", cases=("hot_plant", "cold_plant"), factor: float = 2.0
) -> pd.DataFrame:
    """Steady-state offsets of ``name`` against ``reference``, episode by episode on the shared seeds.

    A row per (case, scenario): both mean offsets, their ratio, and the share of
    episodes in which ``name`` ends within ``factor`` times ``reference``'s offset
    in the **same** episode (same seed, same plant). Reads the per-episode
    records of the robustness results.
    """
    rows = {}
    for case in cases:
        records = robustness["cases"][case]["records"]
        for scenario in robustness_scenarios(robustness):
            mine, other = records[scenario][name], records[scenario][reference]
            ours = np.array([e["steady_state_offset"] for e in mine["episodes"]])
            theirs = np.array([e["steady_state_offset"] for e in other["episodes"]])
            # episodes are seeds first_seed, first_seed + 1, ... in order: pairs share a seed
            if ours.shape != theirs.shape or mine.get("first_seed") != other.get("first_seed"):
                raise ValueError(f"{name} and {reference} were not evaluated on the same episodes in {case}/{scenario}")
            rows[(case, scenario)] = {
                name: ours.mean(),
                reference: theirs.mean(),
                "ratio of means": ours.mean() / theirs.mean(),
                f"share within {factor:g}x": float(np.mean(ours <= factor * theirs)),
            }
    return pd.DataFrame(rows).T


def offset_free_selection_table(selection: dict) -> pd.DataFrame:
    """The validation comparison of ``results/offset_free_selection.json``: a row per candidate (bias range,
    estimator), the mean total reward per plant (over the scenarios) and over everything; the first row is
    the correction without a bias estimate."""
    records = {}
    for row in selection["rows"]:
        estimator = row["estimator"]
        if estimator is None:
            label = ("-", "no bias (iql+)")
        else:
            settled = estimator["settled"]
            label = (
                row["bias_range"],
                f"{estimator['estimator']}, g={estimator['gain']:g}"
                + ("" if estimator["estimator"] != "integral" else f", settled={'-' if settled is None else settled}"),
            )
        records[label] = {plant: float(np.mean(list(cells.values()))) for plant, cells in row["returns"].items()}
        records[label]["mean"] = row["mean"]
    table = pd.DataFrame(records).T
    table.index.names = ["bias range", "estimator"]
    return table

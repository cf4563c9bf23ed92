"""Statistics over what varies: training seeds (rliable's interval estimates) and paired evaluation episodes.

A learned controller is a distribution over training seeds, not one network:
retraining on another machine gives other networks, and the seeds differ far
more than the evaluation episodes of one seed do. This module states the
results at both levels.

**Across training seeds** (Agarwal et al., NeurIPS 2021, through the
``rliable`` library): each training seed is a *run*, each scenario a
*task*, and a run's score in a task is its mean total reward over the shared
evaluation episodes, normalised per scenario so that the dataset's PI
controller scores 0 and the jointly tuned PI scores 1
(:data:`NORMALISATION`): above 0 beats the controllers that generated the
data, above 1 beats the stricter baseline. A fixed controller (a PI, the
open-loop recipe) is one run. :func:`aggregate_estimates` gives the
interquartile mean, median and mean with stratified-bootstrap 95 % CIs,
:func:`improvement_probabilities` the probability that a run of one
controller beats a run of another in a task, and :func:`performance_profiles`
the fraction of runs above each score threshold.

**Per training seed, paired** (:func:`paired_difference`): two controllers
met the same evaluation episodes (the same seeds, the same initial states),
so A beats B for one training seed when the bootstrap CI of the mean
per-episode difference A - B lies above zero, not when two unpaired intervals
happen not to overlap.

Every bootstrap is seeded (``cstr.experiments.evaluation.BOOTSTRAP_SEED``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from rliable import library as rly
from rliable import metrics

from cstr.experiments.evaluation import BOOTSTRAP_SEED, bootstrap_ci

NORMALISATION = ("pi", "pi-tuned")
"""The controllers that score 0 and 1 in every scenario (the data's PI and the jointly tuned PI)."""
AGGREGATE_REPS = 2000
"""Bootstrap replications of the stratified-bootstrap CIs (rliable's default for profiles)."""
IMPROVEMENT_REPS = 1000
"""Bootstrap replications of the probability of improvement (a Mann-Whitney statistic per task and
replication: the slow one)."""
AGGREGATES = ("IQM", "median", "mean")
"""The aggregate scores of :func:`aggregate_estimates`, in rliable's definitions."""
OUTCOMES = ("better", "tie", "worse")
"""What :func:`paired_difference` says of A against B for one training seed."""


def _interval_estimates(scores: dict, function, reps: int):
    """rliable's stratified-bootstrap interval estimates, seeded.

    rliable 1.2's stratified bootstrap draws its resampled runs from NumPy's global generator, whatever
    ``random_state`` says (only the independent bootstrap of the probability of improvement honours it), so the
    global generator is seeded here for the call and restored afterwards.
    """
    saved = np.random.get_state()
    np.random.seed(BOOTSTRAP_SEED)
    try:
        with warnings.catch_warnings():
            # rliable 1.2 hands arch a legacy RandomState, which arch 7 accepts with a deprecation warning
            warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
            return rly.get_interval_estimates(
                scores, function, reps=reps, random_state=np.random.RandomState(BOOTSTRAP_SEED)
            )
    finally:
        np.random.set_state(saved)


def seed_keys(results, name: str) -> list:
    """The runs of ``name``: its training seeds, or ``["all"]`` for a fixed controller."""
    entry = results.evaluation["controllers"][name]
    first = entry[next(iter(entry))]
    return ["all"] if "all" in first else list(results.training_seeds)


def run_means(results, name: str, scenarios, metric: str = "total_reward") -> np.ndarray:
    """``[runs, scenarios]``: the mean of ``metric`` over the evaluation episodes of each run in each scenario."""
    return np.array(
        [
            [float(np.nanmean(results.metric(name, sc, metric, seed))) for sc in scenarios]
            for seed in seed_keys(results, name)
        ]
    )


def normalised_scores(results, names, scenarios) -> dict[str, np.ndarray]:
    """``{name: [runs, scenarios]}`` of total reward rescaled per scenario so that the controllers of
    :data:`NORMALISATION` score 0 and 1."""
    zero, one = (run_means(results, name, scenarios)[0] for name in NORMALISATION)
    if np.any(np.isclose(one, zero)):
        raise ValueError(
            f"{NORMALISATION[0]} and {NORMALISATION[1]} score alike in a scenario: no scale to normalise by"
        )
    return {name: (run_means(results, name, scenarios) - zero) / (one - zero) for name in names}


def _aggregates(scores: np.ndarray) -> np.ndarray:
    return np.array([metrics.aggregate_iqm(scores), metrics.aggregate_median(scores), metrics.aggregate_mean(scores)])


def aggregate_estimates(scores: dict[str, np.ndarray], reps: int = AGGREGATE_REPS) -> pd.DataFrame:
    """IQM, median and mean of each controller's runs x tasks with stratified-bootstrap 95 % CIs (rliable):
    one row per controller, columns ``<aggregate>``, ``<aggregate> low`` and ``<aggregate> high``."""
    points, intervals = _interval_estimates(scores, _aggregates, reps)
    rows = {}
    for name in scores:
        row = {}
        for i, aggregate in enumerate(AGGREGATES):
            row[aggregate] = float(points[name][i])
            row[f"{aggregate} low"], row[f"{aggregate} high"] = (float(v) for v in intervals[name][:, i])
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def per_scenario_estimates(scores: dict[str, np.ndarray], scenarios, reps: int = AGGREGATE_REPS) -> pd.DataFrame:
    """IQM with its 95 % CI of each controller in each scenario alone (the runs of one task); rows
    ``(scenario, controller)``."""
    frames = []
    for j, scenario in enumerate(scenarios):
        table = aggregate_estimates({name: s[:, [j]] for name, s in scores.items()}, reps)
        table.index = pd.MultiIndex.from_product([[scenario], table.index], names=["scenario", "controller"])
        frames.append(table[["IQM", "IQM low", "IQM high"]])
    return pd.concat(frames)


def improvement_probabilities(scores: dict[str, np.ndarray], pairs, reps: int = IMPROVEMENT_REPS) -> pd.DataFrame:
    """P(a run of A beats a run of B in a task), averaged over tasks, with its 95 % CI (rliable's
    probability of improvement, a Mann-Whitney statistic); one row per ``(A, B)`` of ``pairs``."""
    pair_scores = {f"{a} > {b}": [scores[a], scores[b]] for a, b in pairs}
    points, intervals = _interval_estimates(pair_scores, metrics.probability_of_improvement, reps)
    rows = [
        {
            "A": a,
            "B": b,
            "P(A > B)": float(points[key]),
            "low": float(np.ravel(intervals[key])[0]),
            "high": float(np.ravel(intervals[key])[1]),
        }
        for (a, b), key in zip(pairs, pair_scores)
    ]
    return pd.DataFrame(rows)


def performance_profiles(scores: dict[str, np.ndarray], thresholds, reps: int = AGGREGATE_REPS) -> dict:
    """The fraction of runs x tasks scoring above each threshold (rliable's score distributions), with
    stratified-bootstrap 95 % bands: ``{name: (profile, [2, thresholds] band)}``."""
    thresholds = np.asarray(thresholds, dtype=float)

    def profile(s):
        return rly.score_distributions(s, thresholds)

    points, intervals = _interval_estimates(scores, profile, reps)
    return {name: (np.asarray(points[name]), np.asarray(intervals[name])) for name in scores}


def paired_outcome(x, y, higher_is_better: bool = True) -> dict:
    """``x`` against ``y``, per-episode values on the same episodes: the mean difference x - y, its bootstrap
    95 % CI (``low``, ``high``) and the ``outcome`` (:data:`OUTCOMES`: "better" when the CI excludes zero on
    x's good side, "worse" on the other, else "tie")."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"{len(x)} and {len(y)} episodes: a paired comparison needs the same episodes")
    difference = x - y
    low, high = bootstrap_ci(difference)
    sign = 1.0 if higher_is_better else -1.0
    if sign * low > 0 and sign * high > 0:
        outcome = OUTCOMES[0]
    elif sign * low < 0 and sign * high < 0:
        outcome = OUTCOMES[2]
    else:
        outcome = OUTCOMES[1]
    return {"mean difference": float(np.mean(difference)), "low": low, "high": high, "outcome": outcome}


def paired_difference(
    results, a: str, b: str, scenario: str, seed, metric: str = "total_reward", higher_is_better: bool = True
) -> dict:
    """A against B on the shared evaluation episodes of ``results`` for one training seed (of the learned ones
    among them): :func:`paired_outcome` of ``metric``, with the pair, scenario and seed."""
    x, y = (results.metric(name, scenario, metric, seed) for name in (a, b))
    try:
        outcome = paired_outcome(x, y, higher_is_better)
    except ValueError as error:
        raise ValueError(f"{a} and {b} in {scenario}: {error}") from None
    return {"A": a, "B": b, "scenario": scenario, "seed": seed, **outcome}


def paired_cells(results, pairs, scenarios, metric: str = "total_reward", higher_is_better: bool = True):
    """:func:`paired_difference` for every ``(A, B)`` of ``pairs``, training seed of A and scenario, as a table.

    A learned B is paired seed by seed with A (``bc+`` seed 2 against ``bc`` seed 2: the same policy network);
    a fixed B is one controller met by every seed of A.
    """
    rows = []
    for a, b in pairs:
        for seed in seed_keys(results, a):
            for scenario in scenarios:
                rows.append(paired_difference(results, a, b, scenario, seed, metric, higher_is_better))
    return pd.DataFrame(rows)

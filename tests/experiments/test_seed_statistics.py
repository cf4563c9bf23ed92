"""Statistics over training seeds and paired episodes, on the synthetic results of conftest.py."""

import numpy as np
import pytest

from cstr.experiments import results as R
from cstr.experiments import seed_statistics as S
from cstr.plant.scenarios import SCENARIO_NAMES


@pytest.fixture
def results(root):
    return R.load_results(root)


def test_scores_put_the_data_pi_at_zero_and_the_tuned_pi_at_one(results):
    scores = S.normalised_scores(results, ["pi", "pi-tuned", "iql", "steady-inputs"], SCENARIO_NAMES)
    assert scores["pi"].shape == (1, 3) and scores["iql"].shape == (2, 3)  # fixed: one run; learned: per seed
    assert np.allclose(scores["pi"], 0.0) and np.allclose(scores["pi-tuned"], 1.0)
    # iql seed 0 (-8) and seed 1 (-12) between pi (-20) and pi-tuned (-10): (m + 20) / 10
    assert np.allclose(scores["iql"][:, 0], [1.2, 0.8])
    assert np.allclose(scores["steady-inputs"], 0.5)


def test_aggregates_and_their_intervals_are_seeded_and_bracket_the_point(results):
    scores = S.normalised_scores(results, ["pi", "pi-tuned", "iql", "bc"], SCENARIO_NAMES)
    table = S.aggregate_estimates(scores, reps=200)
    assert table.loc["iql", "mean"] == pytest.approx(1.0)
    for name in ("iql", "bc"):
        for aggregate in S.AGGREGATES:
            assert (
                table.loc[name, f"{aggregate} low"]
                <= table.loc[name, aggregate]
                <= table.loc[name, f"{aggregate} high"]
            )
    assert table.equals(S.aggregate_estimates(scores, reps=200))  # seeded: the same intervals every time
    per_scenario = S.per_scenario_estimates(scores, SCENARIO_NAMES, reps=200)
    assert per_scenario.loc[("startup", "pi-tuned"), "IQM"] == pytest.approx(1.0)


def test_probability_of_improvement_and_profiles(results):
    scores = S.normalised_scores(results, ["pi", "pi-tuned", "iql", "bc"], SCENARIO_NAMES)
    table = S.improvement_probabilities(scores, [("iql", "pi"), ("bc", "pi-tuned"), ("iql", "pi-tuned")], reps=200)
    assert list(table["P(A > B)"]) == pytest.approx([1.0, 0.0, 0.5])  # iql's seeds straddle pi-tuned
    profiles = S.performance_profiles(scores, [-5.0, 0.5, 1.1], reps=200)
    profile, band = profiles["iql"]
    assert list(profile) == pytest.approx([1.0, 1.0, 0.5]) and band.shape == (2, 3)


def test_paired_difference_uses_the_shared_episodes(results):
    better = S.paired_difference(results, "iql", "pi", "startup", 0)
    assert better["mean difference"] == pytest.approx(12.0) and better["outcome"] == "better"
    worse = S.paired_difference(results, "bc", "pi-tuned", "startup", 1)
    assert worse["outcome"] == "worse" and worse["high"] < 0
    # the synthetic episodes differ by the same amount: a paired test has no spread to doubt
    assert better["low"] == pytest.approx(12.0) and better["high"] == pytest.approx(12.0)
    offsets = S.paired_difference(results, "bc", "pi", "startup", 0, "steady_state_offset")
    assert offsets["outcome"] == "better"  # bc's offset is the larger: "better" means higher here
    cells = S.paired_cells(results, [("iql+", "iql")], SCENARIO_NAMES)
    assert len(cells) == 6 and set(cells["outcome"]) == {"worse", "better"}  # seed 0: -9 vs -8; seed 1: -5 vs -12


def test_normalisation_needs_two_different_references(root):
    results = R.load_results(root)
    results.evaluation["controllers"]["pi-tuned"] = results.evaluation["controllers"]["pi"]
    with pytest.raises(ValueError, match="no scale to normalise by"):
        S.normalised_scores(results, ["iql"], SCENARIO_NAMES)

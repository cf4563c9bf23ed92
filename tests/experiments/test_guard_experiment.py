"""The temperature guard's experiment: its threshold rule, its refusals, and the shipped results' claims."""

import pandas as pd
import pytest

from cstr.__main__ import main
from cstr.experiments.evaluation import evaluate
from cstr.experiments.registry import training_seed_controller
from cstr.experiments.results import check_reproduction
from cstr.experiments.temperature_guard import (
    ABLATION_GUARD_NAME,
    GUARDED_OF,
    THRESHOLDS,
    chosen_threshold,
    crossing_episodes,
    guard_changes,
    guard_table,
    load_guard_fit,
    load_guard_results,
)
from cstr.plant.scenarios import SCENARIO_NAMES, TEMPERATURE_LIMIT
from cstr.safety.temperature_guard import GUARD_SETTINGS_FILE, GuardedController, load_guard_model, load_guard_threshold
from cstr.seeds import TRAINING_SEEDS
from cstr.storage import read_verified_json


def validation(crossings: dict) -> pd.DataFrame:
    """A validation table with the given crossings per threshold (one guarded controller) and an unguarded row."""
    rows = [
        {"policy": "bc+", "seed": 0, "threshold": t, "crossings": c, "interventions": 1} for t, c in crossings.items()
    ]
    return pd.DataFrame(rows + [{"policy": "bc+", "seed": 0, "threshold": None, "crossings": 9, "interventions": 0}])


def test_the_threshold_rule_stops_at_the_first_crossing_and_keeps_the_margin():
    clean = dict.fromkeys(THRESHOLDS, 0)
    assert chosen_threshold(validation(clean), 0.5) == THRESHOLDS[-1]
    # crossings are not monotone in the threshold: a clean threshold above a crossing one is not trusted
    assert chosen_threshold(validation(clean | {358.5: 1}), 0.5) == 358.0
    # the margin to the limit must cover the model's largest under-prediction
    assert chosen_threshold(validation(clean), 1.6) == max(t for t in THRESHOLDS if TEMPERATURE_LIMIT - t >= 1.6)
    with pytest.raises(ValueError, match="not good enough to deploy"):
        chosen_threshold(validation(clean | {THRESHOLDS[0]: 2}), 0.5)
    with pytest.raises(ValueError, match="not good enough to deploy"):
        chosen_threshold(validation(clean), 5.0)
    # a validation where even the unguarded controllers never cross cannot vouch for a guard
    no_danger = validation(clean)
    no_danger.loc[no_danger["threshold"].isna(), "crossings"] = 0
    with pytest.raises(ValueError, match="shows nothing"):
        chosen_threshold(no_danger, 0.5)


def test_a_held_out_check_refuses_a_block_already_drawn(capsys):
    assert main(["temperature-guard", "--held-out-seed", "2000000"]) == 2
    assert "overlap a block an earlier held-out check drew" in capsys.readouterr().err
    assert main(["temperature-guard", "--held-out-seed", "1500000"]) == 2
    assert "held-out seeds start at 2,000,000" in capsys.readouterr().err


def test_the_shipped_threshold_follows_the_rule_from_the_shipped_validation():
    settings = read_verified_json(None, GUARD_SETTINGS_FILE)
    under = load_guard_fit()["hot"]["largest_under_prediction_K"]
    assert chosen_threshold(pd.DataFrame(settings["choice"]["validation"]), under) == load_guard_threshold()


@pytest.mark.parametrize("block", ["evaluation", "held_out"])
def test_the_guarded_controllers_never_cross_and_never_act_in_the_paper_scenarios(block):
    """The shipped results: the claims chapter 8 makes about the guard, per training seed."""
    results = load_guard_results()[block]
    stress = guard_changes(results, ("stress",))
    assert stress["guarded crossings"].sum() == 0 < stress["shipped crossings"].sum()
    paper = guard_changes(results, SCENARIO_NAMES)
    assert len(paper) == len(GUARDED_OF) * len(TRAINING_SEEDS) * len(SCENARIO_NAMES)
    assert paper["interventions"].sum() == 0
    assert (paper["change"] == 0).all()  # no intervention: the same actions, the same episodes
    table = guard_table(results)
    uncorrected = table.xs("stress", level="scenario").loc[["bc", "iql"], "crossings"]
    assert uncorrected.sum() > 0  # the guard is tested where the uncorrected policies cross
    # the dangerous episodes are counted once each, however many controllers cross in them
    assert 0 < len(crossing_episodes(results)) <= stress["shipped crossings"].sum()


def test_the_ablation_ran_the_guard_without_the_stress_data_at_the_shipped_threshold():
    results = load_guard_results()
    ablation = guard_changes(results["ablation"], ("stress",))
    assert results["ablation"]["first_seed"] == results["evaluation"]["first_seed"]
    assert ablation["shipped crossings"].sum() > 0
    model = load_guard_model(name=ABLATION_GUARD_NAME)
    assert "stress" not in model.training_scenarios
    assert [2000300, 100] in results["drawn"]  # a replaced held-out check's block stays drawn


def test_the_guarded_controller_reproduces_a_stored_stress_episode():
    """One stored stress episode where the guard acted, rerun: the same reward within the results' tolerance."""
    results = load_guard_results()["evaluation"]
    guarded = "bc+guarded"
    episodes = {seed: results["controllers"][guarded]["stress"][f"seed{seed}"] for seed in TRAINING_SEEDS}
    seed, index = next((s, i) for s, eps in episodes.items() for i, e in enumerate(eps) if e["interventions"])
    controller = training_seed_controller(guarded, seed)
    assert isinstance(controller, GuardedController)
    run = evaluate(controller, "stress", 1, results["first_seed"] + index)
    assert controller.interventions == episodes[seed][index]["interventions"]
    check_reproduction(run.metric("total_reward"), [episodes[seed][index]["total_reward"]], f"{guarded} seed {seed}")

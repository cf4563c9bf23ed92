"""The evaluation harness: seeds, metrics, JSON, the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import HoldInputs

import cstr
from cstr.control.baselines import SteadyInputs
from cstr.control.pi import PIController
from cstr.control.pi_tuning import centre_tuning
from cstr.experiments.evaluation import MOVE_METRICS, bootstrap_ci, evaluate
from cstr.seeds import EVALUATION_SEED_START, SeedError


def test_training_and_dataset_seeds_are_refused():
    with pytest.raises(SeedError, match="below 1,000,000"):
        evaluate(HoldInputs([1.0, 334.0]), "grade_up", 2, seed=5)
    with pytest.raises(SeedError):
        evaluate(HoldInputs([1.0, 334.0]), "grade_up", 2, seed=EVALUATION_SEED_START - 1)


def test_holding_the_target_grades_steady_inputs_settles_without_offset():
    from cstr.plant.scenarios import HIGH_GRADE

    result = evaluate(HoldInputs(HIGH_GRADE.steady_inputs()), "grade_up", 3)
    for episode in result.episodes:
        assert episode["termination_reason"] == "horizon"
        assert episode["length"] == 200
        assert episode["steady_state_offset_polymer"] < 0.5
        assert episode["settling_time"] is not None and episode["settling_time"] < 60
        assert not episode["safety_violation"]
        assert episode["total_reward"] < 0
        assert episode["ise_polymer"] > 0


def test_a_runaway_is_a_safety_violation_with_the_worst_return():
    result = evaluate(HoldInputs([2.5, 350.0]), "grade_up", 2)
    for episode in result.episodes:
        assert episode["safety_violation"]
        assert episode["termination_reason"] == "temperature_limit"
        assert episode["max_temperature"] > 360.0
        assert episode["settling_time"] is None
    assert result.summary["safety_violations"] == 2


def test_safety_margins_exclude_the_start_and_can_fail():
    from cstr.experiments.evaluation import NEAR_LIMIT_BAND
    from cstr.plant.scenarios import LOW_GRADE, TEMPERATURE_LIMIT

    held = evaluate(HoldInputs(LOW_GRADE.steady_inputs()), "grade_down", 3)  # starts at the high grade and cools
    for episode, start in zip(held.episodes, held.rollout["states"][:, 0, 4]):
        temperatures = held.rollout["next_states"][held.episodes.index(episode), :, 4]
        assert episode["peak_temperature"] == pytest.approx(np.nanmax(temperatures))
        assert episode["max_temperature"] == pytest.approx(start)  # the start's own temperature ...
        assert start > episode["peak_temperature"]  # ... which the peak after the start leaves out
        assert episode["limit_margin"] == pytest.approx(TEMPERATURE_LIMIT - episode["peak_temperature"])
        assert episode["limit_margin"] > NEAR_LIMIT_BAND and episode["hours_near_limit"] == 0.0
    runaway = evaluate(HoldInputs([2.5, 350.0]), "grade_up", 2)
    for episode in runaway.episodes:
        assert episode["limit_margin"] < 0  # crossed: the margin is negative
        assert episode["hours_near_limit"] > 0
    summary = runaway.summary["limit_margin"]
    assert summary["ci95"][0] <= summary["mean"] <= summary["ci95"][1] < 0
    assert set(runaway.summary) >= {"peak_temperature", "limit_margin", "hours_near_limit"}


def test_same_seed_gives_same_metrics_and_other_seeds_differ():
    first = evaluate(PIController(centre_tuning()), "startup", 4)
    second = evaluate(PIController(centre_tuning()), "startup", 4)
    third = evaluate(PIController(centre_tuning()), "startup", 4, seed=EVALUATION_SEED_START + 100)
    assert first.to_dict() == second.to_dict()
    assert first.metric("total_reward").tolist() != third.metric("total_reward").tolist()


def test_bootstrap_interval_brackets_the_mean_and_is_reproducible():
    values = np.random.default_rng(0).normal(-20, 5, 200)
    low, high = bootstrap_ci(values)
    assert low < values.mean() < high
    assert (low, high) == bootstrap_ci(values)
    assert high - low < 2.0


def test_cli_json_and_seed_refusal():
    command = [
        sys.executable,
        "-m",
        "cstr",
        "evaluate",
        "--controller",
        "pi",
        "--scenario",
        "grade_down",
        "--episodes",
        "3",
        "--seed",
        str(EVALUATION_SEED_START),
        "--json",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    report = json.loads(output)
    assert report["controller"] == "pi" and report["scenario"] == "grade_down" and report["first_seed"] == 1_000_000
    assert len(report["episodes"]) == 3
    for key in ("total_reward", "max_temperature", "safety_violation", "steady_state_offset"):
        assert key in report["episodes"][0]
    summary = report["summary"]["total_reward"]
    assert summary["ci95"][0] <= summary["mean"] <= summary["ci95"][1]
    refused = subprocess.run(command[:-3] + ["--seed", "5"], capture_output=True, text=True)
    assert refused.returncode != 0
    assert "reserved for datasets and training" in refused.stderr


def test_unknown_controller_is_named():
    with pytest.raises(ValueError, match="unknown controller 'mpc'"):
        cstr.load_controller("mpc")


def test_your_own_controller_is_evaluated_from_the_command_line(tmp_path, monkeypatch, capsys):
    from cstr.__main__ import main

    (tmp_path / "own_controller.py").write_text(
        "import numpy as np\n"
        "class Recipe:\n"
        "    def act(self, obs):\n"
        "        obs = np.asarray(obs)\n"
        "        return np.tile([1.0, 335.0], (len(obs), 1)) if obs.ndim == 2 else np.array([1.0, 335.0])\n"
        "class Mute:\n"
        "    pass\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["evaluate", "--controller", "own_controller:Recipe", "--scenario", "grade_up", "--episodes", "2"]) == 0
    assert "own_controller:Recipe in grade_up, 2 episodes" in capsys.readouterr().out
    assert main(["evaluate", "--controller", "own_controller:Mute", "--scenario", "grade_up", "--episodes", "2"]) == 2
    assert "has no act(obs) method" in capsys.readouterr().err
    assert main(["evaluate", "--controller", "own_controller:Nope", "--scenario", "grade_up", "--episodes", "2"]) == 2


def test_input_moves_are_the_changes_of_each_input_from_the_inputs_before():
    recipe = evaluate(SteadyInputs(), "grade_up", 2)
    for episode in recipe.episodes:
        assert set(MOVE_METRICS) <= set(episode)
        # open loop: one move, at the first step, from the start grade's inputs to the target's; then none
        assert episode["largest_move_coolant"] > 0.0
        assert episode["mean_move_coolant"] == pytest.approx(episode["largest_move_coolant"] / episode["length"])
        assert episode["mean_move_initiator"] == pytest.approx(episode["largest_move_initiator"] / episode["length"])
    assert "mean_move_coolant" in recipe.summary

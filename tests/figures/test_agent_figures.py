"""The figure and table helpers of chapters 3 and 4 (cstr.figures.style): shapes, numbers, and what they draw."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from helpers import HoldInputs

from cstr.agents import diagnostics as agent_diagnostics
from cstr.control.pi import PIController
from cstr.control.pi_tuning import centre_tuning
from cstr.experiments.evaluation import (
    episode_series,
    evaluate_controllers,
    evaluation_table,
    reached_then_left,
    setpoint_residual,
)
from cstr.figures import agents as agent_figures
from cstr.plant.scenarios import HIGH_GRADE, HORIZON, HOURS_PER_STEP, LOW_GRADE
from cstr.seeds import EVALUATION_SEED_START


@pytest.fixture(scope="module")
def evaluations():
    controllers = {"pi-tuned": PIController(centre_tuning()), "hold": HoldInputs(HIGH_GRADE.steady_inputs())}
    return evaluate_controllers(controllers, scenarios=("grade_up", "grade_down"), episodes=3)


def test_evaluate_controllers_covers_every_pair_on_the_same_seeds(evaluations):
    assert set(evaluations) == {
        (name, scenario) for name in ("pi-tuned", "hold") for scenario in ("grade_up", "grade_down")
    }
    for (name, scenario), evaluation in evaluations.items():
        assert evaluation.controller == name and evaluation.scenario == scenario
        assert evaluation.seed == EVALUATION_SEED_START
        assert len(evaluation.episodes) == 3


def test_evaluation_table_matches_the_summaries(evaluations):
    table = evaluation_table(evaluations)
    assert table.index.names == ["scenario", "controller"]
    assert len(table) == 4
    for (name, scenario), evaluation in evaluations.items():
        row = table.loc[(scenario, name)]
        reward = evaluation.summary["total_reward"]
        assert row["total_reward"] == pytest.approx(reward["mean"])
        assert (row["ci95_low"], row["ci95_high"]) == pytest.approx(tuple(reward["ci95"]))
        assert row["steady_state_offset"] == pytest.approx(np.mean(evaluation.metric("steady_state_offset")))
        assert row["safety_violations"] == evaluation.summary["safety_violations"]
    # holding the high grade's inputs in a grade change down never reaches the low grade
    assert table.loc[("grade_down", "hold"), "steady_state_offset_polymer"] > 20.0
    assert table.loc[("grade_up", "hold"), "steady_state_offset_polymer"] < 1.0


def test_training_curves_draw_one_panel_per_key_and_one_line_per_history():
    history = {"step": [10, 20, 30], "value_loss": [3.0, 2.0, 1.0], "q_loss": [5.0, 4.0, 2.0]}
    other = {"step": [10, 20, 30], "value_loss": [2.5, 1.5, 1.2], "q_loss": [4.0, 3.0, 2.5]}
    fig = agent_figures.plot_training_curves([history, other], labels=["a", "b"], logy=("q_loss",))
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["value loss", "q loss"]
    assert len(axes[0].lines) == 2
    np.testing.assert_allclose(axes[0].lines[0].get_ydata(), history["value_loss"])
    assert axes[1].get_yscale() == "log"
    plt.close(fig)
    fig = agent_figures.plot_training_curves({"step": [1, 2], "loss": [1.0, 0.5]})
    assert len(fig.axes) == 1
    plt.close(fig)


def test_box_plot_has_one_panel_per_scenario_and_every_episode_as_a_dot(evaluations):
    fig = agent_figures.plot_evaluation_boxes(evaluations, symlog=True)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert sum(len(c.get_offsets()) for c in ax.collections) == 6  # 2 controllers x 3 episodes
        assert [t.get_text() for t in ax.get_xticklabels()] == ["pi-tuned", "hold"]
        assert ax.get_yscale() == "symlog"
    plt.close(fig)


def test_episode_series_and_trajectory_figure(evaluations):
    series = episode_series(evaluations[("hold", "grade_up")])
    assert len(series["hours"]) == HORIZON
    assert series["hours"][0] == pytest.approx(HOURS_PER_STEP)
    np.testing.assert_allclose(series["initiator_feed"], HIGH_GRADE.steady_inputs()[0], rtol=1e-6)
    fig = agent_figures.plot_policy_trajectories(evaluations, ["pi-tuned", "hold"])
    assert len(fig.axes) == 8
    temperature_axis = fig.axes[2]  # row 1 (temperature) of column 0, axes ordered row-major
    assert any(np.allclose(line.get_ydata(), 360.0) for line in temperature_axis.lines)
    plt.close(fig)


def test_offset_zoom_shows_only_the_final_quarter(evaluations):
    fig = agent_figures.plot_offset_zoom(evaluations, ["hold"], scenarios=["grade_down"], max_episodes=2)
    polymer_axis = fig.axes[0]
    curves = [line for line in polymer_axis.lines if len(line.get_xdata()) > 2]
    times = np.concatenate([line.get_xdata() for line in curves])
    horizon_h = HORIZON * HOURS_PER_STEP
    assert times.min() > 0.75 * horizon_h - 1e-9 and times.max() == pytest.approx(horizon_h)
    # two thin episode lines and one median line
    assert len(curves) == 3
    # the high grade's inputs leave the polymer far above the low setpoint: a negative error
    assert np.nanmax(curves[-1].get_ydata()) < -20.0
    plt.close(fig)


def test_setpoint_residual_is_zero_for_pi_and_the_move_for_a_fixed_controller():
    np.testing.assert_allclose(
        setpoint_residual(PIController(centre_tuning()), "grade_up"), 0.0, atol=1e-4
    )  # float32 observations
    hold = HoldInputs(LOW_GRADE.steady_inputs())
    np.testing.assert_allclose(
        setpoint_residual(hold, "grade_up"), LOW_GRADE.steady_inputs() - HIGH_GRADE.steady_inputs(), rtol=1e-6
    )


def test_discounted_returns_to_go_restart_at_each_episode():
    rewards = np.array([1.0, 1.0, 1.0, 2.0, 2.0])
    ids = np.array([0, 0, 0, 1, 1])
    np.testing.assert_allclose(
        agent_diagnostics.discounted_returns_to_go(rewards, ids, 0.5), [1.75, 1.5, 1.0, 3.0, 2.0]
    )


def test_value_check_undoes_the_reward_scale_and_matches_the_networks():
    import torch

    from cstr.agents import iql
    from cstr.agents.nn import Normaliser
    from cstr.data.dataset import load_dataset

    dataset = load_dataset("grade_up")
    agent = iql.IQL(Normaliser.from_data(dataset.observations), iql.IQLConfig(hidden_dims=(8,), discount=0.9))
    check = agent_diagnostics.value_check(agent, dataset, reward_scale=2.0)
    assert len(check["value"]) == dataset.episode_count
    first = torch.as_tensor(dataset.observations[:1], dtype=torch.float32)
    with torch.no_grad():
        expected = agent.value(agent.normaliser.observations(first)).item() / 2.0
    assert check["value"][0] == pytest.approx(expected, rel=1e-5)
    own = dataset.rewards[dataset.episode_ids == 0]
    assert check["discounted_return"][0] == pytest.approx(np.sum(own * 0.9 ** np.arange(len(own))))
    fig = agent_figures.plot_value_check({"grade_up": check})
    assert len(fig.axes) == 1
    plt.close(fig)


def test_box_plot_log_cost_draws_minus_the_metric_on_a_log_axis(evaluations):
    fig = agent_figures.plot_evaluation_boxes(evaluations, log_cost=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    dots = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections])
    rewards = np.concatenate([evaluations[(name, "grade_up")].metric("total_reward") for name in ("pi-tuned", "hold")])
    np.testing.assert_allclose(np.sort(dots), np.sort(-rewards))
    assert "minus" in ax.get_ylabel()
    plt.close(fig)


def test_reached_then_left_flags_only_episodes_that_leave_the_grade(evaluations):
    # pi-tuned reaches and holds the grade; holding the high grade's inputs in a grade change down
    # never reaches the low grade; neither has reached and left
    assert not reached_then_left(evaluations[("pi-tuned", "grade_up")]).any()
    assert not reached_then_left(evaluations[("hold", "grade_down")]).any()
    evaluation = evaluations[("pi-tuned", "grade_up")]
    drifted = type(evaluation)(
        **{
            **evaluation.__dict__,
            "rollout": {**evaluation.rollout, "next_states": evaluation.rollout["next_states"].copy()},
        }
    )
    drifted.rollout["next_states"][0, -1, 3] -= 10.0  # the last step of episode 0 leaves the band
    flags = reached_then_left(drifted)
    assert flags[0] and not flags[1:].any()

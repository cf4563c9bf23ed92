"""The figures of chapter 8 (cstr.figures.comparison): what they draw, on hand-built rollouts."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from cstr.figures import comparison as comparison_figures
from cstr.figures.style import controller_color
from cstr.plant.scenarios import CONTROL_INTERVAL, TEMPERATURE_LIMIT

STEPS = 6


def _rollout(level):
    return {
        "rewards": np.full((2, STEPS), -1.0),
        "next_states": np.full((2, STEPS, 5), level),
        "actions": np.full((2, STEPS, 2), level + 1.0),
        "returns": np.array([-STEPS, -STEPS], dtype=float),
    }


@pytest.fixture
def live_episode():
    return {"nmpc": _rollout(340.0), "pi-tuned": _rollout(345.0), "seconds": 1.0, "solve_times": {}}


def test_plot_live_episode_draws_four_panels_one_line_per_controller(live_episode):
    fig = comparison_figures.plot_live_episode(live_episode, ["nmpc", "pi-tuned"], title="live")
    try:
        axes = fig.axes
        assert len(axes) == 4
        assert [ax.get_ylabel() for ax in axes] == [
            "polymer P [kg/m³]",
            "temperature T [K]",
            "initiator feed u_I [kg/h]",
            "coolant temperature T_c [K]",
        ]
        assert [ax.get_xlabel() for ax in axes] == ["", "", "time [h]", "time [h]"]
        assert fig._suptitle.get_text() == "live"
        for ax in axes:
            lines = [line for line in ax.get_lines() if line.get_label() in ("nmpc", "pi-tuned")]
            assert [line.get_label() for line in lines] == ["nmpc", "pi-tuned"]
            assert [line.get_linestyle() for line in lines] == ["-", "--"]
            for index, line in enumerate(lines):
                assert to_rgba(line.get_color()) == to_rgba(controller_color(line.get_label(), index))
                np.testing.assert_allclose(line.get_xdata(), np.arange(1, STEPS + 1) * CONTROL_INTERVAL / 3600)
        # the temperature panel carries the limit; polymer and temperature are state columns 3 and 4
        assert any(np.allclose(line.get_ydata(), TEMPERATURE_LIMIT) for line in axes[1].get_lines())
        np.testing.assert_allclose(axes[0].get_lines()[1].get_ydata(), 345.0)
        np.testing.assert_allclose(axes[3].get_lines()[0].get_ydata(), 341.0)
        assert [text.get_text() for text in axes[0].get_legend().get_texts()] == ["nmpc", "pi-tuned"]
    finally:
        plt.close(fig)


def test_plot_live_episode_without_title_and_one_controller(live_episode):
    fig = comparison_figures.plot_live_episode(live_episode, ["pi-tuned"], episode=1)
    try:
        assert fig._suptitle is None
        assert [line.get_label() for line in fig.axes[0].get_lines()] == ["pi-tuned"]
    finally:
        plt.close(fig)

"""The figures of chapter 1 (cstr.figures.reactor) and the analysis they draw (cstr.plant.analysis)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cstr.figures import reactor as reactor_figures
from cstr.plant import analysis, responses
from cstr.plant.model import heat_removal
from cstr.plant.scenarios import GRADES, HIGH_GRADE, LOW_GRADE, stability_boundary


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def labelled(ax, x=True, y=True):
    return (not x or ax.get_xlabel() != "") and (not y or ax.get_ylabel() != "")


def test_heat_balance_crossings_are_steady_states():
    balance = analysis.heat_balance(np.linspace(300, 440, 50), 1.0, [310.0, 345.0])
    assert balance.removal.shape == (2, 50)
    assert balance.generation.shape == (50,)
    for k, coolant in enumerate(balance.coolant_temperatures):
        assert balance.steady_temperatures[k].size >= 1
        removal = heat_removal(balance.steady_temperatures[k], 1.0, coolant)
        np.testing.assert_allclose(balance.steady_generation[k], removal, rtol=1e-6, atol=1e-3)
        assert balance.steady_stable[k].dtype == bool


def test_plot_van_heerden():
    balances = [analysis.heat_balance(np.linspace(300, 440, 30), feed, [310.0, 345.0]) for feed in (0.5, 2.5)]
    fig = reactor_figures.plot_van_heerden(balances)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_ylabel() == "heat flow [kW]"
    assert all(ax.get_xlabel() == "reactor temperature $T$ [K]" for ax in fig.axes)


def test_plot_steady_state_map():
    feeds, coolants = np.linspace(0.0, 2.5, 4), np.linspace(300.0, 350.0, 4)
    ss_map = analysis.steady_state_map(feeds, coolants)
    boundary_feeds = np.linspace(0.0, 2.5, 3)
    boundary = stability_boundary(boundary_feeds)
    fig = reactor_figures.plot_steady_state_map(
        ss_map, boundary_feeds, boundary, {grade.name: grade.steady_inputs() for grade in GRADES}
    )
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 4  # two panels, two colour bars
    panels, bars = fig.axes[:2], fig.axes[2:]
    assert panels[0].get_ylabel() == "initiator feed $u_I$ [kg/h]"
    assert all(ax.get_xlabel() == "coolant temperature $T_c$ [K]" for ax in panels)
    assert [bar.get_ylabel() for bar in bars] == ["steady temperature $T$ [K]", "steady polymer $P$ [kg/m³]"]


def test_perturbed_response_and_plot_runaway():
    runs = [responses.perturbed_response([2.0, coolant], 4, 600.0) for coolant in (345.0, 340.0)]
    assert [r.stable for r in runs] == [False, True]
    assert runs[0].states.shape == (5, 5)
    assert runs[0].states[0, 4] == pytest.approx(runs[0].steady_state[4] + 0.1)
    fig = reactor_figures.plot_runaway(runs)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 2
    assert all(labelled(ax) for ax in fig.axes)
    assert fig.axes[0].get_xlabel() == "time [h]"
    assert fig.axes[1].get_xlabel() == "monomer $A$ [kg/m³]"
    assert all(ax.get_ylabel() == "reactor temperature $T$ [K]" for ax in fig.axes)


def test_plot_time_scales():
    scales = {g.name: analysis.eigen_time_scales(g.steady_state(), g.steady_inputs()) for g in GRADES}
    fig = reactor_figures.plot_time_scales(scales)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 1
    assert fig.axes[0].get_xlabel() == "time scale $1/|\\mathrm{Re}\\,\\lambda|$ [h] (log scale)"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(scales["low"].dominant_state)


def test_plot_grade_changes():
    changes = {
        "up": responses.grade_change(LOW_GRADE, HIGH_GRADE, steps=6),
        "down": responses.grade_change(HIGH_GRADE, LOW_GRADE, steps=6),
    }
    fig = reactor_figures.plot_grade_changes(changes, window=40.0)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 2
    assert all(ax.get_xlabel() == "time [h]" for ax in fig.axes)
    assert fig.axes[0].get_ylabel() == "polymer $P$ [kg/m³]"
    assert fig.axes[1].get_ylabel() == "reactor temperature $T$ [K]"
    assert fig.axes[0].get_title() == "polymer (bands: ±2 % of the change)"


def test_plot_quasi_steady_startup():
    hours = np.linspace(0.0, 6.0, 13)
    radicals = 1e-6 * (1 - np.exp(-hours))
    fig = reactor_figures.plot_quasi_steady_startup(
        hours, radicals, 1.2 * radicals, np.linspace(0.5, 0.01, 13), np.linspace(600.0, 60.0, 13)
    )
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_ylabel() == "radicals $R$ [µmol/m³]"
    assert all(ax.get_xlabel() == "time [h]" for ax in fig.axes)
    assert fig.axes[1].get_yscale() == "log"
    assert len(fig.axes[0].lines[0].get_xdata()) == 7  # the first 3 h only

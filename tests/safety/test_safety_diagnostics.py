"""The figure and table helpers of chapters 5 and 6 (cstr.figures.style): numbers they compute and what they draw."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from helpers import random_observations as observations

from cstr.agents.nn import Normaliser
from cstr.envs import core
from cstr.experiments import verdicts
from cstr.experiments.evaluation import Evaluation
from cstr.experiments.selection import correction_label, selection_table
from cstr.figures import safety as safety_figures
from cstr.safety import diagnostics as safety_diagnostics
from cstr.safety.correction import CorrectionConfig, CostSurface, correct
from cstr.safety.picnn import PICNN

SPACE = core.action_space()


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = PICNN(Normaliser.from_data(observations(500)), hidden=16, layers=2, state_hidden=16)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
    return model.eval()


class Concave(torch.nn.Module):
    """c(s, a) = -|a|^2 in normalised units: concave, so the midpoint test must fail."""

    def forward(self, s, a):
        unit = (a - torch.as_tensor(SPACE.low, dtype=a.dtype)) / torch.as_tensor(
            (SPACE.high - SPACE.low) / 2, dtype=a.dtype
        ) - 1
        return -(unit**2).sum(dim=1)


def test_midpoint_check_passes_a_picnn_and_leaves_it_unchanged(net):
    before = [p.detach().clone() for p in net.parameters()]
    check = safety_diagnostics.midpoint_convexity_check(net, observations(100), triples=3000)
    assert check["triples"] == 3000 and check["violations"] == 0 and check["worst"] <= 1e-12
    assert check["mean_gap"] >= 0
    for old, new in zip(before, net.parameters()):
        assert new.dtype == torch.float32 and torch.equal(old, new)


def test_midpoint_check_catches_a_concave_cost():
    check = safety_diagnostics.midpoint_convexity_check(Concave(), observations(10), triples=500)
    assert check["violations"] == 500 and check["worst"] > 0


def test_cost_on_action_grid_matches_the_surface(net):
    weights = net.export()
    obs = observations(1, seed=3)[0]
    feed, coolant, cost = safety_diagnostics.cost_on_action_grid(weights, obs, points=7)
    assert feed[0] == pytest.approx(SPACE.low[0]) and coolant[-1] == pytest.approx(SPACE.high[1])
    assert cost.shape == (7, 7)
    direct = CostSurface(weights, obs[None]).value(np.array([feed[2], coolant[5]]))[0]
    assert cost[5, 2] == pytest.approx(direct)


def test_plot_cost_contours_draws_one_panel_per_state(net):
    weights = net.export()
    obs = observations(2, seed=4)
    marks = {"dataset": np.array([[1.0, 330.0], [0.5, 320.0]]), "iql": np.array([[1.2, 331.0], [0.6, 322.0]])}
    fig = safety_figures.plot_cost_contours(weights, obs, marks, titles=["a", "b"], points=9, trust_region=0.1)
    panels = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(panels) == 2 and panels[0].get_title() == "a"
    assert panels[0].get_xlim() == pytest.approx((SPACE.low[0], SPACE.high[0]))
    assert len(panels[0].patches) == 1  # the trust region
    plt.close(fig)


def test_selection_table_reads_the_selection_rows():
    returns = {"startup": -3.0, "grade_down": -2.0, "grade_up": -1.0}
    selection = {
        "episodes": 20,
        "rows": [
            {"controller": "iql", "target": None, "correction": None, "returns": returns},
            {
                "controller": "iql+",
                "target": "td",
                "correction": {"steps": 10, "step_size": 0.1, "trust_region": 0.25, "max_backtracks": 6},
                "returns": {"startup": -1.0, "grade_down": -2.0, "grade_up": -3.0},
            },
        ],
        "chosen": {"target": "td"},
    }
    table = selection_table(selection)
    assert list(table.columns) == ["startup", "grade_down", "grade_up", "mean"]
    assert table.loc[("iql+", "td", "K=10, eta=0.1, delta=0.25"), "startup"] == -1.0
    assert table.loc[("iql", "-", "uncorrected"), "mean"] == pytest.approx(-2.0)
    assert correction_label({"steps": 1, "step_size": 0.5, "trust_region": None}) == "K=1, eta=0.5, delta=none"


def test_correction_cost_drop_and_moves(net):
    weights = net.export()
    obs = observations(50, seed=5)
    start = np.random.default_rng(6).uniform(SPACE.low, SPACE.high, size=(50, 2))
    result = correct(CostSurface(weights, obs), start, CorrectionConfig(steps=5, trust_region=0.2), record=True)
    drop = safety_diagnostics.correction_cost_drop(result.costs)
    assert drop["monotone"] and drop["drop"].shape == (6, 50)
    assert np.all(drop["median"] <= 0) and drop["median"][0] == 0
    moves = safety_diagnostics.correction_moves(result, SPACE.low, SPACE.high)
    assert moves["max_unit"] <= 0.2 + 1e-9 and 0 <= moves["moved"] <= 1
    fig = safety_figures.plot_correction_costs({"iql+": drop, "bc+": drop})
    assert len(fig.axes) == 2
    plt.close(fig)


def test_comparison_words_and_counts():
    import pandas as pd

    rows = []
    for scenario, (base, plus, low_gap) in {
        "startup": (-20.0, -15.0, True),
        "grade_down": (-7.0, -7.2, True),
        "grade_up": (-8.0, -7.9, False),
    }.items():
        half = 0.5 if low_gap else 1.0
        rows.append(
            {
                "scenario": scenario,
                "controller": "iql",
                "total_reward": base,
                "ci95_low": base - half,
                "ci95_high": base + half,
                "steady_state_offset": 0.1,
            }
        )
        rows.append(
            {
                "scenario": scenario,
                "controller": "iql+",
                "total_reward": plus,
                "ci95_low": plus - half,
                "ci95_high": plus + half,
                "steady_state_offset": 0.2,
            }
        )
    table = pd.DataFrame(rows).set_index(["scenario", "controller"])
    assert verdicts.count_wins(table, "iql+", "iql") == 2
    assert verdicts.count_wins(table, "iql", "iql+", "steady_state_offset") == 0
    # the correction's verdict is paired: the same episodes, so a shift far inside the spread still counts
    spread = np.linspace(-5.0, 5.0, 20)
    noise = np.random.default_rng(0).normal(0.0, 0.3, 20)
    evaluations = {
        (name, scenario): Evaluation(name, scenario, 1_000_000, [{"total_reward": r} for r in rewards], {})
        for name, scenario, rewards in [
            ("iql", "startup", -10.0 + spread),
            ("iql+", "startup", -9.0 + spread + noise),  # +1 on every episode, give or take 0.3
            ("iql", "grade_up", -10.0 + spread),
            ("iql+", "grade_up", -10.0 + spread + noise),
            ("iql", "grade_down", -10.0 + spread),
            ("iql+", "grade_down", -11.0 + spread),
        ]
    }
    assert verdicts.correction_verdict(evaluations, "iql+", "iql", "startup").startswith("improves (+0.9")
    assert verdicts.correction_verdict(evaluations, "iql+", "iql", "grade_up").startswith("no significant change")
    assert verdicts.correction_verdict(evaluations, "iql+", "iql", "grade_down") == "worsens (-1.00 [-1.00, -1.00])"
    assert verdicts.higher_or_lower(2.0, 1.0) == "higher" and verdicts.higher_or_lower(1.0, 2.0) == "lower"

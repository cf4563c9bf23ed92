"""The figures that turn chapter 6-8 tables into pictures: each draws every number it is given."""

import matplotlib
import numpy as np
import pandas as pd

from cstr.experiments import authority
from cstr.experiments.results import load_results, seed_table
from cstr.figures.comparison import plot_reward_heatmap
from cstr.figures.results import plot_seed_spread
from cstr.figures.safety import plot_authority_sweep

matplotlib.use("Agg")


def test_seed_spread_draws_a_dot_per_seed_controller_and_scenario():
    spread = seed_table(load_results())
    fig = plot_seed_spread(spread, {"ref": {s: -5.0 for s in spread.index.get_level_values(0)}})
    seeds = [c for c in spread.columns if c.startswith("seed")]
    dots = sum(len([line for line in ax.lines if line.get_marker() == "o"]) for ax in fig.axes)
    assert dots == len(spread) * len(seeds)
    assert all(ax.get_yscale() == "log" for ax in fig.axes)


def test_heatmap_annotates_every_cell_with_its_value():
    table = pd.DataFrame({("a", "x"): [-1.0, -365.1], ("a", "y"): [-2.5, np.nan]}, index=["p", "q"])
    fig = plot_reward_heatmap(table, title="t")
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == sorted(["-1.0", "-365.1", "-2.5"])


def test_authority_sweep_draws_each_policys_trust_regions_and_marks_the_shipped_point():
    table = authority.authority_table(authority.load_authority())
    fig = plot_authority_sweep(table, shipped_delta="box", nudge_delta=authority.NUDGE_TRUST_REGION)
    panel = fig.axes[0]
    lines = [line for line in panel.lines if line.get_linestyle() == "-" and line.get_marker() == "o"]
    assert len(lines) == 2 and all(len(line.get_xdata()) == len(authority.SWEEP_TRUST_REGIONS) for line in lines)
    assert sum(line.get_marker() == "*" for line in panel.lines) == 2


def test_gap_bars_draw_a_bar_per_controller_and_scenario_and_label_the_off_scale_ones():
    from cstr.figures.comparison import plot_gap_bars

    gap = pd.DataFrame({"startup": [0.5, -3.2], "grade_up": [1.0, 0.2]}, index=["pi-tuned", "bc"])
    fig = plot_gap_bars(gap)
    assert len(fig.axes[0].patches) == 4
    assert [t.get_text() for t in fig.axes[0].texts] == ["-3.2"]

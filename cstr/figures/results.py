"""Figures of chapter 7: the headline reward boxes, the spread over training seeds, and the trajectories."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from cstr.experiments.results import Results, evaluations
from cstr.figures.agents import plot_evaluation_boxes, plot_policy_trajectories
from cstr.figures.style import SCENARIO_TITLES, controller_color


def plot_reward_boxes(results: Results, seed="chosen"):
    """The headline figure: total reward per controller, one panel per scenario, every episode a dot.

    When every total reward is negative (a cost), draws minus the reward on a
    logarithmic axis, lower is better, so that controllers whose costs differ
    by orders of magnitude share one figure; otherwise a symmetric-log axis.
    """
    evals = evaluations(results, seed)
    all_rewards = np.concatenate([e.metric("total_reward") for e in evals.values()])
    negative = bool(np.all(all_rewards[np.isfinite(all_rewards)] < 0))
    ylabel = "minus total reward (log scale, lower is better)" if negative else "total reward (symlog)"
    return plot_evaluation_boxes(evals, "total_reward", ylabel=ylabel, symlog=not negative, log_cost=negative)


def plot_trajectories(results: Results, names=None, scenarios=None):
    """Polymer, temperature (with the limit) and both inputs of the first evaluation episode, every
    controller in ``names`` (default: all) on the same initial state, one column per scenario."""
    names = results.controllers if names is None else list(names)
    return plot_policy_trajectories(evaluations(results), names, scenarios or results.scenarios)


def plot_seed_spread(spread, references: dict | None = None):
    """Each training seed's mean total reward, one panel per scenario, one column of dots per controller.

    ``spread``: :func:`cstr.experiments.results.seed_table`. The canonical seed
    is the filled dot, the others open; minus the reward on a log axis (lower
    is better). ``references``: ``{label: {scenario: mean reward}}`` drawn as
    horizontal lines (e.g. ``pi-tuned``).
    """
    scenarios = list(dict.fromkeys(spread.index.get_level_values("scenario")))
    names = list(dict.fromkeys(spread.index.get_level_values("controller")))
    seeds = [c for c in spread.columns if c.startswith("seed")]
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.0 * len(scenarios), 3.4), sharey=True, squeeze=False)
    for ax, scenario in zip(axes[0], scenarios):
        for x, name in enumerate(names):
            row = spread.loc[(scenario, name)]
            for column in seeds:
                chosen = column == f"seed{int(row['chosen'])}"
                ax.plot(
                    x,
                    -row[column],
                    "o",
                    ms=7 if chosen else 6,
                    color=controller_color(name, x),
                    mfc=controller_color(name, x) if chosen else "none",
                    zorder=3,
                )
        for index, (label, values) in enumerate((references or {}).items()):
            ax.axhline(-values[scenario], color="0.4", linestyle=["--", ":"][index % 2], lw=1, label=label)
        ax.set_xticks(range(len(names)), names)
        ax.set_yscale("log")
        ax.set_title(SCENARIO_TITLES.get(scenario, scenario), fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("minus the mean total reward\n(log scale, lower is better)")
    handles = [
        plt.Line2D([], [], marker="o", color="0.3", linestyle="none", label="canonical seed"),
        plt.Line2D([], [], marker="o", color="0.3", mfc="none", linestyle="none", label="other seeds"),
    ]
    handles += axes[0, 0].get_legend_handles_labels()[0]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig

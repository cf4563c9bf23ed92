"""Figures of chapter 7: the headline reward boxes, the spread over training seeds, and the trajectories."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from rliable import plot_utils

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


def plot_seed_intervals(per_scenario, aggregate):
    """rliable's interval-estimate plot of the normalised score: the IQM over training seeds in each scenario
    and over all of them, with stratified-bootstrap 95 % CIs, one panel each.

    ``per_scenario``: :func:`cstr.experiments.seed_statistics.per_scenario_estimates`; ``aggregate``:
    :func:`cstr.experiments.seed_statistics.aggregate_estimates`. 0 is the data's PI, 1 the tuned PI.
    """
    scenarios = list(dict.fromkeys(per_scenario.index.get_level_values("scenario")))
    names = list(aggregate.index)
    points, intervals = {}, {}
    for name in names:
        rows = [per_scenario.loc[(scenario, name)] for scenario in scenarios] + [aggregate.loc[name]]
        points[name] = np.array([row["IQM"] for row in rows])
        intervals[name] = np.array([[row["IQM low"] for row in rows], [row["IQM high"] for row in rows]])
    labels = [SCENARIO_TITLES.get(s, s) for s in scenarios] + ["all scenarios"]
    colors = {name: controller_color(name, i) for i, name in enumerate(names)}
    fig, axes = plot_utils.plot_interval_estimates(
        points,
        intervals,
        labels,
        algorithms=names,
        colors=colors,
        subfigure_width=3.4,
        row_height=0.45,
        xlabel="normalised score (0: the data's PI, 1: pi-tuned)",
    )
    for ax in np.ravel(axes):
        for reference in (0.0, 1.0):
            ax.axvline(reference, color="0.5", lw=0.8, ls=":")
    fig.suptitle("interquartile mean over training seeds, 95 % stratified-bootstrap CI", y=1.08, fontsize=10)
    return fig


def plot_seed_profiles(profiles: dict, thresholds):
    """rliable's performance profiles: the fraction of runs (training seed x scenario) whose normalised score
    exceeds each threshold, with stratified-bootstrap 95 % bands.

    ``profiles``: :func:`cstr.experiments.seed_statistics.performance_profiles`.
    """
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    colors = {name: controller_color(name, i) for i, name in enumerate(profiles)}
    plot_utils.plot_performance_profiles(
        {name: profile for name, (profile, _) in profiles.items()},
        np.asarray(thresholds),
        performance_profile_cis={name: band for name, (_, band) in profiles.items()},
        colors=colors,
        ax=ax,
        xlabel=r"normalised score $\tau$ (0: the data's PI, 1: pi-tuned)",
        ylabel=r"fraction of runs with score $> \tau$",
        labelsize="medium",
        ticklabelsize="medium",
    )
    for reference in (0.0, 1.0):
        ax.axvline(reference, color="0.5", lw=0.8, ls=":")
    ax.legend(handles=[plt.Line2D([], [], color=colors[n], label=n) for n in profiles], fontsize=8, frameon=False)
    fig.tight_layout()
    return fig

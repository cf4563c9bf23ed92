"""Figures of chapters 3 and 4: training curves, evaluation boxes, trajectories, offsets, value checks."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from cstr.experiments.evaluation import FINAL_FRACTION, episode_series
from cstr.figures.style import SCENARIO_TITLES, controller_color
from cstr.plant.scenarios import HORIZON, HOURS_PER_STEP, TEMPERATURE_LIMIT, get_scenario


def plot_training_curves(histories, keys=None, labels=None, axes=None, logy=(), title=None):
    """One panel per logged quantity of one or more training histories.

    ``histories``: a history dict (``{"step": [...], key: [...], ...}``, as
    :func:`cstr.agents.policy.load_history` returns and ``train`` records) or a
    list of them, drawn on the same panels with ``labels``. ``keys``: the
    quantities to draw (default: every key but ``step`` of the first
    history). ``logy``: keys drawn on a logarithmic axis. Returns the figure.
    """
    histories = [histories] if isinstance(histories, dict) else list(histories)
    keys = list(keys or [key for key in histories[0] if key != "step"])
    labels = list(labels) if labels is not None else [None] * len(histories)
    if axes is None:
        fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.0), squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(axes)
        fig = axes[0].figure
    for ax, key in zip(axes, keys):
        for index, (history, label) in enumerate(zip(histories, labels)):
            if key in history:
                ax.plot(history["step"], history[key], color=f"C{index}", lw=1.5, label=label)
        if key in logy:
            ax.set_yscale("log")
        ax.set_title(key.replace("_", " "), fontsize=10)
        ax.set_xlabel("gradient update")
    if any(label is not None for label in labels):
        axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_evaluation_boxes(
    evaluations: dict,
    metric: str = "total_reward",
    ylabel: str | None = None,
    symlog: bool = False,
    jitter_seed: int = 0,
    log_cost: bool = False,
):
    """Box plots of ``metric`` per controller, one panel per scenario, every episode drawn as a dot.

    ``symlog``: a symmetric-log y axis, for metrics whose episodes span
    decades (a few bad episodes would otherwise squash the boxes).
    ``log_cost``: draw minus the metric on a logarithmic axis (for a total
    reward that is always negative: the cost, lower is better).
    """
    scenarios = list(dict.fromkeys(scenario for _, scenario in evaluations))
    names = list(dict.fromkeys(name for name, _ in evaluations))
    rng = np.random.default_rng(jitter_seed)
    tall = 1.4 if len(names) > 4 else 0.0  # room for slanted names
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.2 * len(scenarios), 3.6 + tall), squeeze=False)
    for ax, scenario in zip(axes[0], scenarios):
        present = [name for name in names if (name, scenario) in evaluations]
        values = [evaluations[(name, scenario)].metric(metric) for name in present]
        values = [v[np.isfinite(v)] for v in values]
        if log_cost:
            values = [-v for v in values]
        ax.boxplot(values, showfliers=False, widths=0.55, medianprops={"color": "k"})
        for position, (name, v) in enumerate(zip(present, values), start=1):
            ax.scatter(
                position + rng.uniform(-0.18, 0.18, len(v)),
                v,
                s=9,
                alpha=0.55,
                color=controller_color(name, position - 1),
                zorder=3,
            )
        # more than a few names side by side overlap: slant them
        slanted = len(present) > 4
        ax.set_xticks(
            range(1, len(present) + 1),
            present,
            rotation=55 if slanted else 0,
            ha="right" if slanted else "center",
            rotation_mode="anchor",
            fontsize=8 if slanted else None,
        )
        ax.set_title(SCENARIO_TITLES.get(scenario, scenario), fontsize=10)
        if symlog:
            ax.set_yscale("symlog", linthresh=1.0)
        if log_cost:
            ax.set_yscale("log")
    default = ("minus " if log_cost else "") + metric.replace("_", " ") + (" (log scale)" if log_cost else "")
    axes[0][0].set_ylabel(ylabel or default)
    fig.tight_layout()
    return fig


def plot_policy_trajectories(evaluations: dict, names, scenarios=None, episode: int = 0):
    """Four rows (polymer, temperature, initiator feed, coolant) by one column per scenario.

    Draws episode ``episode`` of each controller in ``names`` (the same seed,
    so the same initial state, for all), the setpoint dashed and the
    temperature limit red.
    """
    if scenarios is None:
        scenarios = list(dict.fromkeys(scenario for _, scenario in evaluations))
    fig, axes = plt.subplots(4, len(scenarios), figsize=(4.2 * len(scenarios), 8), sharex=True, squeeze=False)
    rows = [
        ("polymer", "polymer P [kg/m3]"),
        ("temperature", "temperature T [K]"),
        ("initiator_feed", "initiator feed u_I [kg/h]"),
        ("coolant_temperature", "coolant T_c [K]"),
    ]
    for column, scenario in enumerate(scenarios):
        target = get_scenario(scenario).target
        for index, name in enumerate(names):
            series = episode_series(evaluations[(name, scenario)], episode)
            for row, (key, _) in enumerate(rows):
                axes[row, column].plot(
                    series["hours"], series[key], color=controller_color(name, index), lw=1.4, label=name
                )
        axes[0, column].axhline(target.polymer, color="k", ls="--", lw=1, label="setpoint")
        axes[1, column].axhline(target.temperature, color="k", ls="--", lw=1, label="setpoint")
        axes[1, column].axhline(TEMPERATURE_LIMIT, color="tab:red", lw=1.3, label="limit")
        axes[0, column].set_title(SCENARIO_TITLES.get(scenario, scenario), fontsize=10)
        axes[-1, column].set_xlabel("time [h]")
    for row, (_, label) in enumerate(rows):
        axes[row, 0].set_ylabel(label, fontsize=8)
    # below the panels, not over the curves: one entry per controller, then the setpoint and the limit
    handles, labels = axes[1, 0].get_legend_handles_labels()
    columns = min(len(labels), 6)
    rows_of_legend = -(-len(labels) // columns)
    fig.legend(handles, labels, loc="lower center", ncol=columns, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0.0, 0.03 * rows_of_legend + 0.01, 1.0, 1.0))
    return fig


def plot_offset_zoom(
    evaluations: dict, names, scenarios=None, hours: float | None = None, max_episodes: int = 20, robust: bool = True
):
    """The setpoint errors over the final ``hours`` of every episode (default: the final quarter,
    over which :func:`cstr.experiments.evaluation.evaluate` measures the steady-state offset).

    Two rows (polymer error [kg/m3], temperature error [K]) by one column per
    scenario; each controller's first ``max_episodes`` episodes as thin lines
    and their median as a bold line. Zero is the setpoint; a line that
    flattens away from zero is a steady-state offset. ``robust``: fit each
    panel's y axis to the 10th-90th percentiles of the errors drawn (and
    zero), so that a few outlying episodes do not flatten the rest; the
    panel title says how many episodes lie partly outside.
    """
    hours = FINAL_FRACTION * HORIZON * HOURS_PER_STEP if hours is None else float(hours)
    if scenarios is None:
        scenarios = list(dict.fromkeys(scenario for _, scenario in evaluations))
    fig, axes = plt.subplots(2, len(scenarios), figsize=(4.2 * len(scenarios), 5.2), sharex=True, squeeze=False)
    for column, scenario in enumerate(scenarios):
        setpoint = get_scenario(scenario).target.setpoint
        drawn = ([], [])
        for index, name in enumerate(names):
            rollout = evaluations[(name, scenario)].rollout
            time = (np.arange(rollout["next_states"].shape[1]) + 1) * HOURS_PER_STEP
            window = time > time[-1] - hours
            for row, state_column in enumerate((3, 4)):
                errors = setpoint[row] - rollout["next_states"][:, window, state_column]
                ax = axes[row, column]
                ax.plot(time[window], errors[:max_episodes].T, color=controller_color(name, index), lw=0.7, alpha=0.45)
                with np.errstate(all="ignore"):
                    median = np.nanmedian(errors, axis=0) if np.isfinite(errors).any() else errors[0]
                ax.plot(time[window], median, color=controller_color(name, index), lw=2.2, label=f"{name} (median)")
                drawn[row].append(errors[:max_episodes])
        for row in range(2):
            ax = axes[row, column]
            ax.axhline(0.0, color="k", ls="--", lw=1)
            values = np.concatenate([e.ravel() for e in drawn[row]])
            values = values[np.isfinite(values)]
            if robust and values.size:
                low, high = np.quantile(values, [0.1, 0.9])
                low, high = min(low, 0.0), max(high, 0.0)
                pad = 0.25 * max(high - low, 1e-3)
                ax.set_ylim(low - pad, high + pad)
                outside = sum(
                    int(np.any((e < low - pad) | (e > high + pad)))
                    for e in (episode for block in drawn[row] for episode in block)
                )
                if outside:
                    ax.text(
                        0.99,
                        0.02,
                        f"{outside} episode(s) partly off the axis",
                        transform=ax.transAxes,
                        ha="right",
                        va="bottom",
                        fontsize=7,
                        color="0.3",
                    )
        axes[0, column].set_title(SCENARIO_TITLES.get(scenario, scenario), fontsize=10)
        axes[-1, column].set_xlabel("time [h]")
    axes[0, 0].set_ylabel("polymer error $P_{sp} - P$ [kg/m3]", fontsize=8)
    axes[1, 0].set_ylabel("temperature error $T_{sp} - T$ [K]", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_value_check(checks: dict):
    """Scatter of :func:`value_check` results, one panel per scenario (``{scenario: check}``), with the diagonal."""

    fig, axes = plt.subplots(1, len(checks), figsize=(4.2 * len(checks), 3.8), squeeze=False)
    for ax, (scenario, check) in zip(axes[0], checks.items()):
        ax.scatter(check["discounted_return"], check["value"], s=12, alpha=0.7, label="$V(s_0)$")
        ax.scatter(check["discounted_return"], check["q"], s=12, alpha=0.7, marker="x", label=r"$\hat Q(s_0, a_0)$")
        low = min(np.min(check["discounted_return"]), np.min(check["value"]), np.min(check["q"]))
        high = max(np.max(check["discounted_return"]), np.max(check["value"]), np.max(check["q"]))
        ax.plot([low, high], [low, high], color="k", lw=1, ls="--", label="estimate = return")
        ax.set_title(SCENARIO_TITLES.get(scenario, scenario), fontsize=10)
        ax.set_xlabel("discounted return of the episode")
    axes[0][0].set_ylabel("critic's estimate (reward units)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig

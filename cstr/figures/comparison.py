"""Figures of chapter 8: NMPC at work, against the PI controllers, on one live episode."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from cstr.figures.style import controller_color
from cstr.plant.scenarios import HOURS_PER_STEP, TEMPERATURE_LIMIT

LINE_STYLES = ("-", "--", "-.", ":")


def plot_live_episode(rollouts: dict, names=("nmpc", "pi-tuned"), episode: int = 0, title: str | None = None):
    """Polymer, temperature (with the limit) and both inputs of one episode, every controller in ``names``.

    ``rollouts``: ``{name: rollout result}`` (:func:`cstr.control.rollout.rollout`:
    ``rewards [n, H]``, ``next_states [n, H, 5]``, ``actions [n, H, 2]``) on
    the same seeds; other keys are ignored. Four panels (2 by 2, one time
    axis): polymer and temperature above, the initiator feed and the coolant
    temperature (as steps, held over each interval) below; each controller
    in its colour and its own line style, in the order of ``names``.
    Returns the figure.
    """
    fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
    for index, name in enumerate(names):
        result = rollouts[name]
        hours = np.arange(1, result["rewards"].shape[1] + 1) * HOURS_PER_STEP
        style = {"ls": LINE_STYLES[index % len(LINE_STYLES)], "color": controller_color(name, index), "label": name}
        axes[0, 0].plot(hours, result["next_states"][episode, :, 3], **style)
        axes[0, 1].plot(hours, result["next_states"][episode, :, 4], **style)
        axes[1, 0].step(hours, result["actions"][episode, :, 0], where="pre", **style)
        axes[1, 1].step(hours, result["actions"][episode, :, 1], where="pre", **style)
    axes[0, 1].axhline(TEMPERATURE_LIMIT, color="red", lw=0.8)
    labels = ["polymer P [kg/m³]", "temperature T [K]", "initiator feed u_I [kg/h]", "coolant temperature T_c [K]"]
    for ax, label in zip(axes.flat, labels):
        ax.set_ylabel(label)
    axes[1, 0].set_xlabel("time [h]")
    axes[1, 1].set_xlabel("time [h]")
    axes[0, 0].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_reward_heatmap(table, title: str | None = None):
    """A table of mean total rewards as a heat map: one row per controller, one column per column of ``table``.

    Colour is minus the reward on a log scale (lower cost is lighter), so one
    bad cell stands out among many good ones; every cell is annotated with its
    value. ``table``: a DataFrame of mean total rewards (negative), columns may
    be a MultiIndex (joined with a line break in the labels).
    """
    from matplotlib.colors import LogNorm

    cost = -table.to_numpy(dtype=float)
    finite = cost[np.isfinite(cost) & (cost > 0)]
    norm = LogNorm(vmin=finite.min(), vmax=finite.max()) if finite.size else None
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * table.shape[1] + 2.5), 0.45 * table.shape[0] + 1.8))
    image = ax.imshow(np.where(cost > 0, cost, np.nan), cmap="magma_r", norm=norm, aspect="auto")
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            value = table.iat[i, j]
            if np.isfinite(value):
                dark = norm is not None and cost[i, j] > 0 and norm(cost[i, j]) > 0.6
                ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=8, color="white" if dark else "black")
    columns = ["\n".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in table.columns]
    ax.set_xticks(range(table.shape[1]), columns, fontsize=8)
    ax.set_yticks(range(table.shape[0]), list(table.index), fontsize=9)
    fig.colorbar(image, ax=ax, label="minus the mean total reward (log scale)")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_gap_bars(gap, title: str | None = None):
    """The gap metric as grouped bars: one group per controller, one bar per scenario (columns of ``gap``).

    0 is the behaviour policy's reward and 1 the oracle's (dashed lines); a
    bar below 0 did worse than the data's PI controllers. Values below -1 are
    drawn at -1 and labelled with their value.
    """
    names, scenarios = list(gap.index), list(gap.columns)
    width = 0.8 / len(scenarios)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(names) + 2.0), 3.4))
    for k, scenario in enumerate(scenarios):
        values = gap[scenario].to_numpy(dtype=float)
        x = np.arange(len(names)) + (k - (len(scenarios) - 1) / 2) * width
        ax.bar(x, np.maximum(values, -1.0), width, label=str(scenario), color=f"C{k}")
        for xi, value in zip(x, values):
            if value < -1.0:
                ax.text(xi, -1.0, f"{value:.1f}", ha="center", va="top", fontsize=7, rotation=90)
    for level in (0.0, 1.0):
        ax.axhline(level, color="0.3", linestyle="--", linewidth=0.8)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=9)
    ax.set_ylim(-1.25, max(1.1, float(np.nanmax(gap.to_numpy(dtype=float))) + 0.1))
    ax.set_ylabel("share of the gap closed\n(0: the data's PI, 1: NMPC)")
    ax.legend(fontsize=8, ncol=len(scenarios), loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig

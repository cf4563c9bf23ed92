"""Figures of chapters 5 and 6: cost contours over the action box, the cost's decrease along corrections."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from cstr.figures.style import CONTROLLER_COLORS, SCENARIO_TITLES
from cstr.safety.diagnostics import CONTOUR_GRID, cost_on_action_grid

CONTOUR_MARKERS = {
    "dataset": ("o", "k"),
    "iql": ("s", "tab:purple"),
    "iql+": ("*", "tab:pink"),
    "bc": ("^", "tab:green"),
    "bc+": ("P", "tab:olive"),
}
"""Marker and colour of each labelled action in :func:`plot_cost_contours`."""


def plot_cost_contours(
    weights: dict,
    observations,
    marks: dict | None = None,
    titles=None,
    points: int = CONTOUR_GRID,
    levels: int = 20,
    trust_region: float | None = None,
):
    """Contours of c(s_j, .) over the action plane, one panel per state ``observations[j]``.

    x: initiator feed [kg/h], y: coolant temperature [K]. ``marks``:
    ``{label: actions[n_states, 2]}`` drawn on the panels (the markers of
    :data:`CONTOUR_MARKERS` for the known labels). ``trust_region``: if
    given (normalised units), the box of that half-width around the
    ``"iql"`` mark, the set the correction may move within. The colour scale
    is per panel: only the shape of a surface matters to the correction.
    """
    observations = np.atleast_2d(observations)
    marks = marks or {}
    fig, axes = plt.subplots(1, len(observations), figsize=(3.6 * len(observations), 3.4), squeeze=False)
    half_width = (weights["action_high"] - weights["action_low"]) / 2.0
    for j, (ax, observation) in enumerate(zip(axes[0], observations)):
        feed, coolant, cost = cost_on_action_grid(weights, observation, points)
        contour = ax.contourf(feed, coolant, cost, levels=levels, cmap="viridis")
        ax.contour(feed, coolant, cost, levels=levels, colors="w", linewidths=0.3, alpha=0.5)
        fig.colorbar(contour, ax=ax, shrink=0.85, format="%.2g", label="cost c (standardised units)")
        low_index = np.unravel_index(np.argmin(cost), cost.shape)
        ax.plot(feed[low_index[1]], coolant[low_index[0]], "x", color="w", ms=8, mew=2, label="grid minimum")
        for index, (label, actions) in enumerate(marks.items()):
            marker, color = CONTOUR_MARKERS.get(label, ("D", f"C{index}"))
            action = np.atleast_2d(actions)[j]
            small = label == "dataset"  # drawn small and on top: it often sits under the policy's action
            ax.plot(
                action[0],
                action[1],
                marker,
                color=color,
                mec="w",
                ms=6 if small else 10,
                zorder=6 if small else 4 + index * 0.1,
                label=label,
            )
            if trust_region is not None and label == "iql":
                corner = np.maximum(action - trust_region * half_width, weights["action_low"])
                far = np.minimum(action + trust_region * half_width, weights["action_high"])
                ax.add_patch(
                    Rectangle(
                        tuple(corner),
                        *(far - corner),
                        fill=False,
                        ec="w",
                        ls="--",
                        lw=1,
                        label="trust region",
                        zorder=3,
                    )
                )
        ax.set_xlim(weights["action_low"][0], weights["action_high"][0])
        ax.set_ylim(weights["action_low"][1], weights["action_high"][1])
        ax.set_xlabel("initiator feed u_I [kg/h]")
        if titles is not None:
            ax.set_title(titles[j], fontsize=9)
        ax.grid(False)
    axes[0][0].set_ylabel("coolant temperature T_c [K]")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, facecolor="0.6", framealpha=1.0)
    return fig


def plot_correction_costs(drops: dict):
    """The cost along the corrections relative to its start, one panel per entry of
    ``drops`` (``{label: correction_cost_drop(...)}``): the median and the 10-90 % band over the states."""

    fig, axes = plt.subplots(1, len(drops), figsize=(3.8 * len(drops), 3.2), squeeze=False, sharey=True)
    for index, (ax, (label, drop)) in enumerate(zip(axes[0], drops.items())):
        steps = np.arange(len(drop["median"]))
        color = CONTROLLER_COLORS.get(label, f"C{index}")
        ax.fill_between(steps, drop["p10"], drop["p90"], color=color, alpha=0.25, label="10-90 %")
        ax.plot(steps, drop["median"], color=color, lw=1.8, label="median")
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("correction step k")
    axes[0][0].set_ylabel("c(s, a_k) - c(s, a_0)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


ZERO_POSITION = 1e-3
"""Where the trust-region sweep's delta = 0 (the uncorrected policy) is drawn on its logarithmic axis."""


def plot_authority_sweep(table, policies=("bc", "iql"), shipped_delta=None, nudge_delta=None, references=None):
    """Mean total reward against the trust region, one line per base policy and scenario panel.

    ``table``: :func:`cstr.experiments.authority.authority_table`; its rows
    ``"<policy>+ delta=<d>"`` (``d`` a number or ``box``, the whole box) give
    the points. ``shipped_delta`` (a number, or ``"box"``) and ``nudge_delta`` are marked; ``references``
    (``{label: {scenario: reward}}``, e.g. the minimiser alone) are drawn as
    horizontal lines.
    """
    present = [c for c in table.columns if c not in ("group", "mean", "mean move")]
    scenarios = [s for s in SCENARIO_TITLES if s in present] + [s for s in present if s not in SCENARIO_TITLES]
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.2 * len(scenarios), 3.4), squeeze=False)
    box_position = 2.0  # the whole box: every input may go anywhere in [-1, 1]
    for ax, scenario in zip(axes[0], scenarios):
        for index, policy in enumerate(policies):
            rows = table[table.index.str.startswith(f"{policy}+ delta=")]
            deltas = [box_position if label.endswith("box") else float(label.split("=")[1]) for label in rows.index]
            order = np.argsort(deltas)
            x, y = np.asarray(deltas)[order], rows[scenario].to_numpy()[order]
            color = CONTROLLER_COLORS.get(f"{policy}+", f"C{index}")
            ax.plot(np.maximum(x, ZERO_POSITION), y, "o-", color=color, label=f"{policy} corrected")
            if shipped_delta is not None:
                at = np.isclose(x, box_position if shipped_delta == "box" else shipped_delta)
                ax.plot(np.maximum(x[at], ZERO_POSITION), y[at], "*", color="black", markersize=13, zorder=5)
            if nudge_delta is not None:
                at = np.isclose(x, nudge_delta)
                ax.plot(x[at], y[at], "s", mfc="none", mec="black", markersize=10, zorder=5)
        for index, (label, values) in enumerate((references or {}).items()):
            ax.axhline(values[scenario], color="0.4", linestyle=["--", ":", "-."][index % 3], label=label)
        ax.set_xscale("log")
        # delta = 0 (the policy itself) sits at the left edge, the whole box at the right
        ax.set_xticks([ZERO_POSITION, 0.01, 0.1, 1.0, box_position], ["0", "0.01", "0.1", "1", "box"])
        ax.set_xlabel("trust region delta (normalised units)")
        ax.set_title(SCENARIO_TITLES.get(scenario, scenario), fontsize=10)
    axes[0, 0].set_ylabel("mean total reward (higher is better)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], marker="*", color="black", linestyle="none", markersize=11))
    labels.append("shipped setting")
    if nudge_delta is not None:
        handles.append(plt.Line2D([], [], marker="s", mfc="none", mec="black", linestyle="none", markersize=9))
        labels.append("nudge (small trust region)")
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig

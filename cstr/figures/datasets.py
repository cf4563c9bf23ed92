"""Figures of chapter 2: PI trajectory bundles, dataset coverage, returns."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from cstr.figures.style import SCENARIO_TITLES
from cstr.plant.scenarios import HOURS_PER_STEP, TEMPERATURE_LIMIT, get_scenario


def _padded(data, key, column):
    """``[episodes, longest]`` array of one column of ``key``, NaN after an episode ends."""
    lengths = np.bincount(data.episode_ids)
    out = np.full((len(lengths), lengths.max()), np.nan)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    values = getattr(data, key)[:, column] if column is not None else getattr(data, key)
    for e, (start, length) in enumerate(zip(starts, lengths)):
        out[e, :length] = values[start : start + length]
    return out


def plot_bundle(data, axes=None, highlight=None, max_episodes: int | None = None, color="tab:blue"):
    """Four panels for one scenario: polymer, temperature, initiator feed, coolant temperature.

    Every episode is a thin line; setpoints dashed black; the temperature
    limit red. ``highlight``: an optional dict from ``cstr.control.rollout``
    (one episode) drawn bold on top, e.g. ``pi-tuned``.
    """
    scenario = get_scenario(data.scenario)
    if axes is None:
        _, axes = plt.subplots(4, 1, figsize=(6, 8), sharex=True)
    panels = [
        ("next_states", 3, "polymer P [kg/m3]", scenario.target.polymer),
        ("next_states", 4, "temperature T [K]", scenario.target.temperature),
        ("actions", 0, "initiator feed u_I [kg/h]", None),
        ("actions", 1, "coolant T_c [K]", None),
    ]
    count = data.episode_count if max_episodes is None else min(max_episodes, data.episode_count)
    for ax, (key, column, label, setpoint) in zip(axes, panels):
        values = _padded(data, key, column)[:count]
        time = (np.arange(values.shape[1]) + (1 if key == "next_states" else 0)) * HOURS_PER_STEP
        ax.plot(time, values.T, color=color, lw=0.5, alpha=0.35)
        if highlight is not None:
            series = highlight["next_states" if key == "next_states" else "actions"][0, :, column]
            ax.plot(time[: len(series)], series, color="tab:orange", lw=1.8, label="pi-tuned")
        if setpoint is not None:
            ax.axhline(setpoint, color="k", ls="--", lw=1.2, label="setpoint")
        if column == 4 and key == "next_states":
            ax.axhline(TEMPERATURE_LIMIT, color="tab:red", lw=1.5, label="temperature limit")
        ax.set_ylabel(label, fontsize=8)
    axes[0].set_title(SCENARIO_TITLES.get(data.scenario, data.scenario), fontsize=10)
    axes[1].legend(fontsize=9, loc="lower right")
    axes[-1].set_xlabel("time [h]")
    return axes


def plot_bundles(datasets, highlights=None):
    """One column of :func:`plot_bundle` per dataset."""

    fig, axes = plt.subplots(4, len(datasets), figsize=(4.2 * len(datasets), 8), sharex=True)
    axes = np.asarray(axes).reshape(4, len(datasets))
    for column, data in enumerate(datasets):
        plot_bundle(data, axes[:, column], highlight=None if highlights is None else highlights[column])
    fig.tight_layout()
    return fig


def plot_coverage(datasets):
    """State-action coverage: polymer against initiator feed, temperature against coolant temperature."""

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for data in datasets:
        axes[0].scatter(data.actions[:, 0], data.next_states[:, 3], s=1, alpha=0.15, label=data.scenario)
        axes[1].scatter(data.actions[:, 1], data.next_states[:, 4], s=1, alpha=0.15, label=data.scenario)
    axes[0].set_xlabel("initiator feed u_I [kg/h]")
    axes[0].set_ylabel("polymer P after the step [kg/m3]")
    axes[1].set_xlabel("coolant temperature T_c [K]")
    axes[1].set_ylabel("temperature T after the step [K]")
    axes[1].axhline(TEMPERATURE_LIMIT, color="tab:red", lw=1.2, label="temperature limit")
    for ax in axes:
        legend = ax.legend(fontsize=8, markerscale=8)
        for handle in legend.legend_handles:
            handle.set_alpha(1.0)
    fig.tight_layout()
    return fig


def plot_returns(datasets, references=None):
    """Histograms of episode returns per scenario; ``references``: ``{scenario: {name: mean return}}``."""

    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.2))
    axes = np.atleast_1d(axes)
    for ax, data in zip(axes, datasets):
        returns = data.episode_returns()
        ax.hist(returns, bins=25, color="tab:blue", alpha=0.7, label="dataset episodes")
        for (name, value), color in zip(
            (references or {}).get(data.scenario, {}).items(), ("tab:orange", "tab:green", "tab:purple")
        ):
            ax.axvline(value, color=color, lw=2, label=name)
        ax.set_title(SCENARIO_TITLES.get(data.scenario, data.scenario), fontsize=10)
        ax.set_xlabel("episode return")
    axes[0].set_ylabel("episodes")
    axes[0].legend(fontsize=9)
    fig.tight_layout()
    return fig

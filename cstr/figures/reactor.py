"""Figures of chapter 1: van Heerden diagram, steady-state map, runaway, time scales, grade changes, QSSA check.

Everything drawn here is computed by :mod:`cstr.plant.analysis` (or, for the
quasi-steady-state exercise, by the chapter's own solution); these functions
only draw.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from cstr.plant.model import SECONDS_PER_HOUR
from cstr.plant.scenarios import CONTROL_INTERVAL, HORIZON, TEMPERATURE_LIMIT


def plot_van_heerden(balances, temperature_limit: float = TEMPERATURE_LIMIT):
    """Heat generation against heat removal, one panel per :class:`cstr.plant.analysis.HeatBalance`.

    The generation curve black, one removal line per coolant temperature,
    the steady states where they cross as circles (filled: stable, open:
    unstable), the temperature limit dashed red. Heat flows in kW.
    """
    fig, axes = plt.subplots(1, len(balances), figsize=(5.5 * len(balances), 4.2), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, balance in zip(axes, balances):
        ax.plot(balance.temperatures, balance.generation / 1e3, "k", lw=2.2, label=r"$Q_\mathrm{gen}$")
        colors = plt.cm.viridis(np.linspace(0.1, 0.85, len(balance.coolant_temperatures)))
        for k, (coolant, color) in enumerate(zip(balance.coolant_temperatures, colors)):
            ax.plot(
                balance.temperatures,
                balance.removal[k] / 1e3,
                color=color,
                label=rf"$Q_\mathrm{{rem}}$, $T_c$ = {coolant:.0f} K",
            )
            for temperature, generation, stable in zip(
                balance.steady_temperatures[k], balance.steady_generation[k], balance.steady_stable[k]
            ):
                ax.plot(temperature, generation / 1e3, "o", ms=8, color=color, mfc=color if stable else "white", mew=2)
        ax.axvline(temperature_limit, color="crimson", ls="--", lw=1, label=f"limit {temperature_limit:.0f} K")
        ax.set(
            title=f"initiator feed $u_I$ = {balance.initiator_feed:.2f} kg/h",
            xlabel="reactor temperature $T$ [K]",
            ylim=(-2, 32),
        )
        ax.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel("heat flow [kW]")
    fig.suptitle("Van Heerden diagram: filled = stable steady state, open = unstable", fontsize=11)
    fig.tight_layout()
    return fig


def plot_steady_state_map(
    ss_map, boundary_feeds, boundary, grade_inputs: dict, temperature_limit: float = TEMPERATURE_LIMIT
):
    """Steady temperature and steady polymer over the input box, from a :class:`cstr.plant.analysis.SteadyStateMap`.

    Unstable grid points hatched; the stability boundary (``boundary[:, 0]``,
    the coolant temperature at which the steady state at each of
    ``boundary_feeds`` loses stability, from
    :func:`cstr.plant.scenarios.stability_boundary`) white; the contour where
    the steady temperature equals the limit dashed cyan; ``grade_inputs``
    (``{name: (initiator feed, coolant temperature)}``) as markers.
    """
    coolants, feeds = ss_map.coolant_temperatures, ss_map.initiator_feeds
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.4), sharey=True)
    panels = [
        (ss_map.temperature, "steady temperature $T$ [K]", "inferno"),
        (ss_map.polymer, "steady polymer $P$ [kg/m³]", "viridis"),
    ]
    for ax, (field, label, cmap) in zip(axes, panels):
        image = ax.pcolormesh(coolants, feeds, field, cmap=cmap, shading="auto")
        fig.colorbar(image, ax=ax, label=label)
        ax.contourf(coolants, feeds, (~ss_map.stable).astype(float), levels=[0.5, 1.5], colors="none", hatches=["//"])
        ax.plot(boundary[:, 0], boundary_feeds, "w-", lw=2.5, label="stability boundary")
        ax.contour(
            coolants,
            feeds,
            ss_map.temperature,
            levels=[temperature_limit],
            colors="cyan",
            linewidths=1.8,
            linestyles="--",
        )
        for (name, (feed, coolant)), marker in zip(grade_inputs.items(), ["s", "D"]):
            ax.plot(coolant, feed, marker, color="white", mec="black", ms=9, label=f"{name} grade")
        ax.plot([], [], "c--", label=f"$T$ = {temperature_limit:.0f} K")
        ax.set(xlabel="coolant temperature $T_c$ [K]", title=label.split(" [")[0] + " (hatched: unstable)")
    axes[0].set_ylabel("initiator feed $u_I$ [kg/h]")
    axes[1].legend(loc="lower left", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    return fig


def plot_runaway(responses, colors=("crimson", "tab:blue"), temperature_limit: float = TEMPERATURE_LIMIT):
    """Perturbed steady states (:class:`cstr.plant.responses.PerturbedResponse`, one feed): temperature and phase plane.

    Left: reactor temperature against time, with the limit dashed; right:
    temperature against monomer, where an unstable steady state shows its
    limit cycle. The title gives the first response's initiator feed.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.2), gridspec_kw={"width_ratios": [1.6, 1]})
    for response, color in zip(responses, colors):
        coolant = response.inputs[1]
        label = (
            f"$T_c$ = {coolant:.0f} K ({'stable' if response.stable else 'unstable'} "
            f"steady state {response.steady_state[4]:.1f} K)"
        )
        axes[0].plot(response.times_h, response.states[:, 4], color=color, label=label)
        axes[1].plot(response.states[:, 0], response.states[:, 4], color=color, lw=1)
    axes[0].axhline(temperature_limit, color="k", ls="--", lw=1, label=f"limit {temperature_limit:.0f} K")
    axes[0].set(
        xlabel="time [h]",
        ylabel="reactor temperature $T$ [K]",
        title=f"$u_I$ = {responses[0].inputs[0]:g} kg/h, inputs held",
    )
    axes[0].legend(fontsize=8, loc="upper left")
    axes[1].set(
        xlabel="monomer $A$ [kg/m³]", ylabel="reactor temperature $T$ [K]", title="phase plane: the limit cycle"
    )
    fig.tight_layout()
    return fig


def plot_time_scales(scales: dict, control_interval: float = CONTROL_INTERVAL, horizon: int = HORIZON):
    """Time scales of the linearised reactor, ``{grade name: TimeScales}``, as horizontal bars in hours.

    One row per mode, labelled by the state dominating it (in the first
    grade's order); the control interval [s] and the horizon (``horizon``
    intervals) as vertical lines; log scale.
    """
    fig, ax = plt.subplots(figsize=(9, 3.6))
    names = list(next(iter(scales.values())).dominant_state)
    positions = np.arange(len(names))
    offsets = np.linspace(-0.18, 0.18, len(scales)) if len(scales) > 1 else [0.0]
    for offset, (name, s) in zip(offsets, scales.items()):
        values = [s.time_scale_of(n) / SECONDS_PER_HOUR for n in names]
        ax.barh(positions + offset, values, height=0.34, label=f"{name} grade")
    ax.axvline(
        control_interval / SECONDS_PER_HOUR,
        color="k",
        ls="--",
        label=f"control interval {control_interval / SECONDS_PER_HOUR:.1f} h",
    )
    ax.axvline(
        horizon * control_interval / SECONDS_PER_HOUR,
        color="crimson",
        ls=":",
        label=f"horizon {horizon * control_interval / SECONDS_PER_HOUR:.0f} h",
    )
    ax.set_xscale("log")
    ax.set(
        yticks=positions,
        yticklabels=names,
        xlabel="time scale $1/|\\mathrm{Re}\\,\\lambda|$ [h] (log scale)",
        title="Time scales of the linearised reactor at the two grades",
    )
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_grade_changes(changes: dict, window: float = 40.0, band: float = 0.02, colors=("tab:orange", "tab:blue")):
    """Open-loop grade changes, ``{name: GradeChange}`` (:func:`cstr.plant.responses.grade_change`).

    Polymer (left) and temperature (right) over the first ``window`` hours,
    the ±``band`` settling band of each change shaded, the settling times
    dashed.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.2))
    for (name, change), color in zip(changes.items(), colors):
        shown = change.times_h <= window
        for ax, index, target, start in [
            (axes[0], 3, change.target.polymer, change.start.polymer),
            (axes[1], 4, change.target.temperature, change.start.temperature),
        ]:
            ax.plot(
                change.times_h[shown],
                change.states[shown, index],
                color=color,
                marker=".",
                ms=3,
                label=f"grade {name}: {change.start.name} → {change.target.name}",
            )
            half_width = band * abs(target - start)
            ax.axhspan(target - half_width, target + half_width, color=color, alpha=0.15)
        axes[0].axvline(change.polymer_settling_h, color=color, ls="--", lw=1)
        axes[1].axvline(change.temperature_settling_h, color=color, ls="--", lw=1)
    axes[0].set(
        xlabel="time [h]", ylabel="polymer $P$ [kg/m³]", title=f"polymer (bands: ±{100 * band:g} % of the change)"
    )
    axes[1].set(xlabel="time [h]", ylabel="reactor temperature $T$ [K]", title="temperature (dashed: settling time)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_quasi_steady_startup(
    times_h, radicals, quasi_steady_radicals, polymer_error, radical_time_scale, window_h: float = 3.0
):
    """The quasi-steady-state exercise: radicals against their quasi-steady value, and the reduced model's error.

    Left, over the first ``window_h`` hours: the full model's radicals and
    the quasi-steady radicals for the same initiator and temperature, both
    [mol/m3], drawn in µmol/m³. Right, log scale: the reduced model's
    relative polymer error (a fraction, drawn in %, from the second sample
    on) and the radical time scale [s] of the full model.
    """
    times_h = np.asarray(times_h)
    radicals = np.asarray(radicals)
    quasi_steady_radicals = np.asarray(quasi_steady_radicals)
    polymer_error = np.asarray(polymer_error)
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 3.9))
    first = times_h <= window_h
    axes[0].plot(times_h[first], radicals[first] * 1e6, "k", label="full model $R$")
    axes[0].plot(
        times_h[first], quasi_steady_radicals[first] * 1e6, "C1--", label="quasi-steady $R$ for the same $I$, $T$"
    )
    axes[0].set(
        xlabel="time [h]", ylabel="radicals $R$ [µmol/m³]", title="startup: radicals lag their quasi-steady value"
    )
    axes[0].legend(fontsize=8)
    axes[1].semilogy(times_h[1:], 100 * polymer_error[1:], "C3", label="polymer error of the reduced model [%]")
    axes[1].semilogy(times_h, radical_time_scale, "C0", label="radical time scale of the full model [s]")
    axes[1].set(xlabel="time [h]", title="error and radical time scale")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig

"""A process engineer's audit of the reactor: what the prototype's kinetics imply.

The benchmark keeps the kinetics of the first author's public prototype (the default
``cstr.plant.model.DEFAULT_PARAMETERS``). An engineer reading them asks
questions the balances do not answer at a glance; :func:`reactor_audit`
answers them per grade, from the model:

* **the initiator's half-life** ``ln 2 / k_d`` at the grade temperature, and
  the **share of the fed initiator that decomposes** in the reactor,
  ``k_d / (k_d + D)`` (steady initiator balance of a CSTR). With
  ``k_d0 = 1e9`` 1/s and ``E_d = 125`` kJ/mol almost none does: the
  initiator passes through as a tracer whose feed sets the radical supply
  ``2 k_d I`` linearly;
* **how strongly the radical supply rises with temperature**,
  ``d ln(k_d I) / dT = E_d / (R T^2) * D / (k_d + D)`` at a fixed feed, once
  the initiator's inventory has settled (its time constant is
  ``1 / (k_d + D)``): the reaction's positive thermal feedback through the
  initiator, quasi-statically. A tracer initiator passes on its full
  activation energy; one that is mostly consumed in the reactor damps it on
  slow excursions, because a hotter reactor leaves less of it (a fast
  excursion still sees the full Arrhenius slope);
* **monomer conversion** ``P / (M + P)``;
* **time constants against the control interval**: residence time, the
  jacket-and-flow thermal time constant, and the thermal mode of the
  linearised reactor;
* **the kind of instability**: at the grade's initiator feed, raise the
  coolant until the steady state loses stability (:func:`stability_boundary`)
  and look at the eigenvalues there. A complex pair crossing the imaginary
  axis is a **Hopf** bifurcation (growing oscillations); a real eigenvalue
  crossing zero (``"real"``) is, where several steady states coexist,
  thermal **ignition** to a hot one.

:func:`literature_initiator` builds a clearly named non-default parameter set
with an azo initiator of the kind polymer plants use (AIBN-like: a 10-hour
half-life at 65 °C), for comparison. It changes only the initiator: the rest
of the kinetics and the input box stay the prototype's, so it is a hybrid for
comparison at the grades, not a model of a real reactor.
"""

from __future__ import annotations

import numpy as np

from cstr.plant.model import (
    DEFAULT_PARAMETERS,
    SECONDS_PER_HOUR,
    ReactorParameters,
    dilution_rate,
    jacobian,
    rate_constants,
    residence_time,
    steady_states,
)
from cstr.plant.scenarios import CONTROL_INTERVAL, GRADES, stability_boundary, time_constants

SECONDS_PER_YEAR = 365.25 * 24 * SECONDS_PER_HOUR

AZO_TEN_HOUR_TEMPERATURE = 338.15
"""Temperature [K] at which an AIBN-like azo initiator has a 10-hour half-life (65 °C, as initiator suppliers
tabulate it for AIBN in toluene)."""

AZO_ACTIVATION_ENERGY = 130e3
"""Decomposition activation energy [J/mol] of an AIBN-like azo initiator (azo initiators lie near 125-135 kJ/mol)."""


def initiator_half_life(temperature, params: ReactorParameters = DEFAULT_PARAMETERS):
    """Half-life ``ln 2 / k_d`` [s] of the initiator at ``temperature`` [K]."""
    return np.log(2.0) / rate_constants(temperature, params)[0]


def initiator_decomposed_share(temperature, initiator_feed, params: ReactorParameters = DEFAULT_PARAMETERS):
    """Share of the fed initiator that decomposes in the reactor at steady state, ``k_d / (k_d + D)``.

    The rest leaves with the outflow. ``initiator_feed`` [kg/h] sets the
    dilution rate ``D`` (it adds to the flow).
    """
    k_d = rate_constants(temperature, params)[0]
    return k_d / (k_d + dilution_rate(initiator_feed, params))


def radical_supply_sensitivity(temperature, initiator_feed, params: ReactorParameters = DEFAULT_PARAMETERS):
    """``d ln(k_d I) / dT`` [1/K] at steady initiator balance and a fixed feed: ``E_d / (R T^2) * D / (k_d + D)``."""
    arrhenius = params.decomposition_activation / (params.gas_constant * np.asarray(temperature, dtype=float) ** 2)
    return arrhenius * (1.0 - initiator_decomposed_share(temperature, initiator_feed, params))


def instability_kind(initiator_feed, params: ReactorParameters = DEFAULT_PARAMETERS, step: float = 0.05) -> dict:
    """How the steady state at ``initiator_feed`` [kg/h] loses stability as the coolant rises.

    Returns ``{"coolant_K", "temperature_K", "kind", "period_h", "steady_state_count"}``: the coolant and
    steady temperature at the boundary; ``kind`` is ``"hopf"`` when the eigenvalue that crosses is one of a
    complex pair, ``"real"`` when it is real (ignition, where ``steady_state_count`` > 1), ``"none"`` when the
    steady state is stable over the whole coolant range (then the other entries are NaN); ``period_h`` is the
    period ``2 pi / |Im lambda|`` of the crossing pair [h]; ``steady_state_count`` is the number of steady
    states just past the boundary (``step`` K above it). A feed whose steady state is already unstable at the
    coolant's lower bound reports that bound as ``coolant_K``.
    """
    lowest = params.coolant_temperature_bounds[0]
    coolant, temperature = stability_boundary([initiator_feed], params)[0]
    if np.isnan(coolant):
        state = steady_states(initiator_feed, lowest, params)[0]
        if np.linalg.eigvals(jacobian(state, [initiator_feed, lowest], params)).real.max() < 0.0:
            return {"coolant_K": np.nan, "temperature_K": np.nan, "kind": "none", "period_h": np.nan,
                    "steady_state_count": 0}  # fmt: skip
        coolant, temperature, step = lowest, float(state[4]), 0.0  # unstable from the lower bound up

    past = min(coolant + step, params.coolant_temperature_bounds[1])
    roots = steady_states(initiator_feed, past, params)
    eigenvalues = np.linalg.eigvals(jacobian(roots[0], [initiator_feed, past], params))
    crossing = eigenvalues[np.argmax(eigenvalues.real)]
    oscillatory = abs(crossing.imag) > 1e-9 * max(abs(crossing.real), 1e-12)
    return {
        "coolant_K": float(coolant),
        "temperature_K": float(temperature),
        "kind": "hopf" if oscillatory else "real",
        "period_h": float(2.0 * np.pi / abs(crossing.imag) / SECONDS_PER_HOUR) if oscillatory else np.inf,
        "steady_state_count": len(roots),
    }


def reactor_audit(
    grades=GRADES, params: ReactorParameters = DEFAULT_PARAMETERS, interval: float = CONTROL_INTERVAL
) -> list:
    """One row per grade: the figures a process engineer checks first (see the module docstring).

    ``interval`` is the control interval [s] the time constants are compared with. Time in hours unless the name
    says otherwise.
    """
    from cstr.plant.analysis import eigen_time_scales

    constants = time_constants(params)
    rows = []
    for grade in grades:
        feed, coolant = grade.steady_inputs(params)
        state = grade.steady_state(params)
        scales = eigen_time_scales(state, [feed, coolant], params)
        boundary = instability_kind(feed, params)
        half_life = float(initiator_half_life(grade.temperature, params))
        rows.append(
            {
                "grade": grade.name,
                "temperature_K": grade.temperature,
                "initiator_feed": float(feed),
                "initiator_half_life_h": half_life / SECONDS_PER_HOUR,
                "initiator_half_life_years": half_life / SECONDS_PER_YEAR,
                "initiator_decomposed_share": float(initiator_decomposed_share(grade.temperature, feed, params)),
                "initiator_time_constant_h": float(
                    1.0 / (rate_constants(grade.temperature, params)[0] + dilution_rate(feed, params))
                )
                / SECONDS_PER_HOUR,
                "radical_supply_sensitivity_per_K": float(radical_supply_sensitivity(grade.temperature, feed, params)),
                "monomer_conversion": float(state[3] / (state[0] + state[3])),
                "residence_time_h": float(residence_time(feed, params)) / SECONDS_PER_HOUR,
                "thermal_time_constant_h": float(constants["thermal_time_constant"]) / SECONDS_PER_HOUR,
                "thermal_mode_h": scales.time_scale_of("temperature") / SECONDS_PER_HOUR,
                "interval_over_thermal_time_constant": interval / float(constants["thermal_time_constant"]),
                "instability": boundary["kind"],
                "instability_coolant_K": boundary["coolant_K"],
                "instability_temperature_K": boundary["temperature_K"],
                "oscillation_period_h": boundary["period_h"],
                "steady_states_past_boundary": boundary["steady_state_count"],
            }
        )
    return rows


def literature_initiator(
    params: ReactorParameters = DEFAULT_PARAMETERS,
    ten_hour_temperature: float = AZO_TEN_HOUR_TEMPERATURE,
    activation_energy: float = AZO_ACTIVATION_ENERGY,
) -> ReactorParameters:
    """``params`` with an azo initiator of literature activity instead of the prototype's; **not** the default.

    The pre-exponential factor is chosen so that the half-life is 10 h at ``ten_hour_temperature`` [K] with
    ``activation_energy`` [J/mol]: ``k_d0 = ln 2 / 10 h * exp(E_d / (R T_10h))``. Every other parameter is kept.
    """
    k_d_at_ten_hours = np.log(2.0) / (10.0 * SECONDS_PER_HOUR)
    prefactor = k_d_at_ten_hours * np.exp(activation_energy / (params.gas_constant * ten_hour_temperature))
    return params.with_changes(decomposition_prefactor=float(prefactor), decomposition_activation=activation_energy)

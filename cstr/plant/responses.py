"""Responses in time with the inputs held: open-loop runs, settling times, grade changes, runaways.

The second half of chapter 1's analysis (the first, steady states and time
scales, is :mod:`cstr.plant.analysis`):

* :func:`open_loop_response`: a state integrated over intervals with the inputs held;
* :func:`settling_time`: when a signal enters a band around its final value for good;
* :func:`grade_change`: the open-loop transition between two grades;
* :func:`perturbed_response`: a steady state nudged and left alone, the runaway of an unstable one;
* :func:`grade_table`: the grades with their steady inputs, stability and margins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cstr.plant.analysis import eigen_time_scales
from cstr.plant.model import (
    DEFAULT_PARAMETERS,
    SECONDS_PER_HOUR,
    ReactorParameters,
    steady_states,
)
from cstr.plant.scenarios import (
    CONTROL_INTERVAL,
    GRADES,
    HORIZON,
    TEMPERATURE_LIMIT,
    Grade,
    get_scenario,
    stability_boundary,
)
from cstr.plant.simulate import STATUS_MESSAGES, STATUS_OK, IntegrationError, advance_batch


def open_loop_response(
    start_state, inputs, steps: int, interval: float = CONTROL_INTERVAL, params: ReactorParameters = DEFAULT_PARAMETERS
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate ``steps`` intervals of ``interval`` seconds with the inputs given.

    ``inputs`` is one pair ``[2]`` held throughout, or a schedule
    ``[steps, 2]`` (one pair per interval). Integrated with
    :func:`cstr.plant.simulate.advance_batch` (RODAS4), carrying the step size from
    one interval to the next. Returns ``(times_h [steps + 1], states
    [steps + 1, 5])``, starting with ``start_state`` at time 0. Raises
    :class:`cstr.plant.simulate.IntegrationError` if the integrator fails.
    """
    inputs = np.asarray(inputs, dtype=float)
    schedule = np.broadcast_to(inputs, (steps, 2)) if inputs.ndim == 1 else inputs
    if schedule.shape != (steps, 2):
        raise ValueError(f"inputs must have shape [2] or [{steps}, 2], got {inputs.shape}")
    states = np.empty((steps + 1, 5))
    states[0] = start_state
    hints = np.ones(1)
    current = states[:1].copy()
    for k in range(steps):
        current, status = advance_batch(current, schedule[k : k + 1], interval, params, step_hints=hints)
        if status[0] != STATUS_OK:
            raise IntegrationError(f"interval {k}: {STATUS_MESSAGES[int(status[0])]}")
        states[k + 1] = current[0]
    times_h = np.arange(steps + 1) * interval / SECONDS_PER_HOUR
    return times_h, states


def hours_to_limit(
    scenario: str, inputs=None, steps: int = HORIZON, params: ReactorParameters = DEFAULT_PARAMETERS
) -> float | None:
    """Holding ``inputs`` (default: both at the top of their ranges, the most initiator and the warmest jacket)
    from ``scenario``'s nominal start: the time [h] at the end of the first control interval whose temperature is
    at or above the limit, ``None`` if it stays below for ``steps`` intervals. How soon a scenario runs away when
    a controller lets it: whether staying below the limit there says anything about a controller."""
    if inputs is None:
        inputs = [params.initiator_feed_bounds[1], params.coolant_temperature_bounds[1]]
    state, _ = get_scenario(scenario).nominal_start(params)
    times, states = open_loop_response(state, inputs, steps, params=params)
    above = np.flatnonzero(states[:, 4] >= TEMPERATURE_LIMIT)
    return float(times[above[0]]) if above.size else None


def settling_time(times, signal, final: float | None = None, band: float = 0.02, initial: float | None = None) -> float:
    """The time after which ``signal`` stays within ``band`` of the size of its change.

    The band is ``band * |final - initial|`` around ``final`` (defaults: the
    last and the first sample). The time returned is where the signal last
    enters the band, interpolated linearly between the samples on either
    side; ``times[0]`` if it never leaves the band and NaN if it is still
    outside at the end. Same units as ``times``.
    """
    times = np.asarray(times, dtype=float)
    signal = np.asarray(signal, dtype=float)
    final = signal[-1] if final is None else float(final)
    initial = signal[0] if initial is None else float(initial)
    tolerance = band * abs(final - initial)
    distance = np.abs(signal - final)
    outside = np.flatnonzero(distance > tolerance)
    if outside.size == 0:
        return float(times[0])
    last = outside[-1]
    if last == signal.size - 1:
        return float("nan")
    # distance crosses the tolerance between samples last and last + 1
    d0, d1 = distance[last], distance[last + 1]
    fraction = (d0 - tolerance) / (d0 - d1)
    return float(times[last] + fraction * (times[last + 1] - times[last]))


@dataclass(frozen=True)
class GradeChange:
    """An open-loop grade change: the target's steady inputs applied at time 0."""

    start: Grade
    target: Grade
    inputs: np.ndarray  # [2] the target's steady inputs, held
    times_h: np.ndarray  # [steps + 1]
    states: np.ndarray  # [steps + 1, 5]
    polymer_settling_h: float
    temperature_settling_h: float

    @property
    def settling_h(self) -> float:
        """The later of the polymer and the temperature settling times [h]."""
        return max(self.polymer_settling_h, self.temperature_settling_h)


def grade_change(
    start: Grade,
    target: Grade,
    steps: int = HORIZON,
    interval: float = CONTROL_INTERVAL,
    band: float = 0.02,
    params: ReactorParameters = DEFAULT_PARAMETERS,
) -> GradeChange:
    """Start at ``start``'s steady state, switch the inputs to ``target``'s steady inputs.

    Settling is measured with :func:`settling_time` against the target grade's
    polymer and temperature, the band a fraction ``band`` of the change.
    """
    inputs = target.steady_inputs(params)
    times_h, states = open_loop_response(start.steady_state(params), inputs, steps, interval, params)
    polymer = settling_time(times_h, states[:, 3], target.polymer, band, start.polymer)
    temperature = settling_time(times_h, states[:, 4], target.temperature, band, start.temperature)
    return GradeChange(start, target, inputs, times_h, states, polymer, temperature)


@dataclass(frozen=True)
class PerturbedResponse:
    """A steady state nudged off balance, with its inputs held."""

    inputs: np.ndarray  # [2] initiator feed kg/h, coolant temperature K
    steady_state: np.ndarray  # [5] the (lowest-temperature) steady state for ``inputs``
    stable: bool  # whether that steady state is stable
    times_h: np.ndarray  # [steps + 1]
    states: np.ndarray  # [steps + 1, 5], starting at the nudged state


def perturbed_response(
    inputs,
    steps: int,
    interval: float = CONTROL_INTERVAL,
    temperature_offset: float = 0.1,
    params: ReactorParameters = DEFAULT_PARAMETERS,
) -> PerturbedResponse:
    """Start ``temperature_offset`` K above the steady state for ``inputs`` and hold them.

    The steady state is the lowest-temperature one of
    :func:`cstr.plant.model.steady_states`; its stability comes from
    :func:`eigen_time_scales`. An unstable one grows into an oscillation
    (a limit cycle), a stable one decays back. Simulated with
    :func:`open_loop_response` for ``steps`` intervals of ``interval`` s.
    """
    inputs = np.asarray(inputs, dtype=float)
    steady = steady_states(inputs[0], inputs[1], params)[0]
    start = steady + np.array([0.0, 0.0, 0.0, 0.0, temperature_offset])
    stable = bool(eigen_time_scales(steady, inputs, params).eigenvalues.real.max() < 0)
    times_h, states = open_loop_response(start, inputs, steps, interval, params)
    return PerturbedResponse(inputs, steady, stable, times_h, states)


def grade_table(grades=GRADES, params: ReactorParameters = DEFAULT_PARAMETERS) -> list[dict]:
    """One row per grade: setpoint, steady inputs, steady state, stability and margins.

    ``coolant_margin_K`` is how far the coolant could be raised at the grade's
    initiator feed before the steady state loses stability (up to the
    coolant's upper bound if it never does); ``limit_margin_K`` is the
    distance of the grade's temperature below :data:`TEMPERATURE_LIMIT`;
    ``feed_fraction`` and ``coolant_fraction`` place the steady inputs in
    their bounds (0 = lower bound, 1 = upper bound).
    """
    rows = []
    feed_low, feed_high = params.initiator_feed_bounds
    coolant_low, coolant_high = params.coolant_temperature_bounds
    for grade in grades:
        feed, coolant = grade.steady_inputs(params)
        state = grade.steady_state(params)
        scales = eigen_time_scales(state, [feed, coolant], params)
        boundary = stability_boundary([feed], params)[0, 0]
        ceiling = coolant_high if np.isnan(boundary) else boundary
        rows.append(
            {
                "grade": grade.name,
                "polymer": grade.polymer,
                "temperature": grade.temperature,
                "initiator_feed": float(feed),
                "coolant_temperature": float(coolant),
                "monomer": float(state[0]),
                "initiator": float(state[1]),
                "radicals": float(state[2]),
                "conversion": float(state[3] / (state[0] + state[3])),
                "steady_state_count": len(steady_states(feed, coolant, params)),
                "max_real_eigenvalue": float(scales.eigenvalues.real.max()),
                "stable": bool(scales.eigenvalues.real.max() < 0.0),
                "coolant_margin_K": float(ceiling - coolant),
                "limit_margin_K": float(TEMPERATURE_LIMIT - grade.temperature),
                "feed_fraction": float((feed - feed_low) / (feed_high - feed_low)),
                "coolant_fraction": float((coolant - coolant_low) / (coolant_high - coolant_low)),
            }
        )
    return rows

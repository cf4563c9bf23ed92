"""The analysis behind chapter 1: steady-state maps, time scales, step responses.

Chapter 1 of the book justifies every operating decision of
:mod:`cstr.scenarios` (the two grades, the temperature limit, the control
interval and the horizon) from the model's own behaviour. Every computation
its figures and tables need lives here, so that it is tested and can be
reused:

* :func:`steady_state_map`: steady temperature, polymer, stability and the
  number of steady states over a grid of constant inputs;
* :func:`eigen_time_scales`: the time scales of the linearised reactor at a
  steady state, each labelled with the state that dominates its mode;
* :func:`radical_outflow_share`: how much of the radical loss is carried out
  by the through-flow (the dilution term of the radical balance);
* :func:`monomer_polymer_residual` and :func:`monomer_polymer_closed_form`:
  the mass conservation of monomer + polymer, pointwise and along a run;
* :func:`open_loop_response`, :func:`settling_time`, :func:`grade_change`:
  open-loop responses with the inputs held, and how long they take to settle;
* :func:`grade_table`: the grades with their steady inputs and margins;
* :func:`reference_agreement`: the environment against SciPy's LSODA
  driven by the same actions, and their worst relative disagreement.

Units follow :mod:`cstr.model`: concentrations in kg/m3 (radicals in mol/m3),
temperatures in K, initiator feed in kg/h, time in seconds unless a name
ends in ``_h`` (hours).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from cstr.model import (
    DEFAULT_PARAMETERS,
    SECONDS_PER_HOUR,
    STATE_NAMES,
    ReactorParameters,
    dilution_rate,
    heat_generation,
    jacobian,
    rate_constants,
    rhs,
    steady_states,
    volumetric_flow,
)
from cstr.scenarios import (
    CONTROL_INTERVAL,
    GRADES,
    HORIZON,
    TEMPERATURE_LIMIT,
    Grade,
    stability_boundary,
)
from cstr.simulate import (
    STATUS_MESSAGES,
    STATUS_OK,
    IntegrationError,
    advance_batch,
    integrate_interval,
    relative_error,
)

# --------------------------------------------------------------------------
# The parameters, with symbols and units

PARAMETER_INFO = {
    "volume": ("V", "m3", "reactor (liquid) volume"),
    "density": ("rho", "kg/m3", "density of every stream and of the contents"),
    "heat_capacity": ("c_p", "J/(kg K)", "specific heat capacity"),
    "jacket_ua": ("UA", "W/K", "jacket heat-transfer coefficient times area"),
    "heat_of_propagation": ("-dH_p", "J/mol", "heat released per mole of monomer polymerised"),
    "feed_temperature": ("T_f", "K", "temperature of all feeds"),
    "monomer_feed": ("F_A", "kg/h", "monomer mass feed"),
    "solvent_feed": ("F_S", "kg/h", "solvent mass feed"),
    "monomer_molar_mass": ("M_A", "kg/mol", "molar mass of the monomer"),
    "initiator_molar_mass": ("M_I", "kg/mol", "molar mass of the initiator"),
    "gas_constant": ("R_g", "J/(mol K)", "gas constant"),
    "decomposition_prefactor": ("k_d0", "1/s", "initiator decomposition, pre-exponential factor"),
    "decomposition_activation": ("E_d", "J/mol", "initiator decomposition, activation energy"),
    "propagation_prefactor": ("k_p0", "m3/(mol s)", "propagation, pre-exponential factor"),
    "propagation_activation": ("E_p", "J/mol", "propagation, activation energy"),
    "termination_prefactor": ("k_t0", "m3/(mol s)", "termination, pre-exponential factor"),
    "termination_activation": ("E_t", "J/mol", "termination, activation energy"),
    "initiator_feed_bounds": ("u_I", "kg/h", "bounds of the initiator feed (input 1)"),
    "coolant_temperature_bounds": ("T_c", "K", "bounds of the coolant temperature (input 2)"),
}
"""Symbol, unit and meaning of every field of :class:`cstr.model.ReactorParameters`."""


def parameter_table(params: ReactorParameters = DEFAULT_PARAMETERS) -> list[dict]:
    """One row per field of ``params``: name, symbol, value, unit, meaning.

    Raises ``KeyError`` if the dataclass gained a field this table does not describe.
    """
    rows = []
    for field in fields(params):
        symbol, unit, meaning = PARAMETER_INFO[field.name]
        rows.append({"parameter": field.name, "symbol": symbol, "value": getattr(params, field.name),
                     "unit": unit, "meaning": meaning})
    return rows


def heat_removal_slope(initiator_feed, params: ReactorParameters = DEFAULT_PARAMETERS) -> float:
    """Slope of the heat-removal line, ``UA + rho c_p q`` [W/K]."""
    return float(params.jacket_ua + params.density * params.heat_capacity * volumetric_flow(initiator_feed, params))


def heat_slope_ratio(temperature, initiator_feed, params: ReactorParameters = DEFAULT_PARAMETERS,
                     step: float = 1e-3):
    """``(dQ_gen/dT) / (dQ_rem/dT)`` at ``temperature`` (central difference of ``step`` K).

    Van Heerden's static condition: a steady state with a ratio above 1 is
    unstable (heat generation outruns removal); below 1 is necessary, not
    sufficient, for stability.
    """
    temperature = np.asarray(temperature, dtype=float)
    slope = (heat_generation(temperature + step, initiator_feed, params)
             - heat_generation(temperature - step, initiator_feed, params)) / (2.0 * step)
    return slope / heat_removal_slope(initiator_feed, params)


# --------------------------------------------------------------------------
# Steady states over the input box

@dataclass(frozen=True)
class SteadyStateMap:
    """Steady states over a grid of constant inputs.

    Arrays are indexed ``[feed, coolant]``. Where several steady states exist
    for one input pair, ``temperature``, ``polymer``, ``max_real_eigenvalue``
    and ``stable`` describe the **lowest-temperature** one (the state a
    reactor reaches from a cold start); ``count`` says how many there are.
    """

    initiator_feeds: np.ndarray  # [n_feed] kg/h
    coolant_temperatures: np.ndarray  # [n_coolant] K
    temperature: np.ndarray  # [n_feed, n_coolant] K
    polymer: np.ndarray  # [n_feed, n_coolant] kg/m3
    max_real_eigenvalue: np.ndarray  # [n_feed, n_coolant] 1/s, > 0 means unstable
    stable: np.ndarray  # [n_feed, n_coolant] bool
    count: np.ndarray  # [n_feed, n_coolant] int, number of steady states

    @property
    def unstable_fraction(self) -> float:
        """Fraction of the grid points whose steady state is unstable."""
        return float(np.mean(~self.stable))

    def lowest_unstable_temperature(self) -> float:
        """The lowest steady temperature [K] on the grid at which the steady state is
        unstable (NaN if every grid point is stable). A grid estimate, from above,
        of :func:`cstr.scenarios.lowest_unstable_temperature`."""
        unstable = self.temperature[~self.stable]
        return float(unstable.min()) if unstable.size else float("nan")


def steady_state_map(initiator_feeds, coolant_temperatures,
                     params: ReactorParameters = DEFAULT_PARAMETERS) -> SteadyStateMap:
    """Every steady state over the grid ``initiator_feeds x coolant_temperatures``.

    Each grid point calls :func:`cstr.model.steady_states` (which finds all
    roots of the heat balance) and :func:`cstr.model.jacobian` for the
    eigenvalues of the lowest-temperature root.
    """
    feeds = np.asarray(initiator_feeds, dtype=float)
    coolants = np.asarray(coolant_temperatures, dtype=float)
    shape = (feeds.size, coolants.size)
    temperature = np.full(shape, np.nan)
    polymer = np.full(shape, np.nan)
    growth = np.full(shape, np.nan)
    count = np.zeros(shape, dtype=int)
    for i, feed in enumerate(feeds):
        for j, coolant in enumerate(coolants):
            roots = steady_states(feed, coolant, params)
            count[i, j] = len(roots)
            if not roots:
                continue
            state = roots[0]
            temperature[i, j] = state[4]
            polymer[i, j] = state[3]
            eigenvalues = np.linalg.eigvals(jacobian(state, [feed, coolant], params))
            growth[i, j] = eigenvalues.real.max()
    return SteadyStateMap(feeds, coolants, temperature, polymer, growth, growth < 0.0, count)


# --------------------------------------------------------------------------
# Time scales at a steady state

@dataclass(frozen=True)
class TimeScales:
    """Eigen-decomposition of the Jacobian at one state, fastest mode first."""

    eigenvalues: np.ndarray  # [5] complex, 1/s
    time_scales: np.ndarray  # [5] s, 1 / |Re(lambda)|
    periods: np.ndarray  # [5] s, 2 pi / |Im(lambda)| (inf for a real eigenvalue)
    participation: np.ndarray  # [5 states, 5 modes], each column sums to 1
    dominant_state: tuple[str, ...]  # the state that participates most in each mode

    @property
    def fastest(self) -> float:
        return float(self.time_scales[0])

    @property
    def slowest(self) -> float:
        return float(self.time_scales[-1])

    def time_scale_of(self, state_name: str) -> float:
        """The time scale [s] of the mode that ``state_name`` dominates (the fastest, if several)."""
        return float(self.time_scales[self.dominant_state.index(state_name)])


def eigen_time_scales(state, inputs, params: ReactorParameters = DEFAULT_PARAMETERS) -> TimeScales:
    """Time scales ``1/|Re(lambda)|`` [s] of the Jacobian at ``state`` under ``inputs``.

    Each mode is labelled by **participation factors**
    ``p[i, k] = |v[i, k] w[k, i]|`` (right eigenvectors ``v``, left
    eigenvectors ``w = v^-1``), normalised per mode: unlike eigenvector
    components they do not depend on the units of the states, so a state
    measured in tiny numbers (radicals, about 1e-6 mol/m3) does not dominate
    every mode by its scale alone.
    """
    eigenvalues, vectors = np.linalg.eig(jacobian(state, inputs, params))
    order = np.argsort(-np.abs(eigenvalues.real))
    eigenvalues = eigenvalues[order]
    vectors = vectors[:, order]
    participation = np.abs(vectors * np.linalg.inv(vectors).T)
    participation = participation / participation.sum(axis=0, keepdims=True)
    dominant = tuple(STATE_NAMES[k] for k in np.argmax(participation, axis=0))
    with np.errstate(divide="ignore"):
        periods = np.where(eigenvalues.imag != 0.0, 2.0 * np.pi / np.abs(eigenvalues.imag), np.inf)
    return TimeScales(eigenvalues, 1.0 / np.abs(eigenvalues.real), periods, participation, dominant)


def radical_outflow_share(state, inputs, params: ReactorParameters = DEFAULT_PARAMETERS):
    """Fraction of the radical loss carried out by the through-flow, ``D R / (2 k_t R^2 + D R)``.

    This is the term the prototype's radical balance left out. Broadcasts
    over leading axes of ``state[..., 5]`` and ``inputs[..., 2]``.
    """
    state = np.asarray(state, dtype=float)
    inputs = np.asarray(inputs, dtype=float)
    radicals = state[..., 2]
    k_t = rate_constants(state[..., 4], params)[2]
    outflow = dilution_rate(inputs[..., 0], params) * radicals
    return outflow / (2.0 * k_t * radicals**2 + outflow)


# --------------------------------------------------------------------------
# Conservation of monomer + polymer

def monomer_polymer_residual(states, inputs, params: ReactorParameters = DEFAULT_PARAMETERS) -> np.ndarray:
    """Residual of ``d(A+P)/dt = F_A / (3600 V) - D (A + P)`` evaluated with :func:`cstr.model.rhs`.

    Propagation moves mass from monomer to polymer, so it must cancel exactly
    from the sum: the residual [kg/(m3 s)] is zero up to round-off, at any
    state, not only at steady state. Broadcasts over leading axes.
    """
    states = np.asarray(states, dtype=float)
    inputs = np.asarray(inputs, dtype=float)
    derivative = rhs(states, inputs, params)
    total = states[..., 0] + states[..., 3]
    expected = (params.monomer_feed / (SECONDS_PER_HOUR * params.volume)
                - dilution_rate(inputs[..., 0], params) * total)
    return derivative[..., 0] + derivative[..., 3] - expected


def monomer_polymer_closed_form(start_state, initiator_feed: float, times,
                                params: ReactorParameters = DEFAULT_PARAMETERS) -> np.ndarray:
    """``A + P`` [kg/m3] at ``times`` [s] for a constant initiator feed, in closed form.

    The sum obeys a linear balance, so it relaxes exponentially with the
    residence time to the monomer concentration of the feed mixture
    ``c_in = F_A / q``: ``(A+P)(t) = c_in + ((A+P)(0) - c_in) exp(-D t)``.
    """
    dilution = float(dilution_rate(initiator_feed, params))
    feed_concentration = params.monomer_feed / (SECONDS_PER_HOUR * params.volume) / dilution
    start_total = start_state[0] + start_state[3]
    return feed_concentration + (start_total - feed_concentration) * np.exp(-dilution * np.asarray(times, float))


# --------------------------------------------------------------------------
# Open-loop responses and settling

def open_loop_response(start_state, inputs, steps: int, interval: float = CONTROL_INTERVAL,
                       params: ReactorParameters = DEFAULT_PARAMETERS) -> tuple[np.ndarray, np.ndarray]:
    """Simulate ``steps`` intervals of ``interval`` seconds with the inputs given.

    ``inputs`` is one pair ``[2]`` held throughout, or a schedule
    ``[steps, 2]`` (one pair per interval). Integrated with
    :func:`cstr.simulate.advance_batch` (RODAS4), carrying the step size from
    one interval to the next. Returns ``(times_h [steps + 1], states
    [steps + 1, 5])``, starting with ``start_state`` at time 0. Raises
    :class:`cstr.simulate.IntegrationError` if the integrator fails.
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
        current, status = advance_batch(current, schedule[k:k + 1], interval, params, step_hints=hints)
        if status[0] != STATUS_OK:
            raise IntegrationError(f"interval {k}: {STATUS_MESSAGES[int(status[0])]}")
        states[k + 1] = current[0]
    times_h = np.arange(steps + 1) * interval / SECONDS_PER_HOUR
    return times_h, states


def settling_time(times, signal, final: float | None = None, band: float = 0.02,
                  initial: float | None = None) -> float:
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


def grade_change(start: Grade, target: Grade, steps: int = HORIZON, interval: float = CONTROL_INTERVAL,
                 band: float = 0.02, params: ReactorParameters = DEFAULT_PARAMETERS) -> GradeChange:
    """Start at ``start``'s steady state, switch the inputs to ``target``'s steady inputs.

    Settling is measured with :func:`settling_time` against the target grade's
    polymer and temperature, the band a fraction ``band`` of the change.
    """
    inputs = target.steady_inputs(params)
    times_h, states = open_loop_response(start.steady_state(params), inputs, steps, interval, params)
    polymer = settling_time(times_h, states[:, 3], target.polymer, band, start.polymer)
    temperature = settling_time(times_h, states[:, 4], target.temperature, band, start.temperature)
    return GradeChange(start, target, inputs, times_h, states, polymer, temperature)


# --------------------------------------------------------------------------
# The grades

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
        rows.append({
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
        })
    return rows


# --------------------------------------------------------------------------
# The environment against an independent integrator

def reference_agreement(scenario: str = "grade_up", num_envs: int = 4, steps: int = 20, seed: int = 0,
                        action_seed: int = 1) -> float:
    """Drive the vector env with random actions and integrate the same episodes with SciPy's LSODA.

    Both start from the vector env's seeded starts (sub-environment ``i``
    starts where a single env reset with ``seed + i`` starts) and apply the
    same actions, drawn uniformly from the action box (``action_seed``); the
    reference trajectories are integrated on their own with
    :func:`cstr.simulate.integrate_interval`, a different method, so their
    errors accumulate independently. Returns the worst relative error
    (:func:`cstr.simulate.relative_error`) between the physical states over
    every step both ran; steps after an episode ends are not compared.
    """
    import gymnasium as gym

    import cstr  # noqa: F401  (registers the environment)

    vector = gym.make_vec(cstr.ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point",
                          scenario=scenario)
    rng = np.random.default_rng(action_seed)
    space = vector.unwrapped.single_action_space
    vector.reset(seed=seed)
    reference = vector.unwrapped.states.copy()
    running = np.ones(num_envs, dtype=bool)
    worst = 0.0
    try:
        for _ in range(steps):
            actions = rng.uniform(space.low, space.high, size=(num_envs, 2))
            _, _, terminated, truncated, _ = vector.step(actions)
            batch_states = vector.unwrapped.states
            for i in np.flatnonzero(running):
                try:
                    reference[i] = integrate_interval(reference[i], actions[i], CONTROL_INTERVAL)
                except IntegrationError:
                    running[i] = False
                    continue
                worst = max(worst, float(relative_error(batch_states[i], reference[i]).max()))
            running &= ~(terminated | truncated | (reference[:, 4] > TEMPERATURE_LIMIT))
            if not running.any():
                break
    finally:
        vector.close()
    return worst

"""The analysis behind chapter 1: steady-state maps, time scales, step responses.

Chapter 1 of the book justifies every operating decision of
:mod:`cstr.plant.scenarios` (the two grades, the temperature limit, the control
interval and the horizon) from the model's own behaviour. Every computation
its figures and tables need lives here, so that it is tested and can be
reused:

* :func:`heat_balance`: heat generation against heat removal at one
  initiator feed (van Heerden's construction), with the steady states where
  they cross;
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
* :func:`perturbed_response`: a steady state nudged and left alone, the
  runaway of an unstable one;
* :func:`grade_table`: the grades with their steady inputs and margins;

Units follow :mod:`cstr.plant.model`: concentrations in kg/m3 (radicals in mol/m3),
temperatures in K, initiator feed in kg/h, time in seconds unless a name
ends in ``_h`` (hours).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from cstr.plant.model import (
    DEFAULT_PARAMETERS,
    SECONDS_PER_HOUR,
    STATE_NAMES,
    ReactorParameters,
    dilution_rate,
    heat_generation,
    heat_removal,
    jacobian,
    rate_constants,
    rhs,
    steady_states,
    volumetric_flow,
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
"""Symbol, unit and meaning of every field of :class:`cstr.plant.model.ReactorParameters`."""


def parameter_table(params: ReactorParameters = DEFAULT_PARAMETERS) -> list[dict]:
    """One row per field of ``params``: name, symbol, value, unit, meaning.

    Raises ``KeyError`` if the dataclass gained a field this table does not describe.
    """
    rows = []
    for field in fields(params):
        symbol, unit, meaning = PARAMETER_INFO[field.name]
        rows.append(
            {
                "parameter": field.name,
                "symbol": symbol,
                "value": getattr(params, field.name),
                "unit": unit,
                "meaning": meaning,
            }
        )
    return rows


def heat_removal_slope(initiator_feed, params: ReactorParameters = DEFAULT_PARAMETERS) -> float:
    """Slope of the heat-removal line, ``UA + rho c_p q`` [W/K]."""
    return float(params.jacket_ua + params.density * params.heat_capacity * volumetric_flow(initiator_feed, params))


def heat_slope_ratio(temperature, initiator_feed, params: ReactorParameters = DEFAULT_PARAMETERS, step: float = 1e-3):
    """``(dQ_gen/dT) / (dQ_rem/dT)`` at ``temperature`` (central difference of ``step`` K).

    Van Heerden's static condition: a steady state with a ratio above 1 is
    unstable (heat generation outruns removal); below 1 is necessary, not
    sufficient, for stability.
    """
    temperature = np.asarray(temperature, dtype=float)
    slope = (
        heat_generation(temperature + step, initiator_feed, params)
        - heat_generation(temperature - step, initiator_feed, params)
    ) / (2.0 * step)
    return slope / heat_removal_slope(initiator_feed, params)


@dataclass(frozen=True)
class HeatBalance:
    """Van Heerden's construction at one initiator feed.

    ``generation`` is the heat a *steady* reactor would release at each
    temperature; ``removal[k]`` the heat the jacket and the flow remove with
    the coolant at ``coolant_temperatures[k]``. Steady states are where the
    two cross: ``steady_temperatures[k]`` lists those of coolant ``k``
    (lowest first), ``steady_generation[k]`` the heat released there and
    ``steady_stable[k]`` whether each is stable (every eigenvalue of the
    Jacobian with a negative real part).
    """

    initiator_feed: float  # kg/h
    temperatures: np.ndarray  # [n] K
    generation: np.ndarray  # [n] W
    coolant_temperatures: np.ndarray  # [m] K
    removal: np.ndarray  # [m, n] W
    steady_temperatures: tuple[np.ndarray, ...]  # m x [roots] K
    steady_generation: tuple[np.ndarray, ...]  # m x [roots] W
    steady_stable: tuple[np.ndarray, ...]  # m x [roots] bool


def heat_balance(
    temperatures, initiator_feed: float, coolant_temperatures, params: ReactorParameters = DEFAULT_PARAMETERS
) -> HeatBalance:
    """Heat generation and removal over ``temperatures`` [K] at ``initiator_feed`` [kg/h].

    One removal line per coolant temperature [K], and every steady state
    (:func:`cstr.plant.model.steady_states`) where it meets the generation
    curve, with its stability from :func:`eigen_time_scales`.
    """
    temperatures = np.asarray(temperatures, dtype=float)
    coolants = np.asarray(coolant_temperatures, dtype=float)
    removal = np.array([heat_removal(temperatures, initiator_feed, coolant, params) for coolant in coolants])
    steady_temperatures, steady_generation, steady_stable = [], [], []
    for coolant in coolants:
        roots = steady_states(initiator_feed, coolant, params)
        steady_temperatures.append(np.array([state[4] for state in roots], dtype=float))
        steady_generation.append(
            np.array([heat_generation(state[4], initiator_feed, params) for state in roots], dtype=float)
        )
        steady_stable.append(
            np.array(
                [
                    eigen_time_scales(state, [initiator_feed, coolant], params).eigenvalues.real.max() < 0
                    for state in roots
                ],
                dtype=bool,
            )
        )
    return HeatBalance(
        float(initiator_feed),
        temperatures,
        heat_generation(temperatures, initiator_feed, params),
        coolants,
        removal,
        tuple(steady_temperatures),
        tuple(steady_generation),
        tuple(steady_stable),
    )


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
        of :func:`cstr.plant.scenarios.lowest_unstable_temperature`."""
        unstable = self.temperature[~self.stable]
        return float(unstable.min()) if unstable.size else float("nan")


def steady_state_map(
    initiator_feeds, coolant_temperatures, params: ReactorParameters = DEFAULT_PARAMETERS
) -> SteadyStateMap:
    """Every steady state over the grid ``initiator_feeds x coolant_temperatures``.

    Each grid point calls :func:`cstr.plant.model.steady_states` (which finds all
    roots of the heat balance) and :func:`cstr.plant.model.jacobian` for the
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
    """Residual of ``d(A+P)/dt = F_A / (3600 V) - D (A + P)`` evaluated with :func:`cstr.plant.model.rhs`.

    Propagation moves mass from monomer to polymer, so it must cancel exactly
    from the sum: the residual [kg/(m3 s)] is zero up to round-off, at any
    state, not only at steady state. Broadcasts over leading axes.
    """
    states = np.asarray(states, dtype=float)
    inputs = np.asarray(inputs, dtype=float)
    derivative = rhs(states, inputs, params)
    total = states[..., 0] + states[..., 3]
    expected = params.monomer_feed / (SECONDS_PER_HOUR * params.volume) - dilution_rate(inputs[..., 0], params) * total
    return derivative[..., 0] + derivative[..., 3] - expected


def monomer_polymer_closed_form(
    start_state, initiator_feed: float, times, params: ReactorParameters = DEFAULT_PARAMETERS
) -> np.ndarray:
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


# --------------------------------------------------------------------------
# The grades

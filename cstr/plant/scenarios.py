"""Operating decisions: the two product grades, the safety limit, the timing, the scenarios.

Every constant here is a decision that chapter 1 makes from the model's own
analysis; the functions below recompute that analysis, and the tests check
that the constants still agree with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from cstr.plant.model import (
    DEFAULT_PARAMETERS,
    SECONDS_PER_HOUR,
    ReactorParameters,
    composition_at_temperature,
    inputs_for_grade,
    jacobian,
    residence_time,
    steady_states,
)

CONTROL_INTERVAL = 1800.0
"""Seconds between control actions (30 min): about a tenth of the residence time."""

HOURS_PER_STEP = CONTROL_INTERVAL / SECONDS_PER_HOUR
"""Hours per control interval, the time axis of every trajectory."""

HORIZON = 200
"""Control intervals per episode (100 h, about 18 residence times)."""

TEMPERATURE_LIMIT = 360.0
"""Safety limit on the reactor temperature [K]: just below the lowest temperature
at which any steady state inside the input box loses stability (see
:func:`lowest_unstable_temperature`)."""


@dataclass(frozen=True)
class Grade:
    """A product grade: the polymer concentration and temperature to hold."""

    name: str
    polymer: float  # kg/m3
    temperature: float  # K

    @property
    def setpoint(self) -> np.ndarray:
        return np.array([self.polymer, self.temperature])

    def steady_inputs(self, params: ReactorParameters = DEFAULT_PARAMETERS) -> np.ndarray:
        """(u_I [kg/h], T_c [K]) that hold this grade at steady state."""
        return inputs_for_grade(self.polymer, self.temperature, params)

    def steady_state(self, params: ReactorParameters = DEFAULT_PARAMETERS) -> np.ndarray:
        """The full state [A, I, R, P, T] of this grade at steady state."""
        return composition_at_temperature(self.temperature, self.steady_inputs(params)[0], params)


LOW_GRADE = Grade("low", polymer=40.0, temperature=340.0)
HIGH_GRADE = Grade("high", polymer=80.0, temperature=350.0)
GRADES = (LOW_GRADE, HIGH_GRADE)
"""The two product grades this book chose (chapter 1) for the paper's three scenario types (their distance sets the
reward's scales); the paper's own grades are not known to us."""

HOT_GRADE = Grade("hot", polymer=100.0, temperature=357.0)
"""The stress scenario's grade: 3 K below the limit, its steady coolant 1.6 K below the coolant's upper bound
(its steady state is stable: a crossing is an overshoot past the limit, not runaway)."""


@dataclass(frozen=True)
class FeedStepFault:
    """An unmeasured step in the feed temperature, drawn per episode: it starts at a time uniform in ``hours``
    [h] and has one of the sizes ``changes`` [K], equally likely; it lasts to the end of the episode."""

    hours: tuple[float, float]
    changes: tuple[float, ...]

    def sample(self, rng: np.random.Generator) -> tuple[float, float]:
        """``(t_h, dT_K)`` for one episode; ``rng`` (the episode's generator) decides both."""
        time_h = float(rng.uniform(self.hours[0], self.hours[1]))
        return time_h, float(self.changes[int(rng.integers(len(self.changes)))])


@dataclass(frozen=True)
class Scenario:
    """Where an episode starts, where it must go, and how the start is randomised.

    ``start_grade`` is ``None`` for a startup from a reactor full of monomer
    and solvent at feed conditions. The relative spread multiplies the
    concentrations by a factor drawn uniformly from ``1 ± spread``; the
    temperature is shifted by a uniform draw from ``± temperature_spread``.
    ``fault`` is an unmeasured disturbance that belongs to the scenario, drawn
    per episode from the episode's generator after the start (``None``: none).
    """

    name: str
    target: Grade
    start_grade: Grade | None
    concentration_spread: float
    temperature_spread: float  # K
    fault: FeedStepFault | None = None

    def nominal_start(self, params: ReactorParameters = DEFAULT_PARAMETERS) -> tuple[np.ndarray, np.ndarray]:
        """The unperturbed initial state and the inputs applied before the first step."""
        if self.start_grade is None:
            # Filled with the feed mixture (no initiator yet) at feed temperature;
            # the jacket already set to hold the target grade.
            feed_flow = (params.monomer_feed + params.solvent_feed) / params.density  # m3/h
            state = np.array([params.monomer_feed / feed_flow, 0.0, 0.0, 0.0, params.feed_temperature])
            inputs = np.array([0.0, self.target.steady_inputs(params)[1]])
            return state, inputs
        return self.start_grade.steady_state(params), self.start_grade.steady_inputs(params)

    def sample_start(
        self, rng: np.random.Generator, params: ReactorParameters = DEFAULT_PARAMETERS
    ) -> tuple[np.ndarray, np.ndarray]:
        """A randomised initial state and previous inputs; ``rng`` decides every draw."""
        state, inputs = self.nominal_start(params)
        factors = rng.uniform(1.0 - self.concentration_spread, 1.0 + self.concentration_spread, size=4)
        shift = rng.uniform(-self.temperature_spread, self.temperature_spread)
        state = state.copy()
        state[:4] *= factors
        state[4] += shift
        return state, inputs.copy()


SCENARIOS = {
    "startup": Scenario(
        "startup", target=LOW_GRADE, start_grade=None, concentration_spread=0.05, temperature_spread=3.0
    ),
    "grade_down": Scenario(
        "grade_down", target=LOW_GRADE, start_grade=HIGH_GRADE, concentration_spread=0.05, temperature_spread=1.0
    ),
    "grade_up": Scenario(
        "grade_up", target=HIGH_GRADE, start_grade=LOW_GRADE, concentration_spread=0.05, temperature_spread=1.0
    ),
}
SCENARIO_NAMES = tuple(SCENARIOS)
"""The paper's three scenario types (startup, grade change down, grade change up; with this book's grades) by name,
in the order of every table and figure."""

STRESS_FAULT = FeedStepFault(hours=(40.0, 60.0), changes=(10.0, 15.0, 20.0, 25.0))
"""The stress scenario's unmeasured fault (a preheater fault): the feed temperature steps up by 10, 15, 20 or
25 K at a time between 40 and 60 h, drawn per episode, so that episodes differ after the fault too."""
SCENARIOS["stress"] = Scenario(
    "stress",
    target=HOT_GRADE,
    start_grade=HIGH_GRADE,
    concentration_spread=0.05,
    temperature_spread=1.0,
    fault=STRESS_FAULT,
)
STRESS_SCENARIO_NAMES = ("stress",)
"""Scenarios where the temperature limit is at stake: the randomised PI controllers of the dataset cross it in
10-50 % of episodes (chapter 8 shows the evidence; a test checks the shipped dataset)."""
ALL_SCENARIO_NAMES = SCENARIO_NAMES + STRESS_SCENARIO_NAMES
"""Every registered scenario: the paper's three, then the stress scenarios."""


def get_scenario(name: str) -> Scenario:
    """The registered :class:`Scenario` called ``name`` (any of :data:`ALL_SCENARIO_NAMES`); a ``ValueError``
    naming the choices otherwise."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(ALL_SCENARIO_NAMES)}") from None


# --------------------------------------------------------------------------
# The analysis the constants above come from.


def largest_eigenvalue_real_part(
    initiator_feed: float, coolant_temperature: float, params: ReactorParameters = DEFAULT_PARAMETERS
) -> float:
    """max Re(lambda) of the Jacobian at the (lowest) steady state for these inputs."""
    state = steady_states(initiator_feed, coolant_temperature, params)[0]
    return float(np.max(np.linalg.eigvals(jacobian(state, [initiator_feed, coolant_temperature], params)).real))


def stability_boundary(initiator_feeds, params: ReactorParameters = DEFAULT_PARAMETERS) -> np.ndarray:
    """For each initiator feed, the coolant temperature and steady reactor temperature
    where the steady state loses stability (NaN where it stays stable up to the
    coolant's upper bound). Returns ``[n, 2]``: (T_c, T)."""
    low, high = params.coolant_temperature_bounds
    result = np.full((len(initiator_feeds), 2), np.nan)
    grid = np.linspace(low, high, 51)
    for row, feed in enumerate(initiator_feeds):
        values = np.array([largest_eigenvalue_real_part(feed, tc, params) for tc in grid])
        crossings = np.flatnonzero((values[:-1] < 0.0) & (values[1:] >= 0.0))
        if crossings.size:
            i = crossings[0]
            coolant = brentq(
                lambda tc, feed=feed: largest_eigenvalue_real_part(feed, tc, params), grid[i], grid[i + 1], xtol=1e-8
            )
            result[row] = coolant, steady_states(feed, coolant, params)[0][4]
    return result


def lowest_unstable_temperature(params: ReactorParameters = DEFAULT_PARAMETERS, feeds: int = 21) -> float:
    """The lowest steady reactor temperature [K] at which a steady state inside the
    input box is unstable: the onset of oscillatory runaway."""
    low, high = params.initiator_feed_bounds
    boundary = stability_boundary(np.linspace(low, high, feeds), params)
    return float(np.nanmin(boundary[:, 1]))


def time_constants(params: ReactorParameters = DEFAULT_PARAMETERS) -> dict[str, float]:
    """The process time scales [s] that fix the control interval and horizon."""
    inertia = params.density * params.heat_capacity * params.volume
    flow_heat = params.density * params.heat_capacity * params.volume / residence_time(0.0, params)
    return {
        "residence_time": float(residence_time(0.0, params)),
        "thermal_time_constant": inertia / (params.jacket_ua + flow_heat),
    }

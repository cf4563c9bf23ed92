"""The reactor model: balances, conservation, steady states, heat curves, and the decisions built on them."""

import dataclasses

import numpy as np
import pytest

from cstr.plant import model
from cstr.plant.model import DEFAULT_PARAMETERS as P
from cstr.plant.scenarios import (
    GRADES,
    HIGH_GRADE,
    LOW_GRADE,
    TEMPERATURE_LIMIT,
    lowest_unstable_temperature,
    time_constants,
)

RNG = np.random.default_rng(7)
STATES = np.column_stack(
    [
        RNG.uniform(100, 600, 200),
        RNG.uniform(0, 15, 200),
        RNG.uniform(0, 5e-6, 200),
        RNG.uniform(0, 300, 200),
        RNG.uniform(300, 420, 200),
    ]
)
INPUTS = np.column_stack([RNG.uniform(0, 2.5, 200), RNG.uniform(300, 350, 200)])


def test_monomer_plus_polymer_mass_is_conserved_apart_from_flow():
    derivative = model.rhs(STATES, INPUTS)
    dilution = model.dilution_rate(INPUTS[:, 0])
    inflow = P.monomer_feed / 3600.0 / P.volume
    residual = derivative[:, 0] + derivative[:, 3] - (inflow - dilution * (STATES[:, 0] + STATES[:, 3]))
    scale = np.abs(derivative[:, 0]) + np.abs(derivative[:, 3]) + inflow
    assert np.max(np.abs(residual) / scale) < 1e-13


def test_analytic_jacobian_matches_finite_differences():
    for state, inputs in zip(STATES[:20], INPUTS[:20]):
        jac = model.jacobian(state, inputs)
        numeric = np.empty((5, 5))
        for j in range(5):
            step = 1e-6 * max(abs(state[j]), 1e-9)
            up, down = state.copy(), state.copy()
            up[j] += step
            down[j] -= step
            numeric[:, j] = (model.rhs(up, inputs) - model.rhs(down, inputs)) / (2 * step)
        scale = np.abs(jac).max(axis=1, keepdims=True) + 1e-30
        assert np.max(np.abs(jac - numeric) / scale) < 1e-6


def test_steady_states_satisfy_f_of_x_equals_zero():
    for feed, coolant in [(0.3, 310.0), (1.0, 335.0), (2.0, 340.0), (2.5, 349.0), (1.1, 350.0)]:
        states = model.steady_states(feed, coolant)
        assert states, f"no steady state found for {feed}, {coolant}"
        for state in states:
            derivative = model.rhs(state, [feed, coolant])
            # relative to each balance's own throughput scale
            scale = np.array([P.monomer_feed / 3600, feed / 3600 + 1e-12, 1e-12, P.monomer_feed / 3600, 1e-3])
            assert np.all(np.abs(derivative) <= 1e-9 * scale + 1e-15), (feed, coolant, derivative)


def test_heat_curves_cross_exactly_at_the_steady_states():
    state = model.steady_states(1.0, 335.0)[0]
    generated = model.heat_generation(state[4], 1.0)
    removed = model.heat_removal(state[4], 1.0, 335.0)
    assert generated == pytest.approx(removed, rel=1e-9)
    # below the steady temperature generation wins, above it removal wins (a stable crossing)
    assert model.heat_generation(state[4] - 2, 1.0) > model.heat_removal(state[4] - 2, 1.0, 335.0)
    assert model.heat_generation(state[4] + 2, 1.0) < model.heat_removal(state[4] + 2, 1.0, 335.0)


def test_residence_time_is_about_five_and_a_half_hours():
    assert model.residence_time(0.0) / 3600 == pytest.approx(1000 / 180, rel=1e-12)
    assert time_constants()["thermal_time_constant"] == pytest.approx(2e6 / 600)


@pytest.mark.parametrize("grade", GRADES, ids=lambda g: g.name)
def test_grades_are_stable_steady_states_inside_the_input_bounds(grade):
    inputs = grade.steady_inputs()
    state = grade.steady_state()
    assert np.max(np.abs(model.rhs(state, inputs)[[0, 3, 4]])) < 1e-12
    assert state[3] == pytest.approx(grade.polymer, rel=1e-10)
    assert model.is_stable(state, inputs)
    feed_low, feed_high = P.initiator_feed_bounds
    cool_low, cool_high = P.coolant_temperature_bounds
    assert feed_low + 0.2 * (feed_high - feed_low) < inputs[0] < feed_high - 0.2 * (feed_high - feed_low)
    assert cool_low + 0.1 * (cool_high - cool_low) < inputs[1] < cool_high - 0.1 * (cool_high - cool_low)
    assert grade.temperature <= TEMPERATURE_LIMIT - 10


def test_grades_are_a_real_transition():
    assert HIGH_GRADE.polymer / LOW_GRADE.polymer >= 2.0


def test_temperature_limit_sits_just_below_the_onset_of_runaway():
    onset = lowest_unstable_temperature(feeds=11)
    assert TEMPERATURE_LIMIT <= onset < TEMPERATURE_LIMIT + 2.0


def test_warm_jacket_and_high_feed_run_away():
    state = model.steady_states(2.5, 350.0)[0]
    assert state[4] > TEMPERATURE_LIMIT
    assert not model.is_stable(state, [2.5, 350.0])


def test_parameters_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        P.jacket_ua = 600.0
    assert P.with_changes(jacket_ua=600.0).jacket_ua == 600.0

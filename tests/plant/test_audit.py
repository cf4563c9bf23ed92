"""The reactor audit (:mod:`cstr.plant.audit`): each figure checked against the balances it summarises."""

import numpy as np
import pytest

from cstr.plant.audit import (
    SECONDS_PER_YEAR,
    initiator_decomposed_share,
    initiator_half_life,
    instability_kind,
    literature_initiator,
    radical_supply_sensitivity,
    reactor_audit,
)
from cstr.plant.model import DEFAULT_PARAMETERS as P
from cstr.plant.model import jacobian, steady_states, volumetric_flow
from cstr.plant.scenarios import GRADES, HIGH_GRADE, LOW_GRADE


@pytest.fixture(scope="module")
def audit():
    return {row["grade"]: row for row in reactor_audit()}


def test_the_prototype_initiator_lives_for_centuries(audit):
    by_hand = np.log(2) / (P.decomposition_prefactor * np.exp(-P.decomposition_activation / (P.gas_constant * 340.0)))
    assert initiator_half_life(340.0) == pytest.approx(by_hand, rel=1e-9)
    assert 300 < audit["low"]["initiator_half_life_years"] < 400
    assert audit["high"]["initiator_half_life_years"] < audit["low"]["initiator_half_life_years"]
    assert audit["low"]["initiator_half_life_years"] * SECONDS_PER_YEAR / 3600 == pytest.approx(
        audit["low"]["initiator_half_life_h"]
    )


@pytest.mark.parametrize("grade", GRADES, ids=lambda g: g.name)
def test_decomposed_share_is_what_the_steady_initiator_balance_leaves(grade):
    feed, _ = grade.steady_inputs()
    state = grade.steady_state()
    feed_concentration = feed / (3600 * volumetric_flow(feed))  # kg/m3 of initiator in the inflow
    from_balance = 1.0 - state[1] / feed_concentration
    assert initiator_decomposed_share(grade.temperature, feed) == pytest.approx(from_balance, rel=1e-3, abs=1e-9)
    assert initiator_decomposed_share(grade.temperature, feed) < 1e-5  # a tracer: almost all of it leaves


def test_conversion_and_time_constants(audit):
    assert 0.05 < audit["low"]["monomer_conversion"] < audit["high"]["monomer_conversion"] < 0.2
    flow_heat = P.density * P.heat_capacity * volumetric_flow(0.0)
    by_hand = P.density * P.heat_capacity * P.volume / (P.jacket_ua + flow_heat) / 3600
    assert audit["low"]["thermal_time_constant_h"] == pytest.approx(by_hand, rel=1e-9)
    assert audit["low"]["interval_over_thermal_time_constant"] == pytest.approx(0.5 / by_hand, rel=1e-9)
    # the reaction's feedback slows the thermal mode, more at the hotter grade
    assert by_hand < audit["low"]["thermal_mode_h"] < audit["high"]["thermal_mode_h"]


@pytest.mark.parametrize("grade", GRADES, ids=lambda g: g.name)
def test_the_instability_is_a_hopf_point_with_one_steady_state(grade):
    feed, _ = grade.steady_inputs()
    boundary = instability_kind(feed)
    assert boundary["kind"] == "hopf" and boundary["steady_state_count"] == 1
    assert np.isfinite(boundary["period_h"]) and boundary["period_h"] > 0
    for offset, unstable in ((-0.1, False), (0.1, True)):
        coolant = boundary["coolant_K"] + offset
        state = steady_states(feed, coolant)[0]
        eigenvalues = np.linalg.eigvals(jacobian(state, [feed, coolant]))
        assert (eigenvalues.real.max() > 0) == unstable
        assert abs(eigenvalues[np.argmax(eigenvalues.real)].imag) > 0  # a complex pair crosses


def test_a_feed_that_stays_stable_reports_none():
    assert instability_kind(0.0)["kind"] == "none"


def test_a_feed_unstable_from_the_lowest_coolant_is_not_reported_stable():
    azo = literature_initiator()  # with the prototype's feed box, far above the azo grades' milligrams per hour
    boundary = instability_kind(0.00316, azo)
    assert boundary["kind"] != "none" and boundary["coolant_K"] == azo.coolant_temperature_bounds[0]
    state = steady_states(0.00316, boundary["coolant_K"], azo)[0]
    assert np.linalg.eigvals(jacobian(state, [0.00316, boundary["coolant_K"]], azo)).real.max() > 0


def test_radical_supply_sensitivity_is_the_arrhenius_slope_times_what_survives():
    k_d = lambda t: P.decomposition_prefactor * np.exp(-P.decomposition_activation / (P.gas_constant * t))  # noqa: E731
    feed = 1.0
    finite_difference = (np.log(k_d(340.01)) - np.log(k_d(339.99))) / 0.02
    assert radical_supply_sensitivity(340.0, feed) == pytest.approx(finite_difference, rel=1e-4)  # tracer
    azo = literature_initiator()
    share = initiator_decomposed_share(350.0, feed, azo)
    assert radical_supply_sensitivity(350.0, feed, azo) == pytest.approx(
        azo.decomposition_activation / (azo.gas_constant * 350.0**2) * (1 - share)
    )


def test_the_literature_initiator_is_a_clearly_separate_preset():
    azo = literature_initiator()
    assert initiator_half_life(338.15, azo) == pytest.approx(10 * 3600, rel=1e-12)
    assert azo.decomposition_activation == 130e3 and P.decomposition_prefactor == 1e9  # the default is untouched
    rows = {row["grade"]: row for row in reactor_audit(params=azo)}
    assert rows["low"]["initiator_decomposed_share"] > 0.1 and rows["high"]["initiator_decomposed_share"] > 0.3
    # the same grades need a far smaller feed, and the consumed initiator damps the thermal feedback
    assert rows["low"]["initiator_feed"] < 1e-3 * LOW_GRADE.steady_inputs()[0]
    assert (
        rows["high"]["radical_supply_sensitivity_per_K"]
        < 0.5 * reactor_audit([HIGH_GRADE])[0]["radical_supply_sensitivity_per_K"]
    )


def test_the_stress_grade_is_a_stable_unique_grade_near_the_limit():
    from cstr.plant.responses import grade_table
    from cstr.plant.scenarios import HOT_GRADE, TEMPERATURE_LIMIT

    (row,) = grade_table([HOT_GRADE])
    assert row["stable"] and row["steady_state_count"] == 1
    assert 0 < row["feed_fraction"] < 1 and 0 < row["coolant_fraction"] < 1
    assert 0 < TEMPERATURE_LIMIT - HOT_GRADE.temperature <= 3.0
    assert 0 < row["coolant_margin_K"] < 3.0  # little cooling left in reserve at the grade

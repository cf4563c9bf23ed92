"""How soon a scenario runs away when its inputs are held (the evidence behind a 'not tested' stability verdict)."""

import pytest

from cstr.plant.model import DEFAULT_PARAMETERS
from cstr.plant.responses import hours_to_limit
from cstr.plant.scenarios import ALL_SCENARIO_NAMES, CONTROL_INTERVAL, SCENARIO_NAMES, get_scenario

INTERVAL_HOURS = CONTROL_INTERVAL / 3600.0


@pytest.mark.parametrize("scenario", ALL_SCENARIO_NAMES)
def test_the_hottest_inputs_run_every_scenario_past_the_limit_within_hours(scenario):
    hours = hours_to_limit(scenario)
    assert hours is not None and 0.0 < hours <= 5.0
    assert hours / INTERVAL_HOURS == pytest.approx(round(hours / INTERVAL_HOURS))  # the end of a control interval


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_the_target_grades_steady_inputs_never_reach_the_limit(scenario):
    steady = get_scenario(scenario).target.steady_inputs(DEFAULT_PARAMETERS)
    assert hours_to_limit(scenario, steady) is None

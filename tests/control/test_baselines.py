"""The trivial controllers the correction layer is measured on."""

import numpy as np
import pytest

from cstr.control.baselines import ConstantInputs, HoldPreviousInputs, SteadyInputs
from cstr.control.rollout import rollout
from cstr.envs.core import action_space
from cstr.envs.polymer_cstr import PolymerCSTREnv
from cstr.plant.scenarios import ALL_SCENARIO_NAMES, get_scenario


def test_constant_inputs_default_to_the_box_centre_and_refuse_bad_inputs():
    space = action_space()
    controller = ConstantInputs()
    assert np.allclose(controller.act(np.zeros(6)), (space.low + space.high) / 2.0)
    assert controller.act(np.zeros((3, 6))).shape == (3, 2)
    with pytest.raises(ValueError, match="NaN"):
        ConstantInputs([np.nan, 330.0])
    with pytest.raises(ValueError, match="shape"):
        controller.act(np.zeros(5))


def test_holding_the_previous_inputs_keeps_the_inputs_the_episode_started_with():
    out = rollout(HoldPreviousInputs(), "grade_up", [1_000_000, 1_000_001], horizon=5)
    first = out["observations"][:, 0, 4:6]
    assert np.allclose(out["actions"], first[:, None, :])


def test_steady_inputs_apply_the_target_grades_recipe_and_reach_it_without_offset():
    from cstr.plant.scenarios import GRADES, get_scenario

    out = rollout(SteadyInputs(), "grade_up", [1_000_000, 1_000_001])
    target = get_scenario("grade_up").target
    assert np.allclose(out["actions"], target.steady_inputs()[None, None, :], atol=1e-5)  # stored as float32
    final = out["next_states"][:, -1]
    assert np.allclose(final[:, 3], target.polymer, rtol=1e-3) and np.allclose(
        final[:, 4], target.temperature, atol=0.05
    )
    assert {tuple(np.round(SteadyInputs().act(np.r_[g.setpoint, 0.0, 0.0, 1.0, 330.0]), 9)) for g in GRADES} == {
        tuple(np.round(g.steady_inputs(), 9)) for g in GRADES
    }


def test_random_inputs_are_uniform_in_the_box_and_decided_by_each_episodes_seed():
    from cstr.control.baselines import RandomInputs

    space = action_space()
    alone = rollout(RandomInputs(), "grade_down", [1_000_003], horizon=20)
    together = rollout(RandomInputs(), "grade_down", [1_000_002, 1_000_003], horizon=20)
    assert np.array_equal(alone["actions"][0], together["actions"][1])  # the seed decides, not the batch
    assert not np.array_equal(together["actions"][0], together["actions"][1])
    many = RandomInputs(seed=5).act(np.zeros((2000, 6)))
    assert np.all(many >= space.low) and np.all(many <= space.high)
    assert np.allclose(many.mean(axis=0), (space.low + space.high) / 2, rtol=0.05)


@pytest.mark.parametrize("scenario", ALL_SCENARIO_NAMES)
def test_the_recipe_is_the_target_grades_steady_inputs_in_every_scenario(scenario):
    env = PolymerCSTREnv(scenario)
    obs, _ = env.reset(seed=3)
    np.testing.assert_array_equal(SteadyInputs().act(obs), get_scenario(scenario).target.steady_inputs())

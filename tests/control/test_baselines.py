"""The trivial controllers the correction layer is measured on."""

import numpy as np
import pytest

from cstr.control.baselines import ConstantInputs, HoldPreviousInputs
from cstr.control.rollout import rollout
from cstr.envs.core import action_space


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

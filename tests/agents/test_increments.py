"""Policies of input increments: the training target, the deployed form, and a round trip through the data folder."""

import numpy as np
import pytest
import torch
from helpers import tiny_data

from cstr.agents import bc, iql
from cstr.agents.increments import IncrementPolicy, increment_box, to_increments
from cstr.agents.policy import PolicyController, load_policy_controller
from cstr.agents.training import save_agent, variant_algorithm
from cstr.envs import core


def test_the_target_is_the_change_from_the_previous_inputs():
    data = tiny_data(rows=64)
    original = data["actions"].copy()
    increments = to_increments(data)
    assert np.allclose(increments["actions"], original - data["observations"][:, 4:6])
    assert np.array_equal(data["actions"], original)  # the input data untouched
    low, high = increment_box()
    space = core.action_space()
    assert np.allclose(high, space.high - space.low) and np.allclose(low, -high)


class Constant(torch.nn.Module):
    def __init__(self, increment):
        super().__init__()
        self.increment = torch.as_tensor(increment, dtype=torch.float32)

    def forward(self, obs):
        return self.increment.expand(obs.shape[0], 2)


def test_the_deployed_policy_adds_the_increment_and_stays_in_the_box():
    obs = np.array([[0, 350, 0, 0, 1.0, 320.0], [0, 350, 0, 0, 2.4, 349.0]], dtype=np.float32)
    actions = PolicyController(IncrementPolicy(Constant([0.2, 3.0]))).act(obs)
    assert np.allclose(actions, [[1.2, 323.0], [2.5, 350.0]])  # the second clipped at the box's top


def test_a_zero_increment_holds_the_inputs():
    obs = np.array([[10, 340, 5, -1, 0.7, 331.5]], dtype=np.float32)
    assert np.allclose(PolicyController(IncrementPolicy(Constant([0.0, 0.0]))).act(obs), [[0.7, 331.5]])


@pytest.mark.parametrize("algorithm", ["bc", "iql"])
def test_an_increments_policy_round_trips_through_the_data_folder(algorithm, tmp_path):
    data = tiny_data()
    if algorithm == "bc":
        config = bc.BCConfig(num_updates=30, hidden_dims=(16, 16), action_parameterisation="increments")
        result = bc.train(data, config, progress=False)
        network = result.policy
    else:
        config = iql.IQLConfig(num_updates=20, hidden_dims=(16, 16), action_parameterisation="increments")
        result = iql.train(data, config, progress=False)
        network = result.agent.policy
    # the network's tanh spans plus and minus the input range: an increment, not an input
    assert torch.allclose(network.normaliser.action_high, torch.as_tensor(increment_box()[1], dtype=torch.float32))
    name = f"{algorithm}-increments"
    save_agent(algorithm, result, root=tmp_path, name=name)
    loaded = load_policy_controller(name, tmp_path)
    assert isinstance(loaded.policy, IncrementPolicy)
    obs = data["observations"][:20]
    with torch.no_grad():
        expected = np.clip(
            obs[:, 4:6] + network(torch.as_tensor(obs)).numpy(), core.action_space().low, core.action_space().high
        )
    assert np.allclose(loaded.act(obs), expected, atol=1e-5)


def test_names_map_to_their_algorithm_and_variant():
    assert variant_algorithm("iql-increments") == ("iql", {"action_parameterisation": "increments"})
    assert variant_algorithm("bc") == ("bc", {})
    with pytest.raises(ValueError, match="unknown policy 'sac'"):
        variant_algorithm("sac")
    with pytest.raises(ValueError, match="unknown action parameterisation 'deltas'"):
        bc.train(tiny_data(rows=64), bc.BCConfig(num_updates=1, action_parameterisation="deltas"), progress=False)

"""The full-state dynamics model and the cost model's full-state ablation target."""

import numpy as np
import pytest
import torch
from helpers import assert_gradient_matches_finite_differences

from cstr.data.dataset import training_arrays
from cstr.plant.scenarios import GRADES
from cstr.safety import cost_model, diagnostics, dynamics, shipped
from cstr.safety.cost_model import CostModelConfig
from cstr.safety.shipped import dynamics_name, load_dynamics_model


@pytest.fixture(scope="module")
def small_data():
    data = training_arrays(["grade_up"])
    rows = np.arange(0, len(data["actions"]), 7)
    return {key: value[rows] for key, value in data.items()}


def test_dynamics_training_is_deterministic_and_drops_terminated_transitions(small_data):
    config = dynamics.DynamicsConfig(num_updates=30, log_every=10)
    first = dynamics.train(small_data, config, progress=False)
    second = dynamics.train(small_data, config, progress=False)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    assert len(first.history["validation_loss"]) == 3
    ended = dict(small_data, terminations=np.ones_like(small_data["terminations"]))
    with pytest.raises(ValueError, match="usable transitions"):
        dynamics.train(ended, config, progress=False)


def test_tracking_cost_gradient_matches_finite_differences(small_data):
    model = dynamics.train(small_data, dynamics.DynamicsConfig(num_updates=20), progress=False).model
    states = torch.as_tensor(small_data["states"][:5], dtype=torch.float64)
    setpoints = torch.as_tensor(np.tile(GRADES[1].setpoint, (5, 1)), dtype=torch.float64)
    model = model.double()
    actions = torch.as_tensor(small_data["actions"][:5], dtype=torch.float64).requires_grad_(True)

    def cost(a):
        return model.tracking_cost(states.double(), a, setpoints, horizon=3).double()

    assert_gradient_matches_finite_differences(cost, actions)
    with pytest.raises(ValueError, match="horizon"):
        model.tracking_cost(states, actions, setpoints, horizon=0)


def test_full_state_target_trains_a_picnn_and_keeps_its_dynamics(small_data, tmp_path):
    config = CostModelConfig(target="full-state-model", num_updates=20, dynamics_updates=20, log_every=10)
    result = cost_model.train(None, small_data, config, progress=False)
    assert result.dynamics is not None and result.target_mean == 0.0 and result.target_std > 0
    assert {"loss", "value_loss", "gradient_loss"} <= set(result.history)
    shipped.save(result, root=tmp_path, name="picnn-seed3")
    loaded = load_dynamics_model(tmp_path, "picnn-seed3")
    x = torch.as_tensor(small_data["states"][:4], dtype=torch.float32)
    a = torch.as_tensor(small_data["actions"][:4], dtype=torch.float32)
    assert torch.equal(loaded(x, a), result.dynamics.model(x, a))
    without_states = {k: v for k, v in small_data.items() if k not in ("states", "next_states")}
    assert set(result.training_inputs) >= {"states", "next_states"}
    with pytest.raises(ValueError, match="states, next_states, which are missing"):
        cost_model.train(None, without_states, config, progress=False)
    with pytest.raises(ValueError, match="IQL agent"):
        cost_model.train(None, small_data, CostModelConfig(target="distill", num_updates=2), progress=False)


def test_dynamics_files_follow_the_cost_model_name():
    assert dynamics_name("picnn") == "picnn-dynamics"
    assert dynamics_name("picnn-seed2") == "picnn-dynamics-seed2"
    assert dynamics_name("picnn-full-state") == "picnn-full-state-dynamics"
    assert dynamics_name("picnn-full-state-seed0") == "picnn-full-state-dynamics-seed0"


def test_shipped_dynamics_model_knows_what_the_coolant_does():
    """The plant is the yardstick: +1 K of coolant warms the reactor by ~0.4 K in one interval."""
    rows = diagnostics.response_check(load_dynamics_model(name="picnn-full-state"), moves=((0.0, 1.0),))
    for row in rows:
        assert row["plant dT [K]"] > 0.3
        assert row["model dT [K]"] == pytest.approx(row["plant dT [K]"], rel=0.25)

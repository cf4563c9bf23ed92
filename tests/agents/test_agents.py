"""BC and IQL: losses as written, determinism, the deployed policy, shipping and loading."""

import numpy as np
import pytest
import torch
from helpers import tiny_data

from cstr.agents import bc, iql
from cstr.agents.nn import LossLog, Normaliser, mlp
from cstr.agents.policy import PolicyController
from cstr.agents.weights import load_verified, save_weights, weight_files
from cstr.envs import core
from cstr.storage import update_manifest


def state_dicts_equal(a, b):
    return all(torch.equal(a[key], b[key]) for key in a) and a.keys() == b.keys()


def test_bc_same_seed_gives_identical_weights_and_other_seed_does_not():
    data = tiny_data()
    config = bc.BCConfig(num_updates=40, hidden_dims=(32, 32), log_every=10)
    first = bc.train(data, config, progress=False).policy.state_dict()
    second = bc.train(data, config, progress=False).policy.state_dict()
    third = bc.train(
        data, bc.BCConfig(num_updates=40, hidden_dims=(32, 32), seed=1), progress=False
    ).policy.state_dict()
    assert state_dicts_equal(first, second)
    assert not state_dicts_equal(first, third)


def test_iql_same_seed_gives_identical_weights():
    data = tiny_data()
    config = iql.IQLConfig(num_updates=30, hidden_dims=(32, 32), log_every=10)
    first = iql.train(data, config, progress=False).agent.state_dict()
    second = iql.train(data, config, progress=False).agent.state_dict()
    assert state_dicts_equal(first, second)


def test_bc_learns_a_linear_controller():
    data = tiny_data(rows=2048)
    space = core.action_space()
    unit = np.tanh(0.05 * data["observations"][:, [2, 3]])
    data["actions"] = (space.low + (unit + 1) / 2 * (space.high - space.low)).astype(np.float32)
    result = bc.train(data, bc.BCConfig(num_updates=1500, hidden_dims=(64, 64)), progress=False)
    assert result.history["loss"][-1] < 0.1 * result.history["loss"][0]
    predicted = PolicyController(result.policy).act(data["observations"][:200])
    assert np.mean(np.abs(predicted - data["actions"][:200]) / (space.high - space.low)) < 0.05


def test_expectile_loss_weights_positive_errors_by_tau():
    data = tiny_data()
    agent = iql.IQL(Normaliser.from_data(data["observations"]), iql.IQLConfig(hidden_dims=(8,), expectile=0.9))
    s = torch.zeros(4, 6)
    a = torch.zeros(4, 2)
    with torch.no_grad():
        for layer in agent.v:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_()
                layer.bias.zero_()
        agent.q_target.q1[-1].bias.fill_(0.0)
    with torch.no_grad():
        q = agent.target_q(s, a)
    # V = 0: the loss is tau * q^2 where q > 0 and (1 - tau) * q^2 where q < 0
    expected = torch.where(q > 0, 0.9 * q**2, 0.1 * q**2).mean()
    assert agent.value_loss(s, a).item() == pytest.approx(expected.item(), rel=1e-6)


def test_q_target_bootstraps_through_truncation_but_not_termination():
    data = tiny_data()
    agent = iql.IQL(Normaliser.from_data(data["observations"]), iql.IQLConfig(hidden_dims=(8,)))
    s = torch.randn(3, 6)
    a = torch.zeros(3, 2)
    r = torch.zeros(3)
    alive = agent.q_loss(s, a, r, s, torch.zeros(3))
    dead = agent.q_loss(s, a, r, s, torch.ones(3))
    with torch.no_grad():
        q1, q2 = agent.q(s, a)
        v = agent.value(s)
    expected_alive = ((q1 - 0.99 * v) ** 2).mean() + ((q2 - 0.99 * v) ** 2).mean()
    expected_dead = (q1**2).mean() + (q2**2).mean()
    assert alive.item() == pytest.approx(expected_alive.item(), rel=1e-5)
    assert dead.item() == pytest.approx(expected_dead.item(), rel=1e-5)


def test_paper_reward_scale():
    rewards = np.array([-1.0, -1.0, -3.0, -3.0])
    ends = np.array([False, True, False, True])
    assert iql.paper_reward_scale(rewards, ends) == pytest.approx(1000.0 / 4.0)


def test_policy_controller_actions_stay_inside_bounds_and_refuse_nan():
    data = tiny_data()
    policy = bc.train(data, bc.BCConfig(num_updates=5, hidden_dims=(8,)), progress=False).policy
    controller = PolicyController(policy)
    extreme = np.array([[1e4, 1e4, -1e4, 1e4, 1e4, -1e4]] * 3, dtype=np.float32)
    actions = controller.act(extreme)
    space = core.action_space()
    assert actions.shape == (3, 2)
    assert np.all(actions >= space.low - 1e-5) and np.all(actions <= space.high + 1e-5)
    assert controller.act(extreme[0]).shape == (2,)
    with pytest.raises(ValueError, match="NaN"):
        controller.act(np.full(6, np.nan))
    with pytest.raises(ValueError, match="shape"):
        controller.act(np.zeros(5))


def test_a_diverged_training_stops_at_once_and_diverged_weights_are_refused(tmp_path):
    log = LossLog(["loss"], every=10, total=100)
    log.add(1, loss=0.5)
    with pytest.raises(FloatingPointError, match=r"'loss' is nan at update 2"):
        log.add(2, loss=float("nan"))
    with pytest.raises(FloatingPointError, match="inf at update 3"):
        log.add(3, loss=float("inf"))
    # weights saved with a NaN (a training that ran on past its divergence): the checksum holds, the load refuses
    network = mlp(3, 1, (4,))
    with torch.no_grad():
        network[0].weight[0, 0] = float("nan")
    save_weights(network, {}, tmp_path / "weights" / "broken.pt")
    update_manifest(tmp_path, weight_files("broken"))
    with pytest.raises(ValueError, match=r"non-finite weights \(0.weight\).*retrain"):
        load_verified("broken", tmp_path)

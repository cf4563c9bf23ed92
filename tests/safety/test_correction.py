"""The PICNN and the correction: convexity, gradient, monotone descent, bounds."""

import numpy as np
import pytest
import torch
from helpers import random_observations as observations

from cstr.agents.nn import Normaliser
from cstr.envs import core
from cstr.safety.correction import CorrectedController, CorrectionConfig, CostSurface, correct
from cstr.safety.picnn import PICNN, SOFTPLUS_FLOOR, exact_softplus

SPACE = core.action_space()
MIDPOINT_TRIPLES = 20_000


def actions(n, seed=1):
    return np.random.default_rng(seed).uniform(SPACE.low, SPACE.high, size=(n, 2))


def random_picnn(seed=0, scale=0.7, layers=2):
    """A PICNN with weights far from their initialisation: a hard case for convexity."""
    torch.manual_seed(seed)
    net = PICNN(Normaliser.from_data(observations(2000, seed=seed + 10)), hidden=32, layers=layers, state_hidden=32)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(torch.randn_like(parameter) * scale)
    return net.double()


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_cost_is_convex_in_the_action_midpoint_inequality(layers):
    net = random_picnn(seed=layers, layers=layers)
    s = torch.tensor(observations(MIDPOINT_TRIPLES, seed=2))
    a1 = torch.tensor(actions(MIDPOINT_TRIPLES, seed=3))
    a2 = torch.tensor(actions(MIDPOINT_TRIPLES, seed=4))
    with torch.no_grad():
        middle = net(s, (a1 + a2) / 2)
        chord = (net(s, a1) + net(s, a2)) / 2
    scale = 1.0 + torch.maximum(middle.abs(), chord.abs())
    violation = ((middle - chord) / scale).max().item()
    assert violation <= 1e-12, f"midpoint inequality violated by {violation:.3e} on {MIDPOINT_TRIPLES} triples"


def test_cost_is_not_convex_in_the_state():
    """The state path is unconstrained: convexity is only claimed, and only enforced, in the action."""
    net = random_picnn(seed=5)
    s1 = torch.tensor(observations(5000, seed=6))
    s2 = torch.tensor(observations(5000, seed=7))
    a = torch.tensor(actions(5000, seed=8))
    with torch.no_grad():
        gap = net((s1 + s2) / 2, a) - (net(s1, a) + net(s2, a)) / 2
    assert gap.max().item() > 1e-3


def test_z_weights_are_non_negative_by_construction():
    net = random_picnn(seed=9, scale=5.0)
    for i in range(1, net.layers + 1):
        assert torch.all(net.wz(i) > 0)


def test_hand_written_cost_matches_torch():
    net = random_picnn(seed=11)
    obs, act = observations(500), actions(500)
    surface = CostSurface(net.export(), obs)
    with torch.no_grad():
        expected = net(torch.tensor(obs), torch.tensor(act)).numpy()
    np.testing.assert_allclose(surface.value(act), expected, rtol=1e-6, atol=1e-6)


def test_action_gradient_matches_finite_differences_and_autograd():
    net = random_picnn(seed=12)
    obs, act = observations(200, seed=13), actions(200, seed=14)
    surface = CostSurface(net.export(), obs)
    value, gradient = surface.value_and_gradient(act)
    step = 1e-6 * (SPACE.high - SPACE.low)
    for j in range(2):
        up, down = act.copy(), act.copy()
        up[:, j] += step[j]
        down[:, j] -= step[j]
        numeric = (surface.value(up) - surface.value(down)) / (2 * step[j])
        np.testing.assert_allclose(gradient[:, j], numeric, rtol=1e-5, atol=1e-6 * np.abs(gradient).max())
    a = torch.tensor(act, requires_grad=True)
    net(torch.tensor(obs), a).sum().backward()
    np.testing.assert_allclose(gradient, a.grad.numpy(), rtol=1e-4, atol=1e-6 * np.abs(gradient).max())


@pytest.mark.parametrize("trust_region", [None, 0.1])
def test_correction_never_increases_the_cost_and_stays_in_bounds(trust_region):
    net = random_picnn(seed=15)
    obs = observations(1000, seed=16)
    start = actions(1000, seed=17)
    start[:100] = SPACE.high  # corners
    start[100:200] = SPACE.low
    surface = CostSurface(net.export(), obs)
    config = CorrectionConfig(steps=12, step_size=0.5, trust_region=trust_region)
    result = correct(surface, start, config, record=True)
    assert result.costs.shape == (13, 1000)
    assert np.all(np.diff(result.costs, axis=0) <= 0.0), "the cost increased along a correction"
    assert np.all(result.actions >= SPACE.low) and np.all(result.actions <= SPACE.high)
    assert result.costs[-1].mean() < result.costs[0].mean()
    np.testing.assert_allclose(surface.value(result.actions), result.costs[-1], rtol=1e-12, atol=1e-12)
    if trust_region is not None:
        unit_move = np.abs(surface.to_unit(result.actions) - surface.to_unit(start))
        assert np.all(unit_move <= trust_region + 1e-12)


def test_correction_reaches_the_minimum_of_a_convex_quadratic_bowl():
    """A PICNN with one layer can represent a bowl; the correction must find its bottom."""
    net = random_picnn(seed=18)
    obs = observations(300, seed=19)
    surface = CostSurface(net.export(), obs)
    long_run = correct(surface, actions(300, seed=20), CorrectionConfig(steps=300, step_size=0.5, trust_region=None))
    again = correct(surface, long_run.actions, CorrectionConfig(steps=20, step_size=0.5, trust_region=None))
    # at the (projected) minimum, further descent gains (almost) nothing
    assert np.all(
        surface.value(long_run.actions) - surface.value(again.actions) <= 1e-6 * (1 + np.abs(again.costs[-1]))
    )


def test_corrected_controller_has_the_common_interface():
    net = random_picnn(seed=21).float()

    class Constant:
        def act(self, obs):
            obs = np.asarray(obs)
            return np.tile([1.0, 330.0], (len(obs), 1)) if obs.ndim == 2 else np.array([1.0, 330.0])

    controller = CorrectedController(Constant(), net)
    single = controller.act(observations(1)[0])
    batch = controller.act(observations(7))
    assert single.shape == (2,) and batch.shape == (7, 2)
    with pytest.raises(ValueError, match="one action per state"):
        correct(CostSurface(net.export(), observations(3)), actions(2))


def test_shipped_cost_model_is_convex_and_its_corrections_descend_within_bounds():
    """The same properties on the shipped cost model, at dataset states and the shipped settings."""
    from cstr.agents.policy import load_policy_controller
    from cstr.data.dataset import training_arrays
    from cstr.safety.history import history_features
    from cstr.safety.shipped import load_correction_config, load_cost_model

    net = load_cost_model().double()
    data = training_arrays(["grade_up"])
    features = history_features(data["observations"], data["episode_ids"], net.window)
    rows = np.random.default_rng(30).choice(len(data["observations"]), size=MIDPOINT_TRIPLES // 2, replace=False)
    s = torch.tensor(features[rows], dtype=torch.float64)
    a1 = torch.tensor(actions(len(rows), seed=31))
    a2 = torch.tensor(actions(len(rows), seed=32))
    with torch.no_grad():
        middle = net(s, (a1 + a2) / 2)
        chord = (net(s, a1) + net(s, a2)) / 2
    violation = ((middle - chord) / (1.0 + torch.maximum(middle.abs(), chord.abs()))).max().item()
    assert violation <= 1e-12, f"shipped cost: midpoint inequality violated by {violation:.3e}"

    config = load_correction_config()
    obs = data["observations"][rows[:2000]].astype(float)
    start = load_policy_controller("iql").act(obs)
    surface = CostSurface(net.export(), features[rows[:2000]])
    result = correct(surface, start, config, record=True)
    assert np.all(np.diff(result.costs, axis=0) <= 0.0), "the shipped cost increased along a correction"
    assert np.all(result.actions >= SPACE.low) and np.all(result.actions <= SPACE.high)
    unit_move = np.abs(surface.to_unit(result.actions) - surface.to_unit(start))
    allowed = 2.0 if config.trust_region is None else config.trust_region  # None: the whole box
    assert np.all(unit_move <= allowed + 1e-12)


def test_exact_softplus_is_logaddexp_bit_for_bit_above_its_floor_and_finite_twice_differentiated_below():
    inside = torch.tensor([SOFTPLUS_FLOOR + 1.0, -30.0, -1.0, 0.0, 3.0, 88.0, 100.0], requires_grad=True)
    ours = exact_softplus(inside)
    (slope,) = torch.autograd.grad(ours.sum(), inside, create_graph=True)
    slope.sum().backward()
    reference = inside.detach().clone().requires_grad_(True)
    theirs = torch.logaddexp(reference, torch.zeros(()))
    (reference_slope,) = torch.autograd.grad(theirs.sum(), reference, create_graph=True)
    reference_slope.sum().backward()
    assert (
        torch.equal(ours, theirs) and torch.equal(slope, reference_slope) and torch.equal(inside.grad, reference.grad)
    )
    # far below zero logaddexp's second derivative is NaN; ours is finite and its value exp(x)
    far = torch.tensor([-90.0, -200.0, -1e4], requires_grad=True)
    (slope,) = torch.autograd.grad(exact_softplus(far).sum(), far, create_graph=True)
    slope.sum().backward()
    assert bool(torch.isfinite(far.grad).all()) and bool(torch.isfinite(slope).all())
    assert torch.equal(exact_softplus(far.detach()), torch.exp(far.detach()))


def test_sobolev_loss_of_a_picnn_stays_finite_with_pre_activations_far_below_zero():
    """The double backward of the action gradient, as the cost model's training takes it, with a hidden unit
    pushed to about -200 (a cost model trained on data with runaways reached such values)."""
    model = random_picnn().float()
    with torch.no_grad():
        model.wc[0].bias[0] = -200.0
    s = model.normaliser.observations(torch.as_tensor(observations(16), dtype=torch.float32))
    unit = (torch.rand(16, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1).requires_grad_(True)
    (gradient,) = torch.autograd.grad(model.forward_normalised(s, unit).sum(), unit, create_graph=True)
    (gradient**2).sum().backward()
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None)

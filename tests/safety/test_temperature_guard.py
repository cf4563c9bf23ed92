"""The convex temperature guard: the filter's feasibility and minimality, its refusals, its training."""

import numpy as np
import pytest
import torch
from helpers import random_observations

from cstr.agents.nn import Normaliser
from cstr.envs import core
from cstr.plant.scenarios import TEMPERATURE_LIMIT
from cstr.safety.correction import CostSurface
from cstr.safety.history import history_features
from cstr.safety.picnn import PICNN
from cstr.safety.temperature_guard import (
    TEMPERATURE_INDEX,
    GuardConfig,
    GuardedController,
    guard_actions,
    load_guard_model,
    load_guard_threshold,
    pinball_loss,
    train_guard_model,
)

SPACE = core.action_space()
WINDOW = 2


def random_guard_model(seed=0):
    """A guard-shaped PICNN (window 2) with weights moved far from their initialisation."""
    torch.manual_seed(seed)
    features = history_features(random_observations(500, seed), np.zeros(500, dtype=int), WINDOW)
    model = PICNN(Normaliser.from_data(features), hidden=16, layers=2, state_hidden=16)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
    return model.eval()


def histories(n, seed=1):
    """Windows whose newest temperature is 350 K: which rows the guard moves depends on the model alone."""
    h = history_features(random_observations(n, seed), np.arange(n), WINDOW)
    h[:, TEMPERATURE_INDEX] = 350.0
    return h


def proposals(n, seed=2):
    return np.random.default_rng(seed).uniform(SPACE.low, SPACE.high, size=(n, 2))


def predicted(weights, h, actions):
    return h[:, TEMPERATURE_INDEX] + CostSurface(weights, h).value(actions)


def test_pinball_loss_is_minimised_by_the_quantile():
    values = torch.as_tensor(np.random.default_rng(0).normal(size=4000))
    grid = torch.linspace(-3, 3, 601)
    losses = torch.stack([pinball_loss(values - c, 0.9) for c in grid])
    assert float(grid[losses.argmin()]) == pytest.approx(float(np.quantile(values.numpy(), 0.9)), abs=0.02)


GRID = np.stack(
    np.meshgrid(np.linspace(SPACE.low[0], SPACE.high[0], 41), np.linspace(SPACE.low[1], SPACE.high[1], 41)), -1
).reshape(-1, 2)


def grid_minimum(weights, h):
    """Each row's lowest predicted temperature over a 41 x 41 grid of the input box."""
    return np.array([predicted(weights, np.repeat(h[r : r + 1], len(GRID), 0), GRID).min() for r in range(len(h))])


def test_the_filter_keeps_a_safe_action_bit_for_bit_and_moves_an_unsafe_one_just_enough():
    weights = random_guard_model(seed=3).export()
    h, a = histories(400), proposals(400)
    before = predicted(weights, h, a)
    reachable = grid_minimum(weights, h)
    threshold = float(np.quantile(reachable, 0.6))  # some rows can get below it, some cannot
    step = guard_actions(weights, h, a, threshold)
    assert 100 < step.active.sum() < 380
    np.testing.assert_array_equal(step.active, before > threshold)
    assert np.array_equal(step.actions[~step.active], a[~step.active])  # untouched: bit for bit
    assert np.all((step.actions >= SPACE.low) & (step.actions <= SPACE.high))
    after = predicted(weights, h, step.actions)
    feasible = step.active & ~step.infeasible
    assert feasible.sum() > 50
    assert np.all(after[feasible] <= threshold + 1e-9)
    # the solver finds a feasible action wherever the grid does (up to the grid's resolution)
    assert not np.any(step.infeasible & (reachable < threshold - 1e-3))
    # minimal along the segment to the safest action: a little less of the move is predicted above the threshold
    rows = np.flatnonzero(feasible)
    moved = step.actions[rows] - a[rows]
    shorter = a[rows] + (1 - 1e-6) * moved
    assert np.all(predicted(weights, h[rows], shorter) > threshold - 1e-9)


def test_rows_with_no_feasible_action_get_the_safest_one_and_are_flagged():
    weights = random_guard_model(seed=0).export()
    h, a = histories(200, seed=4), proposals(200, seed=5)
    reachable = grid_minimum(weights, h)
    threshold = float(np.quantile(reachable, 0.3))  # most rows can reach nothing below it
    step = guard_actions(weights, h, a, threshold)
    flagged = np.flatnonzero(step.infeasible)
    assert flagged.size > 50 and np.all(step.active[flagged])
    after = predicted(weights, h[flagged], step.actions[flagged])
    assert np.all(after > threshold)
    # the safest action is as low as the best action of a grid over the box, up to the solver's tolerance
    assert np.all(after <= reachable[flagged] + 0.01)


def test_the_filter_refuses_non_finite_actions_and_mismatched_batches():
    weights = random_guard_model().export()
    h, a = histories(3), proposals(3)
    a[1, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        guard_actions(weights, h, a, 358.0)
    with pytest.raises(ValueError, match="one action per history"):
        guard_actions(weights, h, proposals(2), 358.0)


class Fixed:
    """A controller that proposes the same action for every row."""

    def __init__(self, action):
        self.action = np.asarray(action, dtype=np.float64)
        self.resets = 0

    def act(self, obs):
        obs = np.asarray(obs)
        return self.action.copy() if obs.ndim == 1 else np.tile(self.action, (len(obs), 1))

    def reset(self, rows=None):
        self.resets += 1


def test_the_guarded_controller_counts_its_interventions_per_episode_and_refuses_a_threshold_at_the_limit():
    model = random_guard_model()
    inner = Fixed(SPACE.high)  # most initiator, warmest coolant: the hottest corner
    with pytest.raises(ValueError, match="below the 360 K limit"):
        GuardedController(inner, model, TEMPERATURE_LIMIT)
    obs = random_observations(50, seed=7)
    obs[:, TEMPERATURE_INDEX] = 350.0
    h = history_features(obs, np.arange(50), WINDOW)
    threshold = float(np.median(predicted(model.export(), h, np.tile(SPACE.high, (50, 1)))))
    guarded = GuardedController(inner, model, threshold)
    guarded.reset()
    actions = guarded.act(obs)
    assert inner.resets == 1
    first_active = guarded.last_step.active.copy()
    assert guarded.interventions_within(np.ones(50, dtype=int)).tolist() == first_active.astype(int).tolist()
    assert 0 < guarded.interventions < 50 and guarded.decisions == 50
    assert np.array_equal(actions[~first_active], np.tile(SPACE.high, (50, 1))[~first_active])
    guarded.act(obs)
    # an episode that ended after its first step does not count what the controller did on its row afterwards
    first, second = guarded.active_steps
    counted = guarded.interventions_within(np.r_[1, np.full(49, 2)])
    assert counted.tolist() == [int(first[0])] + (first[1:].astype(int) + second[1:]).tolist()
    guarded.reset()
    assert guarded.active_steps == [] and guarded.interventions_within(np.ones(50, dtype=int)).sum() == 0
    single = GuardedController(inner, model, 359.9)
    assert single.act(obs[0]).shape == (2,)


def synthetic_data(n=3000, seed=0):
    """Temperature changes that rise with the coolant temperature, with noise: a known conditional quantile."""
    rng = np.random.default_rng(seed + 100)  # not random_observations' stream: the noise must be unpredictable
    observations = random_observations(n, seed)
    actions = rng.uniform(SPACE.low, SPACE.high, size=(n, 2))
    change = 0.05 * (actions[:, 1] - 325.0) + rng.normal(0.0, 0.2, n)
    following = observations.copy()
    following[:, TEMPERATURE_INDEX] += change
    return {
        "observations": observations,
        "next_observations": following,
        "actions": actions,
        "episode_ids": np.arange(n) // 20,
    }


def test_training_on_the_pinball_loss_predicts_an_upper_quantile():
    data = synthetic_data()
    upper = train_guard_model(data, GuardConfig(window=1, hidden=8, state_hidden=16, quantile=0.9, updates=1500))
    median = train_guard_model(data, GuardConfig(window=1, hidden=8, state_hidden=16, quantile=0.5, updates=1500))
    # the noise alone puts the 0.9 quantile 0.26 K above the median: fewer rows exceed the upper prediction
    assert upper.history["held_out"]["all"]["under_predicted_share"] < 0.25
    assert median.history["held_out"]["all"]["under_predicted_share"] > 0.35
    with pytest.raises(ValueError, match="quantile"):
        GuardConfig(quantile=0.3)
    with pytest.raises(ValueError, match="validation_share"):
        GuardConfig(validation_share=0.0)
    data["observations"][5, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        train_guard_model(data, GuardConfig(window=1, updates=1))


def test_the_shipped_guard_reads_only_measurements_and_sits_below_the_limit():
    model = load_guard_model()
    assert set(model.training_inputs) == {"observations", "next_observations", "actions", "episode_ids"}
    assert model.training_scenarios == ("startup", "grade_down", "grade_up", "stress")
    assert load_guard_threshold() < TEMPERATURE_LIMIT

"""The offset-free correction: the biased cost, its PICNN, the bias estimators and the controller around them."""

import copy

import numpy as np
import pytest
import torch

import cstr
from cstr.agents.nn import Normaliser
from cstr.data.dataset import training_arrays
from cstr.envs import core
from cstr.safety import cost_model, narx, shipped
from cstr.safety.correction import CorrectedController, CostSurface
from cstr.safety.cost_model import CostModelConfig
from cstr.safety.diagnostics import midpoint_convexity_check
from cstr.safety.history import history_features
from cstr.safety.model_minimiser import ModelCostMinimiser
from cstr.safety.offset_free import BiasEstimator, OffsetFreeConfig, bias_trace
from cstr.safety.picnn import PICNN

WINDOW = 3


@pytest.fixture(scope="module")
def episodes():
    data = training_arrays()
    keep = np.isin(data["episode_ids"], [0, 1, 100, 200])
    return {key: value[keep] for key, value in data.items()}


@pytest.fixture(scope="module")
def trained(episodes, tmp_path_factory):
    """A toy offset-free cost model, saved and loaded back through the shipped functions."""
    root = tmp_path_factory.mktemp("offset_free")
    policies = [cstr.load_controller(name) for name in ("bc", "iql")]
    result = cost_model.train_cost_model(
        "narx",
        data=episodes,
        policies=policies,
        progress=False,
        updates=20,
        dynamics_updates=20,
        window=WINDOW,
        log_every=10,
        offset_free=True,
    )
    shipped.save(result, root=root, name="picnn-offset-free", manifest=True)
    return result, root


def observation(polymer, temperature, setpoint=(40.0, 340.0), inputs=(1.0, 330.0)):
    return np.array([polymer, temperature, setpoint[0] - polymer, setpoint[1] - temperature, *inputs])


def test_a_bias_shifts_the_aim_of_every_prediction_but_not_the_limit_term(episodes):
    model = narx.train(episodes, narx.NARXConfig(window=WINDOW, num_updates=5, rollout_steps=2), progress=False).model
    features = torch.as_tensor(history_features(episodes["observations"], episodes["episode_ids"], WINDOW)[:4])
    actions = torch.as_tensor(episodes["actions"][:4], dtype=torch.float32)
    bias = torch.tensor([[5.0, -2.0], [0.0, 30.0], [-3.0, 0.0], [0.0, 0.0]])
    with torch.no_grad():
        biased = model.tracking_cost(features, actions, horizon=3, discount=0.9, limit_weight=10.0, output_bias=bias)
        plain = model.tracking_cost(features, actions, horizon=3, discount=0.9, limit_weight=10.0)
        predicted = model.rollout(features, actions, 3)
    setpoints = features[:, 0:2] + features[:, 2:4]
    scales = torch.tensor([core.POLYMER_SCALE, core.TEMPERATURE_SCALE])
    errors = ((setpoints[:, None, :] - predicted - bias[:, None, :]) / scales) ** 2
    # the limit term reads the prediction itself: a bias moves the aim, not the limit
    terms = errors.sum(-1) + 10.0 * narx.limit_penalty(predicted[..., 1])
    expected = (terms * 0.9 ** torch.arange(3.0)).sum(1)
    torch.testing.assert_close(biased, expected)
    assert biased[1] != plain[1]
    assert biased[3] == plain[3]
    cold = torch.tensor([[0.0, -30.0]] * 4)  # a bias that says "cooler" leaves the limit term as it was
    with torch.no_grad():
        hot_features = features.clone()
        hot_features[:, 1] = 359.0
        hot_features[:, 3] = 340.0 - 359.0
        limit_only = model.tracking_cost(hot_features, actions, 3, 0.9, 10.0) - model.tracking_cost(
            hot_features, actions, 3, 0.9, 0.0
        )
        limit_with_bias = model.tracking_cost(
            hot_features, actions, 3, 0.9, 10.0, output_bias=cold
        ) - model.tracking_cost(hot_features, actions, 3, 0.9, 0.0, output_bias=cold)
    torch.testing.assert_close(limit_with_bias, limit_only)


def test_the_offset_free_picnn_reads_the_window_and_two_biases_and_stays_convex(trained):
    result, root = trained
    assert result.model.state_dim == 6 * WINDOW + 2 and result.model.window == WINDOW
    loaded = shipped.load_cost_model(root, "picnn-offset-free")
    assert loaded.bias_inputs == 2 and tuple(loaded.bias_range) == CostModelConfig().bias_range
    states = torch.randn(64, 6 * WINDOW + 2) * 5.0
    assert midpoint_convexity_check(loaded, states.numpy(), triples=256)["violations"] == 0
    with pytest.raises(ValueError, match="2 biases"):
        PICNN(Normaliser(np.zeros(6 * WINDOW + 3), np.ones(6 * WINDOW + 3)), bias_inputs=2)


def test_only_the_narx_target_can_be_offset_free(episodes):
    with pytest.raises(ValueError, match="only the 'narx' target"):
        cost_model.train(None, episodes, CostModelConfig(target="reward", offset_free=True), progress=False)


def test_the_integral_estimator_integrates_the_error_pauses_while_the_outputs_move_and_clips():
    estimator = BiasEstimator(OffsetFreeConfig("integral", gain=0.5, settled=0.05), bias_range=(3.0, 1.0))
    hot = np.stack([observation(42.0, 340.4), observation(42.0, 340.4)])
    # two observations per window: the first row at rest, the second 10 kg/m3 apart (0.25 of the scale)
    window = np.stack([np.r_[hot[0], hot[0]], np.r_[hot[1], observation(32.0, 340.4)]])
    first = estimator.update(hot, window)
    assert np.all(first == 0.0)  # an episode's first observation only starts it
    second = estimator.update(hot, window)
    np.testing.assert_allclose(second[0], [1.0, 0.2])
    np.testing.assert_allclose(second[1], [0.0, 0.0])
    for _ in range(20):
        last = estimator.update(hot, window)
    np.testing.assert_allclose(last[0], [3.0, 1.0])  # clipped to the trained range
    estimator.reset([0])
    assert np.all(estimator.update(hot, window)[0] == 0.0)
    always = BiasEstimator(OffsetFreeConfig("integral", gain=0.5, settled=None), bias_range=(100.0, 10.0))
    always.update(hot, window)
    assert always.update(hot, window)[1, 0] == pytest.approx(1.0)


def test_the_prediction_error_estimator_converges_to_the_model_error(trained):
    result, _ = trained
    dynamics = result.dynamics.model
    estimator = BiasEstimator(OffsetFreeConfig("prediction-error", gain=0.5), (30.0, 10.0), dynamics)
    features = np.tile(observation(40.0, 340.0), (1, WINDOW))
    with torch.no_grad():
        predicted = copy.deepcopy(dynamics).double()(torch.as_tensor(features), torch.tensor([[1.0, 330.0]])).numpy()[0]
    measured = observation(predicted[0] + 2.0, predicted[1] - 0.5)
    estimator.update(observation(40.0, 340.0)[None], features)
    for _ in range(30):
        bias = estimator.update(measured[None], features)
    np.testing.assert_allclose(bias[0], [2.0, -0.5], atol=1e-6)
    with pytest.raises(ValueError, match="needs the NARX model"):
        BiasEstimator(OffsetFreeConfig("prediction-error"), (30.0, 10.0))
    with pytest.raises(ValueError, match="gain"):
        OffsetFreeConfig(gain=0.0)
    with pytest.raises(ValueError, match="unknown bias estimator"):
        OffsetFreeConfig(estimator="kalman")


def test_a_bias_moves_the_corrected_action_and_the_controller_needs_an_estimator(trained):
    result, root = trained
    model = shipped.load_cost_model(root, "picnn-offset-free")
    policy = cstr.load_controller("iql")
    with pytest.raises(ValueError, match="needs a bias estimator"):
        CorrectedController(policy, model)
    with pytest.raises(ValueError, match="only such a model"):
        CorrectedController(
            policy, shipped.load_cost_model(), bias_estimator=BiasEstimator(OffsetFreeConfig(), (1.0, 1.0))
        )
    features = np.tile(observation(40.0, 340.0), (1, WINDOW))
    weights = model.export()
    values = [
        CostSurface(weights, np.concatenate([features, [bias]], axis=1)).value(np.array([[1.0, 330.0]]))[0]
        for bias in ([0.0, 0.0], [20.0, 5.0])
    ]
    assert values[0] != values[1]
    controller = CorrectedController(
        policy, model, bias_estimator=BiasEstimator(OffsetFreeConfig("integral", 0.5, settled=None), model.bias_range)
    )
    batch = np.stack([observation(40.0, 340.0), observation(50.0, 342.0)])
    controller.act(batch)
    controller.act(batch)
    np.testing.assert_allclose(controller.last_bias[1], [5.0, 1.0])
    assert np.all(controller.last_bias[0] == 0.0)
    controller.reset()
    controller.act(batch)
    assert np.all(controller.last_bias == 0.0)


def test_the_narx_search_finds_an_action_no_coarse_grid_point_beats(trained):
    result, _ = trained
    dynamics = result.dynamics.model
    search = ModelCostMinimiser(dynamics, horizon=3, coarse=5, fine=5)
    batch = np.stack([observation(40.0, 340.0), observation(70.0, 348.0)])
    actions = search.act(batch)
    space = core.action_space()
    assert actions.shape == (2, 2) and np.all((actions >= space.low) & (actions <= space.high))
    features = search.history.push(batch)  # the window the search read: the same observation again

    def cost(candidates):
        with torch.no_grad():
            return dynamics.tracking_cost(
                torch.as_tensor(np.repeat(features[:1], len(candidates), axis=0), dtype=torch.float32),
                torch.as_tensor(candidates, dtype=torch.float32),
                3,
                limit_weight=10.0,
            ).numpy()

    grid = np.stack(np.meshgrid(*np.linspace(space.low, space.high, 5).T, indexing="ij"), -1).reshape(-1, 2)
    assert cost(actions[:1])[0] <= cost(grid).min() + 1e-6
    single = ModelCostMinimiser(dynamics, horizon=3, coarse=5, fine=5).act(batch[0])
    assert single.shape == (2,)
    with pytest.raises(ValueError, match="at least 2 points"):
        ModelCostMinimiser(dynamics, coarse=1)


def test_bias_trace_records_the_estimate_and_the_gate_at_every_step(trained):
    _, root = trained
    model = shipped.load_cost_model(root, "picnn-offset-free")
    controller = CorrectedController(
        cstr.load_controller("iql"),
        model,
        bias_estimator=BiasEstimator(OffsetFreeConfig("integral", 0.1, settled=None), model.bias_range),
    )
    trace = bias_trace(controller, "grade_up", [5, 6], env_options={"parameter_factors": {"jacket_ua": 0.8}})
    length = int(trace["lengths"][0])
    assert trace["biases"].shape == (2, trace["rewards"].shape[1], 2)
    assert np.all(trace["biases"][:, 0] == 0.0) and not trace["integrating"][:, 0].any()
    for row, steps in enumerate(trace["lengths"]):  # no gate: it integrates at every later step of the episode
        assert trace["integrating"][row, 1:steps].all() and not trace["integrating"][row, steps:].any()
    errors = -trace["observations"][0, 1:length, 2:4].astype(np.float64)
    bound = np.asarray(model.bias_range)
    assert np.all(np.abs(0.1 * np.cumsum(errors, axis=0)) < bound)  # never clipped: b is the plain sum
    np.testing.assert_allclose(trace["biases"][0, length - 1], 0.1 * errors.sum(0), rtol=1e-4)
    with pytest.raises(ValueError, match="offset-free"):
        bias_trace(cstr.load_controller("iql+"), "grade_up", [5])

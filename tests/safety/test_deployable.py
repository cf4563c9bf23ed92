"""The deployable correction: the history window, the NARX model, the limit term, and what the shipped models read."""

import json

import numpy as np
import pytest
import torch
from helpers import assert_gradient_matches_finite_differences

import cstr
from cstr.agents.nn import Normaliser
from cstr.agents.weights import weight_files
from cstr.data.dataset import training_arrays
from cstr.plant.scenarios import HOURS_PER_STEP
from cstr.safety import cost_model, narx, shipped
from cstr.safety.correction import CorrectedController
from cstr.safety.cost_model import FULL_STATE_FIELDS, CostModelConfig
from cstr.safety.diagnostics import last_window_misses, limit_term_check, midpoint_convexity_check, peak_predictions
from cstr.safety.history import HistoryBuffer, history_features, next_history_features
from cstr.safety.picnn import PICNN
from cstr.storage import data_root, update_manifest

WINDOW = 4


@pytest.fixture(scope="module")
def episodes():
    """The first six episodes of each scenario, whole and in order (the history needs contiguous episodes)."""
    data = training_arrays()
    keep = np.isin(data["episode_ids"], [0, 1, 2, 100, 101, 200, 201])
    return {key: value[keep] for key, value in data.items()}


def test_history_features_are_what_the_deployed_buffer_keeps(episodes):
    ids = episodes["episode_ids"]
    features = history_features(episodes["observations"], ids, WINDOW)
    buffer = HistoryBuffer(WINDOW)
    for episode in np.unique(ids):
        rows = np.flatnonzero(ids == episode)
        buffer.reset()
        for row in rows:
            assert np.array_equal(buffer.push(episodes["observations"][row])[0], features[row])
    first = np.flatnonzero(ids == ids[0])[0]
    assert np.array_equal(features[first], np.tile(episodes["observations"][first], WINDOW))
    following = next_history_features(episodes["observations"], episodes["next_observations"], ids, WINDOW)
    inside = np.flatnonzero(ids[1:] == ids[:-1])
    assert np.array_equal(following[inside], features[inside + 1])


def test_history_buffer_resets_rows_and_starts_afresh_for_another_batch():
    buffer = HistoryBuffer(3)
    first = np.arange(12.0).reshape(2, 6)
    buffer.push(first)
    second = buffer.push(first + 100.0)
    assert np.array_equal(second[1, 6:12], first[1])
    buffer.reset([1])
    third = buffer.push(first + 200.0)
    assert np.array_equal(third[1], np.tile(first[1] + 200.0, 3))
    assert np.array_equal(third[0, :6], first[0] + 200.0) and np.array_equal(third[0, 6:12], first[0] + 100.0)
    assert np.array_equal(buffer.push(np.ones((3, 6))), np.ones((3, 18)))  # another batch: new episodes
    with pytest.raises(ValueError, match="at least 1"):
        HistoryBuffer(0)


def test_picnn_reads_a_window_of_observations():
    net = PICNN(Normaliser(np.zeros(18), np.ones(18)))
    assert net.window == 3 and net.state_dim == 18
    with pytest.raises(ValueError, match="window of 6-dimensional"):
        PICNN(Normaliser(np.zeros(7), np.ones(7)))


def test_corrected_controller_keeps_its_own_history_and_reset_forgets_it(episodes):
    torch.manual_seed(0)
    net = PICNN(Normaliser(np.zeros(6 * WINDOW), np.ones(6 * WINDOW))).double()
    policy = cstr.load_controller("iql")
    obs = episodes["observations"][:10].astype(float)
    controller = CorrectedController(policy, net)
    first = [controller.act(o) for o in obs]
    controller.reset()
    again = [controller.act(o) for o in obs]
    assert np.array_equal(np.array(first), np.array(again))
    assert np.array_equal(controller.history.windows[0], obs[[9, 8, 7, 6]])
    fresh = CorrectedController(policy, net)
    fresh.act(obs[5])
    fresh.act(obs[6])
    assert np.array_equal(fresh.history.windows[0], obs[[6, 5, 5, 5]])


def test_limit_penalty_is_zero_far_from_the_limit_and_one_at_it():
    temperatures = torch.tensor([340.0, 354.9, 355.0, 357.5, 360.0, 365.0])
    penalty = narx.limit_penalty(temperatures).numpy()
    assert np.all(penalty[:3] == 0.0)
    assert penalty[3] == pytest.approx(0.25) and penalty[4] == pytest.approx(1.0) and penalty[5] == pytest.approx(4.0)


def test_narx_training_is_deterministic_and_its_cost_gradient_is_right(episodes):
    config = narx.NARXConfig(window=WINDOW, num_updates=30, log_every=10, rollout_steps=3)
    first = narx.train(episodes, config, progress=False)
    second = narx.train(episodes, config, progress=False)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    assert len(first.history["validation_loss"]) == 3
    model = first.model.double()
    features = torch.as_tensor(history_features(episodes["observations"], episodes["episode_ids"], WINDOW)[:5])
    actions = torch.as_tensor(episodes["actions"][:5], dtype=torch.float64).requires_grad_(True)

    def cost(a):
        return model.tracking_cost(features.double(), a, horizon=3, limit_weight=10.0).double()

    assert_gradient_matches_finite_differences(cost, actions)
    predicted = model.rollout(features, actions.detach(), 4)
    assert predicted.shape == (5, 4, 2)
    with pytest.raises(ValueError, match="horizon"):
        model.tracking_cost(features, actions, horizon=0)


def test_peak_predictions_follow_the_applied_inputs_from_the_deployed_window(episodes):
    model = narx.train(episodes, narx.NARXConfig(window=WINDOW, num_updates=5, rollout_steps=2), progress=False).model
    first = episodes["episode_ids"] == episodes["episode_ids"][0]
    observations, actions = episodes["observations"][first], episodes["actions"][first]
    next_temperatures = episodes["next_observations"][first][:, 1]
    check = peak_predictions(model, observations, actions, next_temperatures, horizon=3)
    assert list(check["start"]) == list(range(len(observations) - 2))
    # step 4: the window the deployed buffer holds then, the three inputs applied from there on
    buffer = HistoryBuffer(WINDOW)
    for row in observations[:5]:
        window = buffer.push(row[None])
    alone = model.rollout(window, actions[None, 4:7], 3)[0, :, 1].max().item()
    assert check["predicted"][4] == pytest.approx(alone, rel=1e-6)
    assert check["realised"][4] == pytest.approx(next_temperatures[4:7].max())
    assert check["realised"][-1] == pytest.approx(next_temperatures[-3:].max())
    with pytest.raises(ValueError, match="one action and one next temperature"):
        peak_predictions(model, observations, actions[:-1], next_temperatures, horizon=3)
    # the same, read at the last window of every episode of a rollout-shaped record (two copies, one cut short)
    n = len(observations)
    run = {
        "lengths": np.array([n, n - 4]),
        "observations": np.stack([observations, observations]),
        "actions": np.stack([actions, actions]),
        "next_observations": np.stack([episodes["next_observations"][first]] * 2),
    }
    hours = 10 * HOURS_PER_STEP
    misses = last_window_misses(model, run, horizon=3, before_hours=hours)
    short = peak_predictions(model, observations[: n - 4], actions[: n - 4], next_temperatures[: n - 4], horizon=3)
    assert misses["miss"][0] == pytest.approx(check["realised"][-1] - check["predicted"][-1])
    assert misses["miss"][1] == pytest.approx(short["realised"][-1] - short["predicted"][-1])
    assert misses["cooling"][0] == pytest.approx(observations[n - 3, 1] - check["predicted"][-1])
    early = (check["start"] + 3) * HOURS_PER_STEP <= hours
    assert misses["before"][0] == pytest.approx(np.abs(check["realised"] - check["predicted"])[early].max())
    assert "before" not in last_window_misses(model, run, horizon=3)


def test_rollout_windows_never_cross_an_episode_or_a_termination(episodes):
    rows = narx.rollout_windows(episodes, 6)
    ids = episodes["episode_ids"]
    assert np.all(ids[rows] == ids[rows[:, :1]])
    assert not np.any(episodes["terminations"][rows[:, :-1]])
    ended = dict(episodes, terminations=np.ones_like(episodes["terminations"]))
    with pytest.raises(ValueError, match="stretches"):
        narx.train(ended, narx.NARXConfig(window=2, num_updates=2), progress=False)


def test_shipped_recipe_trains_on_data_without_the_full_state(episodes, tmp_path):
    """The shipped cost model's recipe, at toy scale, on a copy of the data with the full-state fields removed."""
    sidecar = json.loads((data_root() / "weights" / f"{shipped.COST_MODEL_NAME}.json").read_text())["config"]
    assert sidecar["target"] in cost_model.DEPLOYABLE_TARGETS
    recipe = {key: value for key, value in sidecar.items() if key in CostModelConfig.__dataclass_fields__}
    recipe.update(num_updates=10, dynamics_updates=10, log_every=5, noise_scales=tuple(recipe["noise_scales"]))
    blind = {key: value for key, value in episodes.items() if key not in FULL_STATE_FIELDS}
    policies = [cstr.load_controller(name) for name in ("bc", "iql")]
    result = cost_model.train_cost_model(
        sidecar["target"],
        data=blind,
        policies=policies,
        progress=False,
        **{k: v for k, v in recipe.items() if k != "target"},
    )
    assert not set(result.training_inputs) & set(FULL_STATE_FIELDS)
    shipped.save(result, root=tmp_path, name="picnn", manifest=True)
    saved = json.loads((tmp_path / "weights" / "picnn.json").read_text())["config"]
    assert saved["training_inputs"] == list(result.training_inputs)
    loaded = shipped.load_cost_model(tmp_path)
    assert loaded.training_inputs == result.training_inputs and loaded.window == sidecar["state_window"]
    with pytest.raises(ValueError, match="states, next_states, which are missing"):
        cost_model.train(None, blind, CostModelConfig(target="full-state-model", num_updates=2), progress=False)


def test_shipped_bc_plus_and_iql_plus_read_no_full_state():
    model = cstr.load_cost_model()
    sidecar = json.loads((data_root() / "weights" / f"{shipped.COST_MODEL_NAME}.json").read_text())["config"]
    assert model.training_inputs == tuple(sidecar["training_inputs"])
    assert not set(model.training_inputs) & set(FULL_STATE_FIELDS)
    for name in ("bc+", "iql+"):
        controller = cstr.load_controller(name)
        assert controller.name == name
    ablation = shipped.load_cost_model(name=shipped.FULL_STATE_COST_MODEL_NAME)
    assert set(ablation.training_inputs) >= set(FULL_STATE_FIELDS)
    with pytest.raises(ValueError, match="ablation"):
        shipped.check_deployable(ablation, shipped.FULL_STATE_COST_MODEL_NAME)
    assert cstr.load_controller("iql+full-state").name == "iql+full-state"


def test_td_history_target_is_convex_and_standardised(episodes):
    config = CostModelConfig(target="td-history", window=WINDOW, num_updates=40, log_every=10)
    result = cost_model.train(None, episodes, config, progress=False)
    assert result.model.window == WINDOW
    features = history_features(episodes["observations"], episodes["episode_ids"], WINDOW)
    check = midpoint_convexity_check(result.model, features, triples=2000)
    assert check["violations"] == 0
    with torch.no_grad():
        spread = result.model(features, episodes["actions"]).std().item()
    assert spread == pytest.approx(1.0, rel=1e-3)


def test_limit_term_lowers_the_predicted_peak_temperature_near_the_limit(episodes):
    """Where a hot proposal's predicted temperature nears 360 K, the corrected action's predicted peak is lower;
    and lower with the limit term than without it (two cost models on the same NARX model, seed 0)."""
    config = shipped.load_correction_config()
    plant = shipped.load_dynamics_model()
    shipped_model = cstr.load_cost_model()
    features = history_features(episodes["observations"], episodes["episode_ids"], shipped_model.window)
    check = limit_term_check(features, {"shipped": shipped_model}, plant, config)
    assert check["near"] >= 20, f"only {check['near']} states with a predicted peak of 355 K or more"
    assert np.all(check["peaks"]["shipped"] < check["proposal_peak"])

    pair = {name: shipped.load_cost_model(name=f"picnn-{name}") for name in ("narx", "narx-no-limit")}
    same_plant = shipped.load_dynamics_model(name="picnn-narx")
    control = limit_term_check(features, pair, same_plant, config)
    with_term, without_term = control["peaks"]["narx"], control["peaks"]["narx-no-limit"]
    assert np.mean(with_term < without_term) >= 0.75
    assert with_term.max() < without_term.max()


def test_earlier_code_seeds_are_those_whose_sidecar_lacks_todays_fields(tmp_path):
    pt_file, json_file = weight_files(f"{shipped.COST_MODEL_NAME}-seed3")
    written = []
    for seed, drop in ((0, None), (1, "offset_free")):
        pt_seed, json_seed = weight_files(f"{shipped.COST_MODEL_NAME}-seed{seed}")
        (tmp_path / pt_seed).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / pt_seed).write_bytes((data_root() / pt_file).read_bytes())
        sidecar = json.loads((data_root() / json_file).read_text())
        assert set(CostModelConfig.__dataclass_fields__) <= set(sidecar["config"])
        sidecar["config"].pop(drop, None)
        (tmp_path / json_seed).write_text(json.dumps(sidecar))
        written += [pt_seed, json_seed]
    update_manifest(tmp_path, written)
    assert shipped.earlier_code_seeds([0, 1], tmp_path) == [1]
    (tmp_path / json_seed).write_text(json.dumps({"config": {}}))
    with pytest.raises(ValueError, match="checksum|manifest"):
        shipped.earlier_code_seeds([1], tmp_path)

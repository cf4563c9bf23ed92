"""The Gymnasium environments: API conformance, seeding, bad input, termination, batched vs single."""

import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import cstr
from cstr.envs import core
from cstr.envs.polymer_cstr import PolymerCSTREnv
from cstr.model import STATE_NAMES
from cstr.scenarios import HORIZON, SCENARIO_NAMES, TEMPERATURE_LIMIT
from cstr.simulate import AGREEMENT_TOLERANCE, IntegrationError, relative_error

GOLDEN = Path(__file__).parent / "golden"


def make(scenario="grade_up"):
    return gym.make(cstr.ENV_ID, scenario=scenario)


def make_vec(num_envs, scenario="grade_up"):
    return gym.make_vec(cstr.ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", scenario=scenario)


def state_vector(info, index=None):
    return np.array([info["state"][name] if index is None else info["state"][name][index] for name in STATE_NAMES])


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_check_env_passes(scenario):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*symmetric and normalized.*")
        check_env(make(scenario).unwrapped, skip_render_check=True)


def test_registration_sets_the_horizon():
    env = make()
    assert env.spec.max_episode_steps == HORIZON
    with pytest.raises(ValueError, match="unknown scenario 'shutdown'"):
        gym.make(cstr.ENV_ID, scenario="shutdown")


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_same_seed_and_actions_give_the_same_trajectory(scenario):
    runs = []
    for _ in range(2):
        env = make(scenario)
        obs, info = env.reset(seed=42)
        trajectory = [obs]
        for k in range(15):
            obs, reward, *_ = env.step(np.array([1.0 + 0.1 * k, 336.0], dtype=np.float32))
            trajectory.append(obs)
            trajectory.append(np.float32(reward))
        runs.append(np.hstack(trajectory))
    np.testing.assert_array_equal(runs[0], runs[1])
    other, _ = make(scenario).reset(seed=43)
    assert not np.array_equal(other, runs[0][:6])


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_environment_follows_the_golden_trajectory(scenario):
    with np.load(GOLDEN / f"{scenario}.npz") as data:
        golden = {key: data[key] for key in data.files}
    env = PolymerCSTREnv(scenario)
    env.reset(seed=20240)
    assert np.array_equal(env._state, golden["states"][0])
    for k, action in enumerate(golden["actions"][:40]):
        _, reward, terminated, truncated, info = env.step(action)
        assert not terminated
        assert relative_error(state_vector(info), golden["states"][k + 1]).max() < AGREEMENT_TOLERANCE / 5
        assert reward == pytest.approx(golden["rewards"][k], rel=1e-4, abs=1e-6)


def test_info_holds_named_states_and_setpoint():
    env = make("grade_down")
    _, info = env.reset(seed=0)
    assert set(info["state"]) == {"monomer", "initiator", "radicals", "polymer", "temperature"}
    assert info["setpoint"] == {"polymer": 40.0, "temperature": 340.0}
    assert info["termination_reason"] == ""


@pytest.mark.parametrize("bad, error, message", [
    (np.array([np.nan, 330.0]), ValueError, "NaN or infinite"),
    (np.array([1.0, np.inf]), ValueError, "NaN or infinite"),
    (np.array([1.0, 330.0, 2.0]), ValueError, r"shape \(2,\)"),
    (np.array([[1.0, 330.0]]), ValueError, r"shape \(2,\)"),
    ("1.0, 330", TypeError, "must be numeric"),
    (["a", "b"], TypeError, "must be numeric"),
    (None, TypeError, "must be numeric"),
    ({"feed": 1.0}, TypeError, "numeric"),
])
def test_bad_actions_are_refused_with_a_clear_error(bad, error, message):
    env = make()
    env.reset(seed=0)
    with pytest.raises(error, match=message):
        env.step(bad)


def test_out_of_bounds_action_is_clipped_and_flagged():
    env = make()
    env.reset(seed=0)
    obs, _, _, _, info = env.step(np.array([5.0, 290.0]))
    assert info["action_clipped"] is True
    assert obs[4] == pytest.approx(2.5) and obs[5] == pytest.approx(300.0)
    _, _, _, _, info = env.step(np.array([1.0, 330.0]))
    assert info["action_clipped"] is False


def test_crossing_the_temperature_limit_terminates_and_pays_for_the_rest():
    env = make("grade_up")
    env.reset(seed=1)
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(np.array([2.5, 350.0]))
        steps += 1
        total += reward
        assert np.isfinite(reward) and np.all(np.isfinite(obs))
        if terminated or truncated:
            break
    assert terminated and not truncated
    assert info["termination_reason"] == "temperature_limit"
    assert info["state"]["temperature"] > TEMPERATURE_LIMIT
    assert reward <= core.WORST_STEP_REWARD * (HORIZON - steps)
    # ending early never pays: the total is no better than the worst possible full episode tail
    assert total <= core.WORST_STEP_REWARD * (HORIZON - steps)


def test_solver_failure_ends_the_episode_with_a_reason(monkeypatch):
    env = PolymerCSTREnv("startup")
    env.reset(seed=3)
    before = env._state.copy()

    def failing(*args, **kwargs):
        raise IntegrationError("forced failure")

    monkeypatch.setattr("cstr.envs.polymer_cstr.integrate_interval", failing)
    obs, reward, terminated, truncated, info = env.step(np.array([1.0, 330.0]))
    assert terminated and info["termination_reason"] == "solver_failure"
    assert np.all(np.isfinite(obs)) and np.isfinite(reward)
    np.testing.assert_array_equal(state_vector(info), before)


def test_episode_truncates_at_the_horizon():
    env = PolymerCSTREnv("grade_down", horizon=3)
    env.reset(seed=0)
    flags = [env.step(np.array([1.1, 334.0]))[3] for _ in range(3)]
    assert flags == [False, False, True]


def test_step_before_reset_is_refused():
    with pytest.raises(RuntimeError, match="reset"):
        PolymerCSTREnv("startup").step(np.array([1.0, 330.0]))


# ---------------------------------------------------------------- vector env

@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_vector_env_starts_where_single_envs_start_and_agrees_with_them(scenario):
    num_envs, seed = 3, 100
    venv = make_vec(num_envs, scenario)
    obs, vinfo = venv.reset(seed=seed)
    singles = [make(scenario) for _ in range(num_envs)]
    for i, env in enumerate(singles):
        single_obs, info = env.reset(seed=seed + i)
        np.testing.assert_array_equal(obs[i], single_obs)
        np.testing.assert_array_equal(state_vector(vinfo, i), state_vector(info))
    rng = np.random.default_rng(0)
    worst = 0.0
    for k in range(40):
        actions = np.column_stack([rng.uniform(0.5, 1.5, num_envs), rng.uniform(330, 340, num_envs)])
        _, rewards, terminated, truncated, vinfo = venv.step(actions)
        for i, env in enumerate(singles):
            _, reward, term, trunc, info = env.step(actions[i])
            worst = max(worst, relative_error(state_vector(vinfo, i), state_vector(info)).max())
            assert reward == pytest.approx(rewards[i], rel=1e-3, abs=1e-6)
            assert term == terminated[i] and trunc == truncated[i]
    assert worst < AGREEMENT_TOLERANCE


def test_vector_env_terminates_rows_independently_and_autoresets():
    venv = make_vec(2, "grade_up")
    venv.reset(seed=5)
    actions = np.array([[2.5, 350.0], [1.03, 342.0]])
    for _ in range(HORIZON):
        obs, rewards, terminated, truncated, info = venv.step(actions)
        if terminated[0]:
            break
    assert terminated[0] and not terminated[1]
    assert info["termination_reason"][0] == "temperature_limit"
    assert info["termination_reason"][1] == ""
    # the next step resets the finished row (its action ignored) and steps the other
    obs, rewards, terminated, truncated, info = venv.step(actions)
    assert rewards[0] == 0.0 and not terminated[0]
    assert info["time"][0] == 0.0 and info["time"][1] > 0.0
    fresh, _ = make("grade_up").reset(seed=5)
    assert abs(obs[0][1] - fresh[1]) < 5.0


def test_vector_env_refuses_bad_actions():
    venv = make_vec(2)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="NaN"):
        venv.step(np.array([[1.0, np.nan], [1.0, 330.0]]))
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        venv.step(np.array([1.0, 330.0]))
    with pytest.raises(TypeError):
        venv.step("fast")


def test_vector_env_reports_solver_failure(monkeypatch):
    venv = make_vec(2, "startup")
    venv.reset(seed=0)

    def failing(states, inputs, duration, params, step_hints=None, active=None):
        return states.copy(), np.array([1, 0], dtype=np.int8)

    monkeypatch.setattr("cstr.envs.vector.advance_batch", failing)
    _, rewards, terminated, _, info = venv.step(np.array([[1.0, 330.0], [1.0, 330.0]]))
    assert list(terminated) == [True, False]
    assert info["termination_reason"][0] == "solver_failure"
    assert np.all(np.isfinite(rewards))

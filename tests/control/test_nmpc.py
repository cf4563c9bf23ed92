"""NMPC (the full-state oracle), the gap metric, and the compare-nmpc plumbing."""

import numpy as np
import pytest

import cstr
from cstr.control.nmpc import NMPC, casadi_rhs
from cstr.control.rollout import rollout
from cstr.envs.polymer_cstr import PolymerCSTREnv
from cstr.experiments.comparison import gap_metric, gap_table
from cstr.plant.model import rhs
from cstr.plant.scenarios import TEMPERATURE_LIMIT

casadi = pytest.importorskip("casadi")


def test_casadi_model_is_the_reactor_model():
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = np.array(
            [rng.uniform(400, 520), rng.uniform(0, 8), rng.uniform(0, 2e-6), rng.uniform(0, 100), rng.uniform(320, 360)]
        )
        u = np.array([rng.uniform(0, 2.5), rng.uniform(300, 350)])
        ours = np.array(casadi.DM(casadi_rhs(casadi.DM(x), casadi.DM(u)))).ravel()
        np.testing.assert_allclose(ours, rhs(x, u), rtol=1e-12, atol=1e-30)


def test_nmpc_is_registered_and_needs_the_state():
    controller = cstr.load_controller("nmpc")
    assert isinstance(controller, NMPC)
    with pytest.raises(RuntimeError, match="observe_state"):
        controller.act(np.zeros(6))


def test_nmpc_reduces_the_error_and_respects_the_bounds():
    controller = NMPC(horizon=12)
    result = rollout(controller, "grade_up", [1_000_000], horizon=12)
    actions = result["actions"][0]
    assert np.all(actions[:, 0] >= 0.0) and np.all(actions[:, 0] <= 2.5)
    assert np.all(actions[:, 1] >= 300.0) and np.all(actions[:, 1] <= 350.0)
    polymer_error = np.abs(80.0 - result["next_states"][0, :, 3])
    assert polymer_error[-1] < 0.5 * abs(80.0 - result["states"][0, 0, 3])
    assert np.all(result["next_states"][0, :, 4] < TEMPERATURE_LIMIT)
    summary = controller.solve_time_summary()
    assert summary["solves"] == 12 and summary["failures"] == 0 and summary["max"] > 0.0


def test_nmpc_acts_on_a_batch_with_one_warm_start_per_row():
    env_a, env_b = PolymerCSTREnv("grade_up"), PolymerCSTREnv("grade_down")
    obs = np.stack([env_a.reset(seed=1)[0], env_b.reset(seed=2)[0]])
    controller = NMPC(horizon=8)
    controller.observe_state(np.stack([env_a.measured_state, env_b.measured_state]))
    actions = controller.act(obs)
    assert actions.shape == (2, 2)
    assert controller.plan(0) is not None and controller.plan(1) is not None
    # grade up raises the initiator feed, grade down lowers it
    assert actions[0, 0] > obs[0, 4] and actions[1, 0] < obs[1, 4]


def test_a_failed_solve_falls_back_to_the_previous_plans_next_input(monkeypatch):
    env = PolymerCSTREnv("grade_up")
    obs, _ = env.reset(seed=3)
    controller = NMPC(horizon=8)
    controller.observe_state(env.measured_state)
    first = controller.act(obs)
    planned_next = controller.plan(0)["inputs"][1]
    obs, *_ = env.step(first)

    def failing(guess, parameters):
        return False, np.full_like(guess, np.nan), 3000

    monkeypatch.setattr(controller, "_solve", failing)
    controller.observe_state(env.measured_state)
    second = controller.act(obs)
    np.testing.assert_allclose(second, planned_next)
    assert controller.failures == 1 and controller.solves == 2
    # without any plan (after a reset) a failure holds the previous input
    controller.reset()
    controller.observe_state(env.measured_state)
    np.testing.assert_allclose(controller.act(obs), np.clip(obs[4:6], [0, 300], [2.5, 350]))
    assert controller.failures == 2


def test_gap_metric_arithmetic():
    assert gap_metric(-10.0, -20.0, -5.0) == pytest.approx(10 / 15)
    assert gap_metric(-20.0, -20.0, -5.0) == 0.0
    assert gap_metric(-5.0, -20.0, -5.0) == 1.0
    assert gap_metric(-25.0, -20.0, -5.0) == pytest.approx(-1 / 3)
    assert np.isnan(gap_metric(-5.0, -5.0, -5.0))
    np.testing.assert_allclose(gap_metric([-20.0, -12.5], -20.0, -5.0), [0.0, 0.5])
    table = gap_table({"grade_up": {"nmpc": -3.0, "pi": -21.0, "pi-tuned": -4.5}})
    assert table["grade_up"]["nmpc"] == 1.0 and table["grade_up"]["pi"] == 0.0
    assert table["grade_up"]["pi-tuned"] == pytest.approx(16.5 / 18)


def test_offset_free_estimate_takes_up_the_prediction_error_of_a_mismatched_plant():
    from cstr.plant.simulate import advance_batch

    hot = PolymerCSTREnv("grade_up", parameter_factors={"jacket_ua": 0.8, "propagation_prefactor": 1.2})
    obs, _ = hot.reset(seed=5)
    controller = NMPC(horizon=6, disturbance_gain=1.0)
    previous_state = hot.measured_state
    controller.observe_state(previous_state)
    action = controller.act(obs)
    np.testing.assert_array_equal(controller._disturbances[0], [0.0, 0.0])
    obs, *_ = hot.step(action)
    controller.observe_state(hot.measured_state)
    controller.act(obs)
    predicted, _ = advance_batch(previous_state[None, :], action[None, :], hot.interval)
    np.testing.assert_allclose(controller._disturbances[0], hot.measured_state[3:] - predicted[0, 3:], rtol=1e-9)
    assert np.abs(controller._disturbances[0]).max() > 0.01  # the mismatch shows in the prediction error
    assert cstr.load_controller("nmpc-offset-free").disturbance_gain > 0.0


def test_merging_adds_controllers_to_shipped_results():
    from cstr.experiments.comparison import _finish_comparison, merge_comparison, merge_robustness

    def result(names, rewards):
        records = {
            "grade_up": {
                n: {
                    "controller": n,
                    "scenario": "grade_up",
                    "first_seed": 1_000_000,
                    "episodes": [
                        {
                            "total_reward": r,
                            "safety_violation": False,
                            "max_temperature": 350.0,
                            "steady_state_offset": 0.0,
                        }
                    ],
                }
                for n, r in zip(names, rewards)
            }
        }
        return _finish_comparison(
            {
                "seed": 1_000_000,
                "episodes": 1,
                "controllers": list(names),
                "unavailable": {"bc": "missing"},
                "records": records,
                "solve_times": {},
            }
        )

    old = result(["nmpc", "pi"], [-3.0, -21.0])
    merged = merge_comparison(old, result(["bc"], [-12.0]))
    assert merged["controllers"] == ["pi", "bc", "nmpc"]  # the registry's order and merged["unavailable"] == {}
    assert merged["gap"]["grade_up"]["bc"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="same seeds"):
        merge_comparison(old, {**result(["bc"], [-12.0]), "episodes": 2})

    def robust(names, summary):
        return {
            "seed": 1,
            "episodes": 1,
            "controllers": names,
            "unavailable": {},
            "cases": {"noise": {"options": {}, "summary": {"grade_up": summary}}},
        }

    both = merge_robustness(
        robust(["nmpc"], {"nmpc": {"mean_total_reward": -3.0}}), robust(["bc"], {"bc": {"mean_total_reward": -9.0}})
    )
    assert set(both["cases"]["noise"]["summary"]["grade_up"]) == {"nmpc", "bc"}


def test_store_writes_and_merges_result_files(tmp_path):
    import json

    from cstr.experiments.comparison import _store

    path = tmp_path / "result.json"
    _store(path, {"seconds": 1.0, "a": 1})
    merged = _store(path, {"seconds": 2.0, "b": 2}, lambda old, new: {**old, **new})
    assert merged == {"a": 1, "b": 2, "seconds": 3.0}
    assert json.loads(path.read_text()) == merged


def test_compare_nmpc_loads_its_controllers_from_the_data_folder_it_writes(tmp_path, monkeypatch):
    """``--data DIR`` is where the controllers come from as well as where the results go (it once read the default
    folder's canonical weights while writing into DIR)."""
    import argparse

    from cstr.experiments import comparison

    seen = {}

    def fake(kind):
        def run(*args, root=None, **kwargs):
            seen[kind] = root
            return {"seconds": 0.0, "episodes": 20}

        return run

    monkeypatch.setattr(comparison, "compare", fake("nominal"))
    monkeypatch.setattr(comparison, "robustness", fake("robustness"))
    args = argparse.Namespace(
        data=tmp_path,
        controllers=["pi"],
        scenarios=["startup"],
        episodes=20,
        robustness_episodes=20,
        stress_episodes=1,
        seed=1_000_000,
        parts=["nominal", "robustness"],
        merge=False,
    )
    assert comparison._command(args) == 0
    assert seen == {"nominal": tmp_path, "robustness": tmp_path}

"""The two integration paths against each other and against the golden trajectories."""

from pathlib import Path

import numpy as np
import pytest

from cstr.plant import model
from cstr.plant.scenarios import CONTROL_INTERVAL, SCENARIO_NAMES
from cstr.plant.simulate import (
    AGREEMENT_TOLERANCE,
    STATUS_OK,
    _compiled_jacobian,
    _compiled_rhs,
    advance_batch,
    integrate_interval,
    relative_error,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CONSTANTS = model.DEFAULT_PARAMETERS.as_array()


def load_golden(name):
    with np.load(GOLDEN / f"{name}.npz") as data:
        return {key: data[key] for key in data.files}


def test_compiled_rhs_and_jacobian_equal_the_reference_model():
    rng = np.random.default_rng(3)
    for _ in range(50):
        state = np.array(
            [
                rng.uniform(100, 600),
                rng.uniform(0, 15),
                rng.uniform(0, 5e-6),
                rng.uniform(0, 300),
                rng.uniform(300, 420),
            ]
        )
        inputs = np.array([rng.uniform(0, 2.5), rng.uniform(300, 350)])
        np.testing.assert_allclose(
            _compiled_rhs(0.0, state, inputs[0], inputs[1], CONSTANTS),
            model.rhs(state, inputs),
            rtol=1e-12,
            atol=1e-300,
        )
        np.testing.assert_allclose(
            _compiled_jacobian(0.0, state, inputs[0], inputs[1], CONSTANTS),
            model.jacobian(state, inputs),
            rtol=1e-12,
            atol=1e-300,
        )


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_batched_path_matches_golden_trajectory(name):
    golden = load_golden(name)
    states = golden["states"][:1].copy()
    hints = np.full(1, 1.0)
    worst = 0.0
    for k, action in enumerate(golden["actions"]):
        states, status = advance_batch(states, action[None], CONTROL_INTERVAL, step_hints=hints)
        assert status[0] == STATUS_OK
        worst = max(worst, relative_error(states[0], golden["states"][k + 1]).max())
    assert worst < 1e-5


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_single_path_matches_golden_trajectory(name):
    golden = load_golden(name)
    state = golden["states"][0]
    worst = 0.0
    for k, action in enumerate(golden["actions"][:60]):
        state = integrate_interval(state, action, CONTROL_INTERVAL)
        worst = max(worst, relative_error(state, golden["states"][k + 1]).max())
    assert worst < AGREEMENT_TOLERANCE / 5


def test_batch_rows_are_independent_and_inactive_rows_are_frozen():
    golden = load_golden("grade_up")
    start = golden["states"][0]
    batch = np.tile(start, (4, 1))
    inputs = np.array([[1.0, 334.0], [2.0, 330.0], [1.0, 334.0], [0.5, 345.0]])
    active = np.array([True, True, True, False])
    out, status = advance_batch(batch, inputs, CONTROL_INTERVAL, active=active)
    assert np.all(status == STATUS_OK)
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_array_equal(out[3], start)
    alone, _ = advance_batch(start[None], inputs[1:2], CONTROL_INTERVAL)
    np.testing.assert_array_equal(alone[0], out[1])


def test_runaway_is_integrated_without_failure():
    state = model.steady_states(1.0, 335.0)[0]
    hints = np.full(1, 1.0)
    states = state[None]
    peak = 0.0
    for _ in range(60):
        states, status = advance_batch(states, np.array([[2.5, 350.0]]), CONTROL_INTERVAL, step_hints=hints)
        assert status[0] == STATUS_OK
        peak = max(peak, states[0, 4])
    assert peak > 400.0


def test_step_limit_is_reported_not_hidden():
    state = np.array([[555.0, 0.0, 0.0, 0.0, 350.0]])
    out, status = advance_batch(state, np.array([[1.0, 335.0]]), CONTROL_INTERVAL, max_steps=3)
    assert status[0] != STATUS_OK
    assert np.all(np.isfinite(out))


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"states must have shape \[N, 5\]"):
        advance_batch(np.zeros((3, 4)), np.zeros((3, 2)), 10.0)
    with pytest.raises(ValueError, match="inputs must have shape"):
        advance_batch(np.ones((3, 5)), np.zeros((2, 2)), 10.0)

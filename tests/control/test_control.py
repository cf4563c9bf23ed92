"""The PI controllers: velocity form, anti-windup, bumpless start, tuning randomiser, registry."""

from __future__ import annotations

import numpy as np
import pytest

from cstr.control.pi import TUNING_RANGES, PIController, PITuning, sample_tuning, tuning_for_seed
from cstr.control.rollout import rollout
from cstr.plant.scenarios import CONTROL_INTERVAL, get_scenario

TUNING = PITuning(polymer_gain=0.02, polymer_integral_time=10.0, temperature_gain=1.0, temperature_integral_time=2.0)


def observation(polymer_error, temperature_error, feed, coolant):
    grade = get_scenario("grade_up").target
    return np.array(
        [
            grade.polymer - polymer_error,
            grade.temperature - temperature_error,
            polymer_error,
            temperature_error,
            feed,
            coolant,
        ]
    )


def test_bumpless_start_has_no_proportional_kick():
    controller = PIController(TUNING)
    obs = observation(5.0, -2.0, 1.0, 340.0)
    action = controller.act(obs)
    # only the integral increment: Kc * dt / tau_I * e
    expected = np.array(
        [1.0 + 0.02 * CONTROL_INTERVAL / (10.0 * 3600) * 5.0, 340.0 + 1.0 * CONTROL_INTERVAL / (2.0 * 3600) * -2.0]
    )
    np.testing.assert_allclose(action, expected)
    # zero error at the start: the inputs stay exactly where the plant had them
    controller.reset()
    np.testing.assert_array_equal(controller.act(observation(0.0, 0.0, 1.1, 333.9)), [1.1, 333.9])


def test_velocity_form_second_step_includes_proportional_term():
    controller = PIController(TUNING)
    controller.act(observation(5.0, 0.0, 1.0, 340.0))
    action = controller.act(observation(3.0, 0.0, 1.2, 340.0))
    expected = 1.2 + 0.02 * ((3.0 - 5.0) + CONTROL_INTERVAL / (10.0 * 3600) * 3.0)
    assert action[0] == pytest.approx(expected)


def test_anti_windup_leaves_the_bound_as_soon_as_the_error_reverses():
    controller = PIController(PITuning(0.5, 1.0, 5.0, 1.0))
    feed, coolant = 2.0, 345.0
    for _ in range(50):  # a large positive error for a long time: saturate at the upper bounds
        feed, coolant = controller.act(observation(30.0, 10.0, feed, coolant))
    assert (feed, coolant) == (2.5, 350.0)
    feed2, coolant2 = controller.act(observation(-1.0, -1.0, feed, coolant))
    # a positional PI without anti-windup would have integrated 50 steps of error and stay saturated
    assert feed2 < 2.5 and coolant2 < 350.0


def test_batched_equals_rows_and_reset_of_selected_rows():
    tunings = [tuning_for_seed(s) for s in range(4)]
    batch = PIController(tunings)
    rng = np.random.default_rng(0)
    obs = [
        np.column_stack(
            [
                rng.uniform(30, 90, 4),
                rng.uniform(330, 355, 4),
                rng.uniform(-10, 10, 4),
                rng.uniform(-5, 5, 4),
                rng.uniform(0, 2.5, 4),
                rng.uniform(300, 350, 4),
            ]
        )
        for _ in range(3)
    ]
    singles = [PIController(t) for t in tunings]
    for k, o in enumerate(obs):
        if k == 2:
            batch.reset(np.array([False, True, False, True]))
            singles[1].reset()
            singles[3].reset()
        got = batch.act(o)
        for i, single in enumerate(singles):
            np.testing.assert_allclose(got[i], single.act(o[i]))


def test_actions_respect_bounds_and_shapes():
    controller = PIController(TUNING)
    assert controller.act(observation(0, 0, 1, 340)).shape == (2,)
    assert controller.act(np.tile(observation(500, 100, 2.4, 349), (3, 1))).shape == (3, 2)
    with pytest.raises(ValueError):
        PIController([TUNING, TUNING]).act(np.zeros((3, 6)))
    with pytest.raises(ValueError):
        PITuning(0.0, 1.0, 1.0, 1.0)


def test_tuning_randomiser_ranges_and_determinism():
    draws = np.array([tuning_for_seed(s).as_array() for s in range(2000)])
    names = ("polymer_gain", "polymer_integral_time", "temperature_gain", "temperature_integral_time")
    for column, name in enumerate(names):
        low, high = TUNING_RANGES[name]
        assert draws[:, column].min() >= low and draws[:, column].max() <= high
        # log-uniform: the log is uniform, so its mean is the mid-point of the log range
        logs = np.log(draws[:, column])
        assert abs(logs.mean() - 0.5 * (np.log(low) + np.log(high))) < 0.05 * np.log(high / low)
        assert draws[:, column].min() < low * (high / low) ** 0.05  # reaches both ends
        assert draws[:, column].max() > high / (high / low) ** 0.05
    assert tuning_for_seed(7) == tuning_for_seed(7)
    assert tuning_for_seed(7) != tuning_for_seed(8)
    assert sample_tuning(np.random.default_rng(3)) == sample_tuning(np.random.default_rng(3))
    assert PITuning.from_dict(tuning_for_seed(5).to_dict()) == tuning_for_seed(5)


def test_extreme_tunings_are_stable_in_every_scenario():
    """The corners of the ranges (sluggish and aggressive) all finish the episode without runaway."""
    import itertools

    corners = [
        PITuning(*c)
        for c in itertools.product(
            *(
                TUNING_RANGES[n]
                for n in ("polymer_gain", "polymer_integral_time", "temperature_gain", "temperature_integral_time")
            )
        )
    ]
    for scenario in ("startup", "grade_down", "grade_up"):
        result = rollout(PIController(corners), scenario, [11] * len(corners))
        assert np.all(result["termination_reasons"] == "horizon"), scenario
        tail = np.nanstd(result["actions"][:, -40:, :], axis=1)
        assert tail[:, 0].max() < 0.15 and tail[:, 1].max() < 0.5, scenario  # no sustained oscillation


def test_registry_loads_pi_controllers():
    from cstr.experiments.registry import LOADERS, load_controller

    assert {"pi", "pi-tuned"} <= set(LOADERS)
    for name in ("pi", "pi-tuned"):
        controller = load_controller(name)
        if name == "pi":
            with pytest.raises(RuntimeError, match="start_episodes"):
                controller.act(observation(1.0, 0.5, 1.0, 340.0))
            controller.start_episodes([7])
        action = controller.act(observation(1.0, 0.5, 1.0, 340.0))
        assert action.shape == (2,) and np.all(np.isfinite(action))
    with pytest.raises(ValueError, match="unknown controller"):
        load_controller("nope")


def test_randomised_pi_reproduces_the_dataset_behaviour_policy():
    from cstr.control.pi import RandomisedPI, tuning_for_seed
    from cstr.control.rollout import rollout

    seeds = [3, 4]
    randomised = rollout(RandomisedPI(), "grade_up", seeds, horizon=20)
    fixed = rollout(PIController([tuning_for_seed(s) for s in seeds]), "grade_up", seeds, horizon=20)
    np.testing.assert_array_equal(randomised["actions"], fixed["actions"])

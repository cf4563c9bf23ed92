"""The environment against an independent integrator: SciPy's LSODA on the same episodes."""

from __future__ import annotations

import numpy as np

from cstr.envs import core
from cstr.envs.vector import PolymerCSTRVectorEnv
from cstr.plant.scenarios import CONTROL_INTERVAL, TEMPERATURE_LIMIT
from cstr.plant.simulate import IntegrationError, integrate_interval, relative_error


def reference_agreement(
    scenario: str = "grade_up", num_envs: int = 4, steps: int = 20, seed: int = 0, action_seed: int = 1
) -> float:
    """Drive the vector env with random actions and integrate the same episodes with SciPy's LSODA.

    Both start from the vector env's seeded starts (sub-environment ``i``
    starts where a single env reset with ``seed + i`` starts) and apply the
    same actions, drawn uniformly from the action box (``action_seed``); the
    reference trajectories are integrated on their own with
    :func:`cstr.plant.simulate.integrate_interval`, a different method, so their
    errors accumulate independently; a scenario's feed-temperature step is
    applied to the reference too, from the same interval. Returns the worst relative error
    (:func:`cstr.plant.simulate.relative_error`) between the physical states over
    every step both ran; steps after an episode ends are not compared.
    """
    vector = PolymerCSTRVectorEnv(num_envs=num_envs, scenario=scenario)
    rng = np.random.default_rng(action_seed)
    space = vector.single_action_space
    vector.reset(seed=seed)
    reference = vector.states.copy()
    running = np.ones(num_envs, dtype=bool)
    worst = 0.0
    try:
        faults = [tuple(row) for row in vector.feed_steps]  # (start h, size K) per row; inf when none
        for step in range(steps):
            actions = rng.uniform(space.low, space.high, size=(num_envs, 2))
            _, _, terminated, truncated, _ = vector.step(actions)
            batch_states = vector.states
            for i in np.flatnonzero(running):
                try:
                    disturbed = bool(core.step_is_disturbed(step, CONTROL_INTERVAL, faults[i]))
                    plant = core.disturbed_parameters(vector.params, faults[i]) if disturbed else vector.params
                    reference[i] = integrate_interval(reference[i], actions[i], CONTROL_INTERVAL, plant)
                except IntegrationError:
                    running[i] = False
                    continue
                worst = max(worst, float(relative_error(batch_states[i], reference[i]).max()))
            running &= ~(terminated | truncated | (reference[:, 4] > TEMPERATURE_LIMIT))
            if not running.any():
                break
    finally:
        vector.close()
    return worst

"""Regenerate the golden trajectories: ``python tests/golden/generate.py``.

Each scenario is run from its seeded start under a fixed, deterministic
action schedule and integrated with Radau at rtol 1e-12, far tighter than the
environments' own tolerance. The tests pin both integration paths and the
environments against these files (pc-gym style): a change to the model, the
scenarios or the reward shows up as a failing test, not as a silent drift.
Only regenerate after a deliberate model change, and say why in the commit.
"""

from pathlib import Path

import numpy as np
from gymnasium.utils import seeding

from cstr.envs import core
from cstr.plant.scenarios import CONTROL_INTERVAL, SCENARIO_NAMES, get_scenario
from cstr.plant.simulate import ATOL, integrate_interval

GOLDEN_DIR = Path(__file__).parent
SEED = 20240
STEPS = 200


def action_schedule(scenario_name: str, steps: int = STEPS) -> np.ndarray:
    """Inputs around the target grade's steady inputs, varied every interval."""
    feed, coolant = get_scenario(scenario_name).target.steady_inputs()
    k = np.arange(steps)
    return (
        np.stack(
            [np.clip(feed * (1.0 + 0.25 * np.sin(k / 9.0)), 0.0, 2.5), coolant + 2.5 * np.sin(k / 6.0 + 1.0)], axis=-1
        )
        .astype(np.float32)
        .astype(np.float64)
    )


def reference_trajectory(scenario_name: str) -> dict:
    scenario = get_scenario(scenario_name)
    rng = seeding.np_random(SEED)[0]
    state, _previous = scenario.sample_start(rng)
    actions = action_schedule(scenario_name)
    states = [state]
    for action in actions:
        state = integrate_interval(state, action, CONTROL_INTERVAL, method="Radau", rtol=1e-12, atol=ATOL * 1e-5)
        states.append(state)
    states = np.array(states)
    rewards = core.step_reward(states[1:], scenario.target.setpoint)
    return {"states": states, "actions": actions, "rewards": rewards}


if __name__ == "__main__":
    for name in SCENARIO_NAMES:
        np.savez(GOLDEN_DIR / f"{name}.npz", **reference_trajectory(name))
        print(f"wrote {GOLDEN_DIR / (name + '.npz')}")

"""Pieces several test modules share (importable because pytest puts tests/ on sys.path)."""

import numpy as np
import torch

from cstr.envs import core
from cstr.experiments.evaluation import Evaluation

NOTEBOOK_HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""
"""The jupytext MyST header every chapter starts with."""


class HoldInputs:
    """Holds fixed inputs whatever it observes: a controller that cannot fail to be understood."""

    def __init__(self, inputs):
        self.inputs = np.asarray(inputs, dtype=float)

    def act(self, obs):
        obs = np.asarray(obs)
        return np.tile(self.inputs, (obs.shape[0], 1)) if obs.ndim == 2 else self.inputs.copy()


def random_observations(n, seed=0):
    """``n`` observations spread over (and a little beyond) the operating region, seeded."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.uniform(0, 120, n),
            rng.uniform(320, 365, n),
            rng.normal(0, 30, n),
            rng.normal(0, 8, n),
            rng.uniform(0, 2.5, n),
            rng.uniform(300, 350, n),
        ]
    )


GOLDEN_SEED = 20240
"""The seed the golden trajectories of tests/golden start from."""


def golden_run(scenario: str, steps: int) -> np.ndarray:
    """The single environment's states ``[steps + 1, 5]`` from ``reset(seed=GOLDEN_SEED)`` under the first
    ``steps`` golden actions of ``scenario``."""
    from pathlib import Path

    from cstr.envs.polymer_cstr import PolymerCSTREnv

    with np.load(Path(__file__).parent / "golden" / f"{scenario}.npz") as golden:
        actions = golden["actions"][:steps]
    env = PolymerCSTREnv(scenario)
    env.reset(seed=GOLDEN_SEED)
    states = [env._state.copy()]
    for action in actions:
        env.step(action)
        states.append(env._state.copy())
    return np.array(states)


def assert_gradient_matches_finite_differences(cost, actions, steps=(1e-3, 1e-2)):
    """``cost(actions[n, 2]) -> [n]``: autograd's action gradient against central differences, one step per input.

    The models cast to float32, so each step is large enough for single precision.
    """
    (gradient,) = torch.autograd.grad(cost(actions).sum(), actions)
    for j, step in enumerate(steps):
        shift = torch.zeros_like(actions)
        shift[:, j] = step
        numeric = (cost(actions + shift) - cost(actions - shift)) / (2 * step)
        assert torch.allclose(gradient[:, j], numeric, rtol=0.05, atol=1e-4)


def tiny_data(rows=512, seed=0):
    """A random offline dataset of the training fields, observations and actions inside their ranges."""
    rng = np.random.default_rng(seed)
    space = core.action_space()
    obs = np.column_stack(
        [
            rng.uniform(0, 100, rows),
            rng.uniform(320, 360, rows),
            rng.normal(0, 20, rows),
            rng.normal(0, 5, rows),
            rng.uniform(0, 2.5, rows),
            rng.uniform(300, 350, rows),
        ]
    )
    actions = rng.uniform(space.low, space.high, size=(rows, 2))
    ends = np.zeros(rows, dtype=bool)
    ends[49::50] = True
    return {
        "observations": obs.astype(np.float32),
        "actions": actions.astype(np.float32),
        "rewards": -rng.uniform(0, 1, rows),
        "next_observations": np.roll(obs, -1, axis=0).astype(np.float32),
        "terminations": np.zeros(rows, dtype=bool),
        "truncations": ends,
    }


def synthetic_episodes(mean, n=4, violate=False):
    """Per-episode metric dicts around ``mean`` (the first one above the limit if ``violate``)."""
    out = []
    for i, delta in enumerate(np.linspace(-1, 1, n)):
        out.append(
            {
                "total_reward": mean + delta,
                # worse controllers settle further away (as in the shipped results)
                "steady_state_offset": 0.1 + 0.01 * i - mean / 100.0,
                "steady_state_offset_polymer": 1.0,
                "steady_state_offset_temperature": 0.1,
                "max_temperature": 361.0 if violate and i == 0 else 350.0 + i,
                "peak_temperature": 361.0 if violate and i == 0 else 349.0 + i,
                "limit_margin": -1.0 if violate and i == 0 else 11.0 - i,  # 360 K minus the peak
                "safety_violation": bool(violate and i == 0),
                "settling_time": None if i == 0 else 3.0,
                "overshoot_polymer": 0.0,
                "ise_polymer": 1.0,
                "ise_temperature": 1.0,
                "termination_reason": "temperature_limit" if violate and i == 0 else "horizon",
                "length": 200,
            }
        )
    return out


def synthetic_record(name, scenario, episodes):
    """A stored evaluation record of ``episodes`` (evaluation seeds from 1,000,000)."""
    return Evaluation(name, scenario, 1_000_000, episodes, {}).to_record()

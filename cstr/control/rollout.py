"""The episode runner: any controller, many episodes at once, on the batched environment.

:func:`rollout` is what data generation, evaluation, validation and the
PI tuning all run; a controller is anything with ``act(obs[n, 6])``.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm  # text bars: tqdm.auto wants ipywidgets in a notebook

from cstr.envs.vector import PolymerCSTRVectorEnv
from cstr.plant.model import DEFAULT_PARAMETERS, ReactorParameters
from cstr.plant.scenarios import HORIZON


def rollout(
    controller,
    scenario: str,
    seeds,
    horizon: int | None = None,
    params: ReactorParameters = DEFAULT_PARAMETERS,
    progress: bool = False,
    env_options: dict | None = None,
):
    """Run ``len(seeds)`` episodes of ``scenario`` with ``controller`` on the batched environment.

    Episode ``i`` starts like the single environment after ``reset(seed=seeds[i])``.
    ``controller`` has ``act(obs[n, 6]) -> actions[n, 2]`` and ``reset()``; a
    controller whose behaviour depends on the episode (like
    :class:`RandomisedPI`) also has ``start_episodes(seeds)``, called first.
    A controller with ``observe_state(states[n, 5])`` (a full-state oracle
    such as :class:`cstr.control.nmpc.NMPC`) gets the environment's
    ``measured_states`` before every ``act``. ``env_options`` are passed to
    :class:`cstr.envs.vector.PolymerCSTRVectorEnv` (``measurement_noise``,
    ``parameter_factors``, ``feed_temperature_step``).
    Returns a dict of arrays with a leading episode axis and a step axis of
    length ``horizon`` (steps after an episode ended are padded with NaN /
    False): ``observations``, ``actions``, ``rewards``, ``next_observations``,
    ``terminations``, ``truncations``, ``states``, ``next_states``, plus
    ``lengths``, ``returns`` and ``termination_reasons`` per episode.
    """
    seeds = [int(s) for s in seeds]
    n = len(seeds)
    horizon = HORIZON if horizon is None else int(horizon)
    env = PolymerCSTRVectorEnv(num_envs=n, scenario=scenario, params=params, horizon=horizon, **(env_options or {}))
    obs, info = env.reset(seed=seeds)
    if hasattr(controller, "start_episodes"):
        controller.start_episodes(seeds)
    if hasattr(controller, "reset"):
        controller.reset()
    out = {
        "observations": np.full((n, horizon, 6), np.nan, dtype=np.float32),
        "actions": np.full((n, horizon, 2), np.nan, dtype=np.float32),
        "rewards": np.full((n, horizon), np.nan),
        "next_observations": np.full((n, horizon, 6), np.nan, dtype=np.float32),
        "terminations": np.zeros((n, horizon), dtype=bool),
        "truncations": np.zeros((n, horizon), dtype=bool),
        "states": np.full((n, horizon, 5), np.nan),
        "next_states": np.full((n, horizon, 5), np.nan),
    }
    lengths = np.zeros(n, dtype=np.int64)
    reasons = np.full(n, "", dtype=object)
    running = np.ones(n, dtype=bool)
    steps = range(horizon)
    if progress:
        steps = tqdm(steps, desc=f"{scenario}: {n} episodes", unit="step")
    for k in steps:
        states = env.states
        if hasattr(controller, "observe_state"):
            controller.observe_state(env.measured_states)
        actions = np.asarray(controller.act(obs), dtype=np.float64)
        # Rows that have ended are reset by the vector env on this step and
        # their actions ignored; nothing of theirs is recorded.
        next_obs, rewards, terminated, truncated, info = env.step(actions)
        rows = running
        out["observations"][rows, k] = obs[rows]
        out["actions"][rows, k] = np.clip(actions[rows], env.single_action_space.low, env.single_action_space.high)
        out["rewards"][rows, k] = rewards[rows]
        out["next_observations"][rows, k] = next_obs[rows]
        out["terminations"][rows, k] = terminated[rows]
        out["truncations"][rows, k] = truncated[rows]
        out["states"][rows, k] = states[rows]
        out["next_states"][rows, k] = env.states[rows]
        lengths[rows] += 1
        ended = rows & (terminated | truncated)
        reasons[ended] = info["termination_reason"][ended]
        running = running & ~ended
        obs = next_obs
        if not running.any():
            break
    out["lengths"] = lengths
    out["returns"] = np.nansum(out["rewards"], axis=1)
    out["termination_reasons"] = reasons
    return out

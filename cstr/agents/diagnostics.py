"""Checks of what an agent learned: IQL's value estimates against the returns the data achieved."""

from __future__ import annotations

import numpy as np
import torch


def discounted_returns_to_go(rewards, episode_ids, discount: float) -> np.ndarray:
    """``G_t = sum_k discount^k r_{t+k}`` to the end of each episode, for every transition of a dataset.

    ``episode_ids`` labels consecutive transitions of one episode (as in
    :class:`cstr.data.dataset.OfflineDataset`). The sum stops at the episode's last
    recorded step (no bootstrap beyond it).
    """
    rewards = np.asarray(rewards, dtype=float)
    episode_ids = np.asarray(episode_ids)
    out = np.empty_like(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        if t == len(rewards) - 1 or episode_ids[t + 1] != episode_ids[t]:
            running = 0.0
        running = rewards[t] + discount * running
        out[t] = running
    return out


def value_check(agent, dataset, reward_scale: float) -> dict:
    """IQL's state value at the start of every dataset episode against the return the episode achieved.

    Returns ``value`` (``V(s_0)`` divided by ``reward_scale``, so in reward
    units), ``q`` (the target ``min(Q_1, Q_2)`` of the logged first action,
    same units) and ``discounted_return`` (the episode's discounted return
    from its start, with the agent's discount), one entry per episode.
    """
    starts = np.flatnonzero(np.r_[True, np.diff(dataset.episode_ids) != 0])
    returns = discounted_returns_to_go(dataset.rewards, dataset.episode_ids, agent.config.discount)[starts]
    with torch.no_grad():
        s = agent.normaliser.observations(torch.as_tensor(dataset.observations[starts], dtype=torch.float32))
        a = agent.normaliser.to_unit(torch.as_tensor(dataset.actions[starts], dtype=torch.float32))
        value = agent.value(s).numpy() / reward_scale
        q = agent.target_q(s, a).numpy() / reward_scale
    return {"value": value.astype(float), "q": q.astype(float), "discounted_return": returns}

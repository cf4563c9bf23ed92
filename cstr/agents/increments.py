"""Policies that output input increments (next input minus the previous one) instead of the inputs themselves.

The first author's public prototype stored the dataset's actions as
increments; this book's policies output absolute inputs. The two differ in
what they can do at a standstill: a policy of absolute inputs must output
the exact steady inputs of the grade from the observation alone, while a
policy of increments can hold any input by outputting zero and keep moving
it while an error remains. That is integral action only if the learned
increment is exactly zero at zero error, which regression does not
guarantee. Chapter 7 asks whether the abstract's "steady-state offsets" of
BC and IQL survive the change.

Background. The observation carries the previous applied input (entries 4
and 5, :mod:`cstr.envs.core`), so the increment is a function of data the
plant logs:

    Delta_t = a_t - o_t[4:6]        (training target: :func:`to_increments`)
    a_t = clip(o_t[4:6] + pi(o_t))  (deployment: :class:`IncrementPolicy`)

The network's tanh output spans ``±`` the whole input range
(:func:`increment_box`), so an increments policy has the same authority as an
absolute one: any input is one step away.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cstr.envs import core

PARAMETERISATIONS = ("absolute", "increments")
"""How a policy's action is parameterised: the inputs themselves, or their change from the previous inputs."""
PREVIOUS_INPUT = slice(4, 6)
"""The observation entries holding the previous applied inputs (u_I, T_c)."""


def check_parameterisation(name: str) -> None:
    """Refuse an unknown action parameterisation, naming the known ones."""
    if name not in PARAMETERISATIONS:
        raise ValueError(f"unknown action parameterisation {name!r}; use one of {', '.join(PARAMETERISATIONS)}")


def increment_box() -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` of an increment: minus and plus the width of the input box."""
    space = core.action_space()
    span = (space.high - space.low).astype(np.float64)
    return -span, span


def to_increments(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A copy of ``data`` whose ``actions`` are the increments from the previous applied inputs."""
    out = dict(data)
    out["actions"] = (data["actions"] - data["observations"][:, PREVIOUS_INPUT]).astype(data["actions"].dtype)
    return out


class IncrementPolicy(nn.Module):
    """obs ``[n, 6]`` -> inputs ``[n, 2]``: the previous inputs plus the wrapped policy's increment, clipped to the
    input box (the deployed form of an increments policy)."""

    def __init__(self, increment: nn.Module):
        super().__init__()
        self.increment = increment
        space = core.action_space()
        self.register_buffer("low", torch.as_tensor(space.low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(space.high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.clamp(obs[..., PREVIOUS_INPUT] + self.increment(obs), self.low, self.high)

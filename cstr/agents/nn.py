"""What the offline agents' networks share: seeding, loss logs, MLPs, normalisation, the deterministic policy.

* Observations are standardised with the training data's mean and standard
  deviation (computed once, stored with the weights).
* Actions are mapped affinely from the input box to [-1, 1]; the policy's
  tanh output is mapped back, so a deployed action is always inside the
  bounds.
"""

from __future__ import annotations

import math
import random

import numpy as np
import torch
from torch import nn

from cstr.envs import core


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch; return a torch generator for minibatch indices."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


class LossLog:
    """Mean of each named loss over every ``every`` updates, as ``history[name]`` per logged step."""

    def __init__(self, names, every: int, total: int):
        self.names = tuple(names)
        self.every = int(every)
        self.total = int(total)
        self.history = {"step": [], **{name: [] for name in self.names}}
        self._sums = dict.fromkeys(self.names, 0.0)
        self._count = 0

    def add(self, step: int, **values) -> dict | None:
        """Accumulate one update's values; at a logging step return (and record) the means.

        A loss that is not finite raises ``FloatingPointError`` at once: the update has already written NaN or
        infinite weights, and a network trained on from there would be saved and served broken.
        """
        for name in self.names:
            value = float(values[name])
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"the training diverged: loss {name!r} is {value} at update {step}; nothing was saved. "
                    "Lower the learning rate, or check the data for extreme values (CSTR_DEBUG=1 shows where)"
                )
            self._sums[name] += value
        self._count += 1
        if step % self.every and step != self.total:
            return None
        means = {name: self._sums[name] / self._count for name in self.names}
        self.history["step"].append(step)
        for name, value in means.items():
            self.history[name].append(value)
        self._sums = dict.fromkeys(self.names, 0.0)
        self._count = 0
        return means


def mlp(inputs: int, outputs: int, hidden: tuple[int, ...], activation=nn.ReLU) -> nn.Sequential:
    layers, width = [], inputs
    for size in hidden:
        layers += [nn.Linear(width, size), activation()]
        width = size
    layers.append(nn.Linear(width, outputs))
    return nn.Sequential(*layers)


def to_unit_box(actions: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Physical actions in the box ``[low, high]`` mapped to ``[-1, 1]``, the scale every network reads them at."""
    return 2.0 * (actions - low) / (high - low) - 1.0


def register_float_buffers(module: nn.Module, **values) -> None:
    """Register each keyword as a float32 buffer of ``module`` (saved in its state dict, never trained)."""
    for name, value in values.items():
        module.register_buffer(name, torch.as_tensor(np.asarray(value, dtype=np.float32)))


class Normaliser(nn.Module):
    """Standardises observations and maps actions between the input box and [-1, 1]."""

    def __init__(self, observation_mean, observation_std, action_box=None):
        super().__init__()
        if action_box is None:
            space = core.action_space()
            action_box = (space.low, space.high)
        self.register_buffer("observation_mean", torch.as_tensor(observation_mean, dtype=torch.float32))
        self.register_buffer("observation_std", torch.as_tensor(observation_std, dtype=torch.float32))
        # the box the network's tanh output spans: the inputs, or (for an increments policy) their changes
        self.register_buffer("action_low", torch.as_tensor(action_box[0], dtype=torch.float32))
        self.register_buffer("action_high", torch.as_tensor(action_box[1], dtype=torch.float32))

    @classmethod
    def from_data(cls, observations: np.ndarray, action_box=None) -> Normaliser:
        """Standardise by the data's observations; ``action_box``: ``(low, high)``, default the input box."""
        std = observations.std(axis=0)
        return cls(observations.mean(axis=0), np.where(std > 1e-6, std, 1.0), action_box)

    def observations(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.observation_mean) / self.observation_std

    def to_unit(self, actions: torch.Tensor) -> torch.Tensor:
        return to_unit_box(actions, self.action_low, self.action_high)

    def from_unit(self, unit: torch.Tensor) -> torch.Tensor:
        return self.action_low + (unit + 1.0) * 0.5 * (self.action_high - self.action_low)


class DeterministicPolicy(nn.Module):
    """obs [n, 6] (physical units) -> action [n, 2] (physical units), always inside the bounds."""

    def __init__(self, normaliser: Normaliser, hidden: tuple[int, ...]):
        super().__init__()
        self.normaliser = normaliser
        self.net = mlp(len(core.OBSERVATION_NAMES), 2, hidden)

    def unit_action(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(self.normaliser.observations(obs)))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.normaliser.from_unit(self.unit_action(obs))

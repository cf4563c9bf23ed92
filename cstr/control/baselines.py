"""Trivial controllers: what a learned or corrected controller must beat to have done anything.

* :class:`ConstantInputs`: the same inputs whatever happens, by default
  the centre of the input box;
* :class:`HoldPreviousInputs`: repeat the inputs applied in the previous
  interval (the observation carries them), so the plant stays where its
  start left it.

Both read nothing but the observation, have no parameters fitted to data,
and follow the controller interface (``act`` for one observation or a
batch, ``reset``). Corrected (:class:`cstr.safety.correction.CorrectedController`),
they measure what the correction layer does on its own.
"""

from __future__ import annotations

import numpy as np

from cstr.envs import core


class ConstantInputs:
    """``act(obs) -> inputs`` for every observation; ``inputs=None``: the centre of the input box."""

    def __init__(self, inputs=None, name: str = "constant"):
        space = core.action_space()
        centre = (space.low.astype(float) + space.high.astype(float)) / 2.0
        self.inputs = centre if inputs is None else core.validate_actions(inputs, None)
        self.name = name

    def reset(self, rows=None) -> None:
        """Stateless."""

    def act(self, obs) -> np.ndarray:
        batch, single = core.observation_batch(obs)
        actions = np.tile(self.inputs, (len(batch), 1))
        return actions[0] if single else actions


class HoldPreviousInputs:
    """``act(obs) -> the previous interval's inputs``, read from the observation's last two entries."""

    name = "hold"

    def reset(self, rows=None) -> None:
        """Stateless."""

    def act(self, obs) -> np.ndarray:
        batch, single = core.observation_batch(obs)
        actions = batch[:, 4:6].astype(np.float64)
        return actions[0] if single else actions

"""Trivial controllers: what a learned or corrected controller must beat to have done anything.

* :class:`ConstantInputs`: the same inputs whatever happens, by default
  the centre of the input box;
* :class:`HoldPreviousInputs`: repeat the inputs applied in the previous
  interval (the observation carries them), so the plant stays where its
  start left it;
* :class:`SteadyInputs` (``steady-inputs``): the **recipe**, open loop. It
  reads the setpoint from the observation and applies, from the first step,
  the inputs that hold that grade at steady state on the nominal model. On
  the nominal plant it reaches the grade with no offset; it measures what
  closed-loop control adds over knowing the recipe. The recipe is computed
  from the true model, so the information table lists it as such;
* :class:`RandomInputs` (``random``): inputs drawn uniformly from the box at
  every step, from a generator seeded by the episode's seed: the floor every
  controller must clear.

They read nothing but the observation (and the recipe), have no parameters
fitted to data, and follow the controller interface (``act`` for one observation or a
batch, ``reset``). Corrected (:class:`cstr.safety.correction.CorrectedController`),
they measure what the correction layer does on its own.
"""

from __future__ import annotations

import numpy as np

from cstr.envs import core
from cstr.plant.model import DEFAULT_PARAMETERS, ReactorParameters
from cstr.plant.scenarios import SCENARIOS


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


RECIPE_INFORMATION = ("true model",)
"""What :class:`SteadyInputs` needs beyond the observation: each grade's steady inputs, from the nominal model."""


TARGET_GRADES = tuple(dict.fromkeys(scenario.target for scenario in SCENARIOS.values()))
"""Every registered scenario's target grade (the stress scenario's hot grade included), once each."""


class SteadyInputs:
    """The recipe: the steady inputs of the grade whose setpoint the observation carries, held open loop.

    The grade is the one of ``grades`` nearest to the observed setpoint (default: every scenario's target).
    """

    name = "steady-inputs"

    def __init__(self, params: ReactorParameters = DEFAULT_PARAMETERS, grades=TARGET_GRADES):
        self.setpoints = np.array([grade.setpoint for grade in grades], dtype=np.float64)
        self.inputs = np.array([grade.steady_inputs(params) for grade in grades], dtype=np.float64)
        self.scales = np.array([core.POLYMER_SCALE, core.TEMPERATURE_SCALE])

    def reset(self, rows=None) -> None:
        """Stateless."""

    def act(self, obs) -> np.ndarray:
        batch, single = core.observation_batch(obs)
        setpoints = batch[:, 0:2] + batch[:, 2:4]  # measured value plus its error to the setpoint
        distance = np.abs((setpoints[:, None, :] - self.setpoints[None]) / self.scales).sum(axis=2)
        actions = self.inputs[np.argmin(distance, axis=1)]
        return actions[0] if single else actions


RANDOM_SALT = 20_251_130
"""Mixed into each episode seed for :class:`RandomInputs`, so its draws share no stream with the environment's."""


class RandomInputs:
    """Inputs uniform in the box, each episode's drawn from a generator seeded by its episode seed.

    :func:`cstr.control.rollout.rollout` calls :meth:`start_episodes` with the
    episode seeds; without it, the rows use seeds ``seed, seed + 1, ...``.
    The uniform draw is bits to a double (exact) and one affine map, so the
    inputs are the same on every CPU.
    """

    name = "random"

    def __init__(self, seed: int = 0):
        space = core.action_space()
        self.low = space.low.astype(np.float64)
        self.span = space.high.astype(np.float64) - self.low
        self.seed = int(seed)
        self._generators = None

    def start_episodes(self, seeds) -> None:
        self._generators = [np.random.default_rng([int(s), RANDOM_SALT]) for s in seeds]

    def reset(self, rows=None) -> None:
        """The generators run on across resets: an episode's draws depend only on its seed."""

    def act(self, obs) -> np.ndarray:
        batch, single = core.observation_batch(obs)
        if self._generators is None or len(self._generators) != len(batch):
            self.start_episodes(range(self.seed, self.seed + len(batch)))
        unit = np.array([generator.random(2) for generator in self._generators])
        actions = self.low + self.span * unit
        return actions[0] if single else actions

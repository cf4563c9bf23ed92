"""Proportional-integral control of the reactor: two loops, velocity form, randomised tunings.

Two single loops, paired by the dominant steady-state gains of chapter 1:

* **polymer loop**: the polymer concentration P [kg/m3] is controlled by the
  initiator feed u_I [kg/h];
* **temperature loop**: the reactor temperature T [K] is controlled by the
  coolant (jacket) temperature T_c [K].

Each loop is a discrete PI controller in **velocity (incremental) form**,
sampled every :data:`cstr.plant.scenarios.CONTROL_INTERVAL` seconds (``dt``)::

    u_k = sat( u_{k-1} + Kc * [ (e_k - e_{k-1}) + dt / tau_I * e_k ] )

with the error ``e = setpoint - measurement`` taken straight from the
observation (entries 2 and 3) and ``u_{k-1}`` the **previous input as applied**
(entries 4 and 5 of the observation, already clipped to the input bounds).

* **Anti-windup** is built into this form: the increment is added to the
  applied, saturated input, so while an input sits at its bound the
  "integral" (which is the input itself) cannot run on beyond it; as soon as
  the error changes sign the input leaves the bound on the same step. This is
  equivalent to conditional integration (integration stops while the
  controller output is saturated in the direction of the error).
* **Bumpless start**: at the first step of an episode there is no previous
  error; the controller takes ``e_{-1} = e_0`` so the proportional term
  contributes no kick, and the input starts from the plant's previous input
  in the observation (the start grade's steady inputs, or for a startup no
  initiator and the jacket already at the target's coolant temperature).

The controller reads nothing but the observation and needs no model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from cstr.envs import core
from cstr.plant import portable_math
from cstr.plant.model import DEFAULT_PARAMETERS, SECONDS_PER_HOUR, ReactorParameters
from cstr.plant.scenarios import CONTROL_INTERVAL


@dataclass(frozen=True)
class PITuning:
    """The gains of the two PI loops.

    * ``polymer_gain``: Kc of the polymer loop [(kg/h) per (kg/m3)]: initiator
      feed change per unit polymer error;
    * ``polymer_integral_time``: tau_I of the polymer loop [h];
    * ``temperature_gain``: Kc of the temperature loop [K/K]: coolant
      temperature change per kelvin of reactor temperature error;
    * ``temperature_integral_time``: tau_I of the temperature loop [h].
    """

    polymer_gain: float
    polymer_integral_time: float
    temperature_gain: float
    temperature_integral_time: float

    UNITS = {
        "polymer_gain": "(kg/h)/(kg/m3)",
        "polymer_integral_time": "h",
        "temperature_gain": "K/K",
        "temperature_integral_time": "h",
    }

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not np.isfinite(value) or value <= 0.0:
                raise ValueError(f"{field.name} must be a positive finite number, got {value!r}")

    def as_array(self) -> np.ndarray:
        """``[Kc_P, tau_I_P, Kc_T, tau_I_T]``."""
        return np.array(
            [self.polymer_gain, self.polymer_integral_time, self.temperature_gain, self.temperature_integral_time]
        )

    @classmethod
    def from_array(cls, values) -> PITuning:
        values = [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
        if len(values) != 4:
            raise ValueError(f"a PI tuning has 4 numbers (Kc_P, tau_I_P, Kc_T, tau_I_T), got {len(values)}")
        return cls(*values)

    def to_dict(self) -> dict:
        return {field.name: float(getattr(self, field.name)) for field in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: dict) -> PITuning:
        return cls(**{field.name: float(values[field.name]) for field in dataclasses.fields(cls)})


TUNING_RANGES = {
    "polymer_gain": (0.005, 0.05),
    "polymer_integral_time": (3.0, 30.0),
    "temperature_gain": (0.2, 2.5),
    "temperature_integral_time": (0.5, 5.0),
}
"""Ranges of the randomised tunings; every one is drawn **log-uniformly** (each
spans one to two decades). Chosen from the steady-state gains and time
constants of chapter 1 (polymer: about 22 (kg/m3)/(kg/h) over a residence
time of about 5.5 h; temperature: about 1.1 K/K over roughly an hour) so that
the range runs from sluggish loops (closed-loop time constants of tens of
hours) to aggressive loops close to, but inside, the stability limit. Found
by simulation: the temperature loop oscillates without decay from about
Kc_T = 3 K/K (tau_I_T <= 1 h), the polymer loop from about
Kc_P = 0.08 (kg/h)/(kg/m3) with tau_I_P <= 3 h; every corner of these ranges
settles in all three scenarios. Chapter 2 repeats the check."""
TUNING_STREAM = 0x7475
"""Second entropy word of the tuning generator, keeping it independent of the
initial-state generator that the environment seeds with the same seed."""


def tuning_generator(seed: int) -> np.random.Generator:
    """The generator that draws the tuning of the episode with this seed."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), TUNING_STREAM]))


def sample_tuning(rng: np.random.Generator, ranges: dict = TUNING_RANGES) -> PITuning:
    """One tuning, each parameter log-uniform in its range."""
    values = {}
    for name in ("polymer_gain", "polymer_integral_time", "temperature_gain", "temperature_integral_time"):
        low, high = ranges[name]
        values[name] = float(portable_math.exp(rng.uniform(portable_math.log(low), portable_math.log(high))))
    return PITuning(**values)


def tuning_for_seed(seed: int, ranges: dict = TUNING_RANGES) -> PITuning:
    """The tuning of the dataset episode with this seed (deterministic)."""
    return sample_tuning(tuning_generator(seed), ranges)


class PIController:
    """Two-loop PI controller for one observation ``[6]`` or a batch ``[n, 6]``.

    ``tunings``: one :class:`PITuning` for every row, or a sequence of ``n``
    (one per row of the batch). Call :meth:`reset` at the start of each
    episode (all rows, or a boolean mask / index array of rows); the first
    :meth:`act` after a reset is bumpless.
    """

    def __init__(self, tunings, params: ReactorParameters = DEFAULT_PARAMETERS, interval: float = CONTROL_INTERVAL):
        if isinstance(tunings, PITuning):
            self._gains = tunings.as_array()[None, :]
        else:
            tunings = list(tunings)
            if not tunings:
                raise ValueError("need at least one tuning")
            self._gains = np.stack([t.as_array() for t in tunings])
        self.tunings = tunings
        self.interval = float(interval)
        space = core.action_space(params)
        self._low = space.low.astype(np.float64)
        self._high = space.high.astype(np.float64)
        self._previous_errors = None  # [n, 2], NaN where a row was just reset

    @property
    def rows(self) -> int:
        return self._gains.shape[0]

    def reset(self, rows=None) -> None:
        """Forget the previous errors (all rows, or the selected rows)."""
        if rows is None or self._previous_errors is None:
            self._previous_errors = None
            return
        self._previous_errors[rows] = np.nan

    def act(self, obs) -> np.ndarray:
        batch, single = core.observation_batch(obs)
        n = batch.shape[0]
        gains = self._gains
        if gains.shape[0] == 1 and n != 1:
            gains = np.repeat(gains, n, axis=0)
        elif gains.shape[0] != n:
            raise ValueError(f"controller holds {gains.shape[0]} tunings but got {n} observations")
        errors = batch[:, 2:4]
        previous_inputs = batch[:, 4:6]
        if self._previous_errors is None or self._previous_errors.shape[0] != n:
            self._previous_errors = np.full((n, 2), np.nan)
        previous_errors = np.where(np.isnan(self._previous_errors), errors, self._previous_errors)
        kc = gains[:, [0, 2]]
        integral_time = gains[:, [1, 3]] * SECONDS_PER_HOUR
        increment = kc * ((errors - previous_errors) + self.interval / integral_time * errors)
        actions = np.clip(previous_inputs + increment, self._low, self._high)
        self._previous_errors = errors.copy()
        return actions[0] if single else actions


class RandomisedPI:
    """The dataset's behaviour policy as one controller: episode ``i`` gets the
    tuning :func:`tuning_for_seed` draws from its seed, exactly as the dataset
    episode with that seed did. Call :meth:`start_episodes` with the episode
    seeds before acting (:func:`rollout` does)."""

    def __init__(self, ranges: dict = TUNING_RANGES, params: ReactorParameters = DEFAULT_PARAMETERS):
        self.ranges = ranges
        self.params = params
        self._controller = None

    def start_episodes(self, seeds) -> None:
        self._controller = PIController([tuning_for_seed(int(s), self.ranges) for s in seeds], self.params)

    def reset(self, rows=None) -> None:
        if self._controller is not None:
            self._controller.reset(rows)

    def act(self, obs) -> np.ndarray:
        if self._controller is None:
            raise RuntimeError(
                "RandomisedPI draws its tunings from the episode seeds: call "
                "start_episodes(seeds) first (cstr.control.rollout and cstr.experiments.evaluation.evaluate do)"
            )
        return self._controller.act(obs)

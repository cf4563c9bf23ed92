"""What the single and the vector environment share: spaces, observation, reward, checks.

Kept in one place so that the two environments cannot drift apart.
"""

from __future__ import annotations

import numbers

import numpy as np
from gymnasium import spaces

from cstr.plant.model import DEFAULT_PARAMETERS, SECONDS_PER_HOUR, STATE_NAMES, ReactorParameters
from cstr.plant.scenarios import GRADES

OBSERVATION_NAMES = (
    "polymer",
    "temperature",
    "polymer_error",
    "temperature_error",
    "previous_initiator_feed",
    "previous_coolant_temperature",
)
OBSERVATION_UNITS = ("kg/m3", "K", "kg/m3", "K", "kg/h", "K")

POLYMER_SCALE = abs(GRADES[1].polymer - GRADES[0].polymer)
"""Normalising scale of the polymer error [kg/m3]: the distance between the grades."""
TEMPERATURE_SCALE = abs(GRADES[1].temperature - GRADES[0].temperature)
"""Normalising scale of the temperature error [K]: the distance between the grades."""
POLYMER_WEIGHT = 1.0
"""Weight of the squared, normalised polymer error in the reward."""
TEMPERATURE_WEIGHT = 1.0
"""Weight of the squared, normalised temperature error in the reward."""
ERROR_CLIP = 5.0
"""Normalised errors are clipped at this many scales, so the per-step reward is bounded."""
WORST_STEP_REWARD = -(POLYMER_WEIGHT + TEMPERATURE_WEIGHT) * ERROR_CLIP**2
"""The lowest reward one step can give; a terminated episode pays it for every remaining step."""

TERMINATION_TEMPERATURE = "temperature_limit"
TRUNCATION_HORIZON = "horizon"


def action_space(params: ReactorParameters = DEFAULT_PARAMETERS) -> spaces.Box:
    low = np.array([params.initiator_feed_bounds[0], params.coolant_temperature_bounds[0]], dtype=np.float32)
    high = np.array([params.initiator_feed_bounds[1], params.coolant_temperature_bounds[1]], dtype=np.float32)
    return spaces.Box(low=low, high=high, dtype=np.float32)


def observation_space(params: ReactorParameters = DEFAULT_PARAMETERS) -> spaces.Box:
    actions = action_space(params)
    low = np.array([0.0, 250.0, -1000.0, -400.0, actions.low[0], actions.low[1]], dtype=np.float32)
    high = np.array([1000.0, 650.0, 1000.0, 400.0, actions.high[0], actions.high[1]], dtype=np.float32)
    return spaces.Box(low=low, high=high, dtype=np.float32)


def validate_actions(action, batch: int | None) -> np.ndarray:
    """Refuse what is not a finite numeric action of the right shape.

    ``batch=None`` expects one action ``[2]``, otherwise ``[batch, 2]``.
    Raises ``TypeError`` for non-numeric input and ``ValueError`` for a wrong
    shape or a NaN/infinite entry, each saying what was received.
    """
    if isinstance(action, (str, bytes)) or action is None:
        raise TypeError(f"action must be numeric (initiator feed kg/h, coolant temperature K), got {action!r}")
    try:
        array = np.asarray(action)
    except (TypeError, ValueError) as error:
        raise TypeError(f"action could not be read as a numeric array: {error}") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(f"action must be numeric, got an array of dtype {array.dtype}")
    expected = (2,) if batch is None else (batch, 2)
    if array.shape != expected:
        raise ValueError(
            f"action must have shape {expected} (initiator feed kg/h, coolant temperature K), got shape {array.shape}"
        )
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array)).tolist()
        raise ValueError(
            f"action contains NaN or infinite entries at {bad}: {action!r}; a controller must output finite inputs"
        )
    return array


def observation_batch(obs) -> tuple[np.ndarray, bool]:
    """``(batch [n, 6] float64, was_single)`` from one observation ``[6]`` or a batch ``[n, 6]``.

    Every controller's ``act`` starts here, so all refuse a wrong shape alike.
    """
    obs = np.asarray(obs, dtype=np.float64)
    single = obs.ndim == 1
    batch = obs[None, :] if single else obs
    if batch.ndim != 2 or batch.shape[1] != len(OBSERVATION_NAMES):
        raise ValueError(f"observation must have shape [6] or [n, 6], got {obs.shape}")
    return batch, single


def clip_actions(actions: np.ndarray, params: ReactorParameters = DEFAULT_PARAMETERS) -> tuple[np.ndarray, np.ndarray]:
    """Clip to the input bounds; return the applied actions and a per-row flag of clipping."""
    space = action_space(params)
    clipped = np.clip(actions, space.low.astype(np.float64), space.high.astype(np.float64))
    return clipped, np.any(clipped != actions, axis=-1)


def make_observation(
    states: np.ndarray, setpoints: np.ndarray, previous_actions: np.ndarray, space: spaces.Box
) -> np.ndarray:
    """Observation rows ``[..., 6]`` (float32) from states ``[..., 5]``; clipped into the space."""
    polymer = states[..., 3]
    temperature = states[..., 4]
    observation = np.stack(
        [
            polymer,
            temperature,
            setpoints[..., 0] - polymer,
            setpoints[..., 1] - temperature,
            previous_actions[..., 0],
            previous_actions[..., 1],
        ],
        axis=-1,
    )
    return np.clip(observation, space.low, space.high).astype(np.float32)


def step_reward(states: np.ndarray, setpoints: np.ndarray) -> np.ndarray:
    """Minus the weighted squared normalised setpoint errors of polymer and temperature."""
    polymer_error = np.clip((setpoints[..., 0] - states[..., 3]) / POLYMER_SCALE, -ERROR_CLIP, ERROR_CLIP)
    temperature_error = np.clip((setpoints[..., 1] - states[..., 4]) / TEMPERATURE_SCALE, -ERROR_CLIP, ERROR_CLIP)
    return -(POLYMER_WEIGHT * polymer_error**2 + TEMPERATURE_WEIGHT * temperature_error**2)


def named_state(states: np.ndarray) -> dict:
    """``{"monomer": ..., ...}`` from the last axis of ``states``."""
    return {name: states[..., i].copy() if states.ndim > 1 else float(states[i]) for i, name in enumerate(STATE_NAMES)}


def named_setpoint(setpoints: np.ndarray) -> dict:
    if setpoints.ndim > 1:
        return {"polymer": setpoints[:, 0].copy(), "temperature": setpoints[:, 1].copy()}
    return {"polymer": float(setpoints[0]), "temperature": float(setpoints[1])}


# --------------------------------------------------------------------------
# Robustness options: measurement noise, plant-model mismatch, a feed-temperature step.
# Both environments take them as constructor arguments with the same meaning.


def plant_parameters(params: ReactorParameters, parameter_factors: dict | None) -> ReactorParameters:
    """``params`` with each named field multiplied by its factor (plant-model mismatch).

    ``parameter_factors`` maps :class:`cstr.plant.model.ReactorParameters` field
    names to positive factors, e.g. ``{"jacket_ua": 0.8,
    "propagation_prefactor": 1.2}``. ``None`` or ``{}`` returns ``params``.
    """
    if not parameter_factors:
        return params
    changes = {}
    for name, factor in dict(parameter_factors).items():
        value = getattr(params, name, None)
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise ValueError(f"parameter_factors: {name!r} is not a scalar field of ReactorParameters")
        factor = float(factor)
        if not np.isfinite(factor) or factor <= 0.0:
            raise ValueError(f"parameter_factors[{name!r}] must be a positive finite number, got {factor!r}")
        changes[name] = float(value) * factor
    return params.with_changes(**changes)


def check_measurement_noise(measurement_noise) -> np.ndarray | None:
    """``(std_polymer kg/m3, std_temperature K)`` as an array, or ``None`` for noise-free measurements."""
    if measurement_noise is None:
        return None
    noise = np.asarray(measurement_noise, dtype=np.float64)
    if noise.shape != (2,) or not np.all(np.isfinite(noise)) or np.any(noise < 0.0):
        raise ValueError(
            "measurement_noise must be two non-negative standard deviations "
            f"(polymer kg/m3, temperature K), got {measurement_noise!r}"
        )
    return None if not np.any(noise > 0.0) else noise


def check_feed_temperature_step(feed_temperature_step) -> tuple[float, float] | None:
    """``(time h, change K)`` as floats, or ``None`` for no disturbance."""
    if feed_temperature_step is None:
        return None
    try:
        time_h, change = (float(v) for v in feed_temperature_step)
    except (TypeError, ValueError):
        raise ValueError(f"feed_temperature_step must be (time h, change K), got {feed_temperature_step!r}") from None
    if not (np.isfinite(time_h) and np.isfinite(change)) or time_h < 0.0:
        raise ValueError(f"feed_temperature_step must be (time h >= 0, finite change K), got {feed_temperature_step!r}")
    return time_h, change


def feed_step_plan(scenario, feed_temperature_step) -> tuple[tuple[float, float] | None, bool]:
    """``(fixed step or None, draw the scenario's fault per episode)`` for an environment's
    ``feed_temperature_step`` argument: ``None`` keeps the scenario's own fault (if it has one), ``False`` runs
    without any, and a step ``(t_h, dT_K)`` is used as given in every episode. A step given for a scenario that has
    its own fault is refused (``ValueError``): two disturbances would not be what either caller meant."""
    if feed_temperature_step is False:
        return None, False
    if feed_temperature_step is None:
        return None, scenario.fault is not None
    if scenario.fault is not None:
        raise ValueError(
            f"the {scenario.name!r} scenario has its own feed-temperature fault {scenario.fault}; got another step, "
            f"{feed_temperature_step!r}. Pass feed_temperature_step=False to run it without its fault, or None to "
            "keep it"
        )
    return check_feed_temperature_step(feed_temperature_step), False


def disturbed_parameters(params: ReactorParameters, feed_temperature_step) -> ReactorParameters:
    """The plant after the feed-temperature step (``params`` if there is none)."""
    if feed_temperature_step is None:
        return params
    return params.with_changes(feed_temperature=params.feed_temperature + feed_temperature_step[1])


def step_is_disturbed(steps, interval: float, feed_temperature_step) -> np.ndarray:
    """Whether the interval that starts after ``steps`` steps runs with the stepped feed temperature.

    ``feed_temperature_step`` is ``(t_h, dT_K)``; ``t_h`` may be an array of start times, one per row of
    ``steps`` (``inf`` for a row without a step).
    """
    steps = np.asarray(steps)
    if feed_temperature_step is None:
        return np.zeros(steps.shape, dtype=bool)
    return steps * interval / SECONDS_PER_HOUR >= feed_temperature_step[0] - 1e-9


def measured_states(states: np.ndarray, noise: np.ndarray | None) -> np.ndarray:
    """``states`` with the measurement noise ``[..., 2]`` added to polymer and temperature."""
    measured = np.array(states, dtype=np.float64, copy=True)
    if noise is not None:
        measured[..., 3] += noise[..., 0]
        measured[..., 4] += noise[..., 1]
    return measured

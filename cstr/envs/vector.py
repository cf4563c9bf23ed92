"""The batched environment: many reactor episodes advanced as one system.

``gymnasium.make_vec("cstr/PolymerCSTR-v0", num_envs=N,
vectorization_mode="vector_entry_point", scenario=...)`` returns
:class:`PolymerCSTRVectorEnv`. Sub-environment ``i`` after ``reset(seed=s)``
starts exactly where :class:`~cstr.envs.polymer_cstr.PolymerCSTREnv` starts
after ``reset(seed=s + i)``, and under the same actions it follows the same
trajectory to the bit: both integrate with :func:`cstr.plant.simulate.advance_batch`,
which treats every episode on its own (its own adaptive step), so a batch
gives each episode what it would get alone.

The robustness options (``measurement_noise``, ``parameter_factors``,
``feed_temperature_step``) mean what they mean for the single environment;
sub-environment ``i`` draws its noise from its own generator, in the same
order as the single environment, so the seeds still decide everything.

Autoreset follows Gymnasium's default ``NEXT_STEP`` mode: the step after an
episode ends resets that sub-environment and ignores its action.
"""

from __future__ import annotations

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from cstr.envs import core
from cstr.plant.model import DEFAULT_PARAMETERS, SECONDS_PER_HOUR, ReactorParameters
from cstr.plant.scenarios import CONTROL_INTERVAL, HORIZON, TEMPERATURE_LIMIT, get_scenario
from cstr.plant.simulate import INITIAL_STEP, STATUS_MESSAGES, STATUS_OK, advance_batch


class PolymerCSTRVectorEnv(VectorEnv):
    """``num_envs`` copies of ``cstr/PolymerCSTR-v0`` stepped together.

    Infos are dictionaries of arrays over the sub-environments, with the
    same keys as the single environment's info: ``state`` and ``setpoint``
    hold named arrays of length ``num_envs``; ``termination_reason`` is an
    array of strings.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        scenario: str = "startup",
        params: ReactorParameters = DEFAULT_PARAMETERS,
        max_episode_steps: int = HORIZON,
        horizon: int | None = None,
        render_mode: str | None = None,
        measurement_noise=None,
        parameter_factors: dict | None = None,
        feed_temperature_step=None,
    ):
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r} is not supported; this environment does not render")
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        self.num_envs = int(num_envs)
        self.scenario = get_scenario(scenario)
        self.params = core.plant_parameters(params, parameter_factors)
        self.measurement_noise = core.check_measurement_noise(measurement_noise)
        self.feed_temperature_step, self._draws_fault = core.feed_step_plan(self.scenario, feed_temperature_step)
        fixed = self.feed_temperature_step or (np.inf, 0.0)
        self._fault_hours = np.full(self.num_envs, fixed[0])  # per row: when its step starts, inf for never
        self._fault_changes = np.full(self.num_envs, fixed[1])  # and its size [K]
        self._fault_params = {}  # size -> the plant after a step of that size
        params = self.params
        self.horizon = int(horizon if horizon is not None else max_episode_steps)
        self.interval = CONTROL_INTERVAL
        self.temperature_limit = TEMPERATURE_LIMIT
        self.single_action_space = core.action_space(params)
        self.single_observation_space = core.observation_space(params)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.setpoints = np.tile(self.scenario.target.setpoint, (self.num_envs, 1))
        self._generators = [seeding.np_random(None)[0] for _ in range(self.num_envs)]
        self._states = np.zeros((self.num_envs, 5))
        self._previous_actions = np.zeros((self.num_envs, 2))
        self._steps = np.zeros(self.num_envs, dtype=np.int64)
        self._step_hints = np.full(self.num_envs, INITIAL_STEP)
        self._needs_reset = np.ones(self.num_envs, dtype=bool)
        self._noise = None if self.measurement_noise is None else np.zeros((self.num_envs, 2))

    @property
    def states(self) -> np.ndarray:
        """The physical states ``[num_envs, 5]`` (a copy)."""
        return self._states.copy()

    @property
    def feed_steps(self) -> np.ndarray:
        """Each row's feed-temperature step ``[num_envs, 2]``: (start [h], size [K]); ``inf`` and 0 where none."""
        return np.column_stack([self._fault_hours, self._fault_changes])

    def _plant_after(self, change: float):
        if change not in self._fault_params:
            self._fault_params[change] = core.disturbed_parameters(self.params, (0.0, change))
        return self._fault_params[change]

    @property
    def measured_states(self) -> np.ndarray:
        """The states with the current observations' measurement noise on polymer and temperature."""
        return core.measured_states(self._states, self._noise)

    def _reset_one(self, index: int) -> None:
        state, inputs = self.scenario.sample_start(self._generators[index], self.params)
        if self._draws_fault:  # this episode's fault, drawn after the start as the single environment draws it
            self._fault_hours[index], self._fault_changes[index] = self.scenario.fault.sample(self._generators[index])
        self._states[index] = state
        self._previous_actions[index] = inputs
        self._steps[index] = 0
        self._step_hints[index] = INITIAL_STEP
        self._needs_reset[index] = False

    def _observations(self) -> np.ndarray:
        if self.measurement_noise is not None:
            for index in range(self.num_envs):
                self._noise[index] = self._generators[index].standard_normal(2) * self.measurement_noise
        return core.make_observation(
            self.measured_states, self.setpoints, self._previous_actions, self.single_observation_space
        )

    def _infos(self, clipped: np.ndarray, reasons: np.ndarray) -> dict:
        return {
            "state": core.named_state(self._states),
            "setpoint": core.named_setpoint(self.setpoints),
            "time": self._steps * self.interval / SECONDS_PER_HOUR,
            "action_clipped": clipped,
            "termination_reason": reasons,
        }

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        if seed is not None:
            seeds = (
                list(seed)
                if isinstance(seed, (list, tuple, np.ndarray))
                else [int(seed) + i for i in range(self.num_envs)]
            )
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} sub-environments")
            self._generators = [seeding.np_random(int(s))[0] for s in seeds]
        for index in range(self.num_envs):
            self._reset_one(index)
        reasons = np.full(self.num_envs, "", dtype=object)
        return self._observations(), self._infos(np.zeros(self.num_envs, dtype=bool), reasons)

    def step(self, actions):
        requested = core.validate_actions(actions, batch=self.num_envs)
        applied, clipped = core.clip_actions(requested, self.params)
        resetting = self._needs_reset.copy()
        for index in np.flatnonzero(resetting):
            self._reset_one(index)
        running = ~resetting
        disturbed = running & core.step_is_disturbed(self._steps, self.interval, (self._fault_hours, None))
        new_states, status = advance_batch(
            self._states, applied, self.interval, self.params, step_hints=self._step_hints, active=running & ~disturbed
        )
        for change in np.unique(self._fault_changes[disturbed]):  # one batch per fault size
            rows = disturbed & (self._fault_changes == change)
            stepped, stepped_status = advance_batch(
                self._states, applied, self.interval, self._plant_after(float(change)),
                step_hints=self._step_hints, active=rows,
            )  # fmt: skip
            new_states = np.where(rows[:, None], stepped, new_states)
            status = np.where(rows, stepped_status, status)
        self._states[running] = new_states[running]
        self._previous_actions[running] = applied[running]
        self._steps[running] += 1

        reasons = np.full(self.num_envs, "", dtype=object)
        failed = running & (status != STATUS_OK)
        for index in np.flatnonzero(failed):
            reasons[index] = STATUS_MESSAGES[int(status[index])]
        too_hot = running & ~failed & (self._states[:, 4] > self.temperature_limit)
        reasons[too_hot] = core.TERMINATION_TEMPERATURE
        terminated = failed | too_hot
        truncated = running & ~terminated & (self._steps >= self.horizon)
        reasons[truncated] = core.TRUNCATION_HORIZON

        rewards = np.where(running, core.step_reward(self._states, self.setpoints), 0.0)
        rewards = rewards + np.where(terminated, core.WORST_STEP_REWARD * (self.horizon - self._steps), 0.0)
        self._needs_reset = terminated | truncated
        clipped = clipped & running
        return (self._observations(), rewards, terminated, truncated, self._infos(clipped, reasons))

"""The single-episode Gymnasium environment ``cstr/PolymerCSTR-v0``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from cstr.envs import core
from cstr.plant.model import DEFAULT_PARAMETERS, SECONDS_PER_HOUR, ReactorParameters
from cstr.plant.scenarios import CONTROL_INTERVAL, HORIZON, TEMPERATURE_LIMIT, get_scenario
from cstr.plant.simulate import INITIAL_STEP, STATUS_MESSAGES, STATUS_OK, advance_batch


class PolymerCSTREnv(gym.Env):
    """
    ## Description

    A jacketed continuous stirred-tank reactor in which one monomer
    polymerises by free radicals in solution: the exothermic polymerisation
    CSTR benchmark of Durkin et al. (2025), with the structure and values of
    its first author's public prototype (one change, chapter 1). Initiator
    decomposes into radicals, radicals add monomer to growing chains
    (releasing 100 kJ per mole of monomer) and terminate in pairs. The heat
    is removed by a cooling jacket and by the through-flow.
    Steady states hotter than about 360.7 K (the lowest such temperature over
    the input box; which ones depends on the initiator feed) are unstable:
    there the reactor runs away in growing temperature oscillations. The controller
    sets the initiator feed and the coolant temperature every 30 minutes to
    bring the polymer concentration and the temperature to a product grade.

    The paper's three scenario types (with this book's grades), and a stress
    scenario where the limit is at stake (``scenario=``):

    | scenario     | starts at                                   | target grade          |
    |--------------|---------------------------------------------|-----------------------|
    | `startup`    | feed mixture, no initiator, no polymer       | low: 40 kg/m3, 340 K  |
    | `grade_down` | steady state of the high grade               | low: 40 kg/m3, 340 K  |
    | `grade_up`   | steady state of the low grade                | high: 80 kg/m3, 350 K |
    | `stress`     | steady state of the high grade               | hot: 100 kg/m3, 357 K |

    In `stress` the feed temperature also steps up, unmeasured, by 10, 15, 20
    or 25 K at a time between 40 and 60 h, both drawn per episode (a preheater
    fault); the hot grade sits 3 K below the limit, and the dataset's
    randomised PI controllers cross it in a share of episodes between 10 %
    and 50 % (tested).

    ## Observation Space

    `Box(6,)`, float32. Measurements are noise-free unless
    ``measurement_noise`` is set (then entries 0-3 use the noisy polymer and
    temperature; the state, the reward and the termination stay exact).

    | Num | Observation                                   | Min  | Max  | Unit  |
    |-----|-----------------------------------------------|------|------|-------|
    | 0   | polymer concentration P                       | 0    | 1000 | kg/m3 |
    | 1   | reactor temperature T                         | 250  | 650  | K     |
    | 2   | polymer error (setpoint - P)                  | -1000| 1000 | kg/m3 |
    | 3   | temperature error (setpoint - T)              | -400 | 400  | K     |
    | 4   | previous initiator feed u_I (as applied)      | 0    | 2.5  | kg/h  |
    | 5   | previous coolant temperature T_c (as applied) | 300  | 350  | K     |

    ## Action Space

    `Box(2,)`, float32: initiator feed u_I in [0, 2.5] kg/h and coolant
    (jacket) temperature T_c in [300, 350] K, held constant over the interval.
    An action outside the bounds is clipped and ``info["action_clipped"]`` is
    True. A NaN or infinite entry or a wrong shape raises ``ValueError``; a
    non-numeric action raises ``TypeError``.

    ## Transition Dynamics

    The five balances of :mod:`cstr.plant.model` (monomer, initiator, radicals,
    polymer, energy) are integrated over one 1800 s interval by the compiled
    Rosenbrock method of the vector environment
    (:func:`cstr.plant.simulate.advance_batch`, RODAS4) at ``rtol=1e-7`` and
    per-state absolute tolerances (:data:`cstr.plant.simulate.ATOL`). Sub-environment
    ``i`` of the vector environment reset with ``seed`` and this environment
    reset with ``seed + i`` give the same bits, and so does every x86-64 CPU
    (:mod:`cstr.plant.portable_math`). SciPy's LSODA
    (:func:`cstr.plant.simulate.integrate_interval`) is the independent reference
    the tests and chapter 1 check it against.

    ## Reward

    ``r = -[(e_P / 40)^2 + (e_T / 10)^2]`` with the setpoint errors after the
    step, each normalised error clipped at ±5, so ``r`` lies in
    ``[-50, 0]``. If the episode terminates, the step also pays the worst
    step reward (-50) for every remaining step of the horizon, so ending
    early never pays.

    ## Starting State

    The scenario's nominal start with the four concentrations each multiplied
    by a factor drawn from U(0.95, 1.05) and the temperature shifted by
    U(-3, 3) K (startup) or U(-1, 1) K (grade changes). The previous action is
    the start grade's steady inputs (startup: no initiator, the jacket at the
    target grade's coolant temperature). ``reset(seed=...)`` decides every draw.

    ## Episode End

    * Termination: the temperature exceeds 360 K
      (``info["termination_reason"] == "temperature_limit"``), or the
      integrator fails (``"solver_failure"``); the observation then shows the
      last good state.
    * Truncation: after 200 steps (100 h), ``"horizon"``.

    ## Arguments

    ```python
    import cstr, gymnasium as gym
    env = gym.make("cstr/PolymerCSTR-v0", scenario="grade_up")
    ```

    * ``scenario``: ``"startup"``, ``"grade_down"``, ``"grade_up"`` or ``"stress"``.
    * ``params``: a :class:`cstr.plant.model.ReactorParameters` (plant variations).
    * ``horizon``: steps per episode (default 200); the registration sets
      ``max_episode_steps`` to the same value.

    Robustness options (default: none of them; the vector environment takes
    the same arguments with the same meaning):

    * ``measurement_noise``: ``(std_P, std_T)`` in kg/m3 and K: Gaussian
      noise added to the observed polymer and temperature (and so to the
      errors, entries 2 and 3), drawn afresh for every observation from the
      environment's own generator (``reset(seed=...)`` decides it, after the
      initial state). The physical state, the reward and the termination
      test use the true state; :attr:`measured_state` is the state with the
      noise of the current observation.
    * ``parameter_factors``: ``{field: factor}`` multiplying fields of
      ``params`` (plant-model mismatch), e.g. ``{"jacket_ua": 0.8,
      "propagation_prefactor": 1.2}``; controllers keep the nominal model.
    * ``feed_temperature_step``: ``(t_h, dT_K)``: the feed temperature
      changes by ``dT_K`` for every interval that starts at or after
      ``t_h`` hours (an unmeasured disturbance). Default ``None``: the
      scenario's own fault (``stress`` draws one per episode; the other
      three have none); ``False``: none at all. A step given for ``stress``
      is refused, since the scenario already has a fault. After ``reset``,
      ``feed_temperature_step`` is the episode's step (or ``None``).

    ``info`` holds ``state`` (the five physical states by name: ``monomer``,
    ``initiator`` kg/m3, ``radicals`` mol/m3, ``polymer`` kg/m3,
    ``temperature`` K), ``setpoint`` (``polymer``, ``temperature``),
    ``time`` [h], ``action_clipped`` and ``termination_reason`` (``""`` while
    the episode runs).

    ## Version History

    * v0: initial version.
    * v0 (safety issue): the ``stress`` scenario, whose feed-temperature step
      is part of the scenario; the other three are unchanged.
    * v0 (book chapter 8): optional ``measurement_noise``,
      ``parameter_factors`` and ``feed_temperature_step``; with none of
      them set the environment behaves exactly as before.
    * v0 (library 0.2): integrated with RODAS4 instead of LSODA, and the
      Arrhenius factors with a portable ``exp``: trajectories are the same on
      every x86-64 CPU and differ from earlier releases by less than the
      integrators' tolerance (1e-4 relative).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        scenario: str = "startup",
        params: ReactorParameters = DEFAULT_PARAMETERS,
        horizon: int = HORIZON,
        render_mode: str | None = None,
        measurement_noise=None,
        parameter_factors: dict | None = None,
        feed_temperature_step=None,
    ):
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r} is not supported; this environment does not render")
        self.scenario = get_scenario(scenario)
        self.params = core.plant_parameters(params, parameter_factors)
        self.measurement_noise = core.check_measurement_noise(measurement_noise)
        self.feed_temperature_step, self._draws_fault = core.feed_step_plan(self.scenario, feed_temperature_step)
        self._disturbed_params = core.disturbed_parameters(self.params, self.feed_temperature_step)
        params = self.params
        self.horizon = int(horizon)
        self.interval = CONTROL_INTERVAL
        self.temperature_limit = TEMPERATURE_LIMIT
        self.setpoint = self.scenario.target.setpoint
        self.action_space = core.action_space(params)
        self.observation_space = core.observation_space(params)
        self._state = None
        self._previous_action = None
        self._steps = 0
        self._noise = None

    @property
    def measured_state(self) -> np.ndarray:
        """The physical state with the current observation's measurement noise on polymer and temperature."""
        return core.measured_states(self._state, self._noise)

    def _observation(self) -> np.ndarray:
        if self.measurement_noise is not None:
            self._noise = self.np_random.standard_normal(2) * self.measurement_noise
        return core.make_observation(self.measured_state, self.setpoint, self._previous_action, self.observation_space)

    def _info(self, action_clipped: bool = False, reason: str = "") -> dict:
        return {
            "state": core.named_state(self._state),
            "setpoint": core.named_setpoint(self.setpoint),
            "time": self._steps * self.interval / SECONDS_PER_HOUR,
            "action_clipped": bool(action_clipped),
            "termination_reason": reason,
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._state, self._previous_action = self.scenario.sample_start(self.np_random, self.params)
        if self._draws_fault:  # this episode's fault, drawn after the start from the same generator
            self.feed_temperature_step = self.scenario.fault.sample(self.np_random)
            self._disturbed_params = core.disturbed_parameters(self.params, self.feed_temperature_step)
        self._steps = 0
        self._step_hint = np.full(1, INITIAL_STEP)
        return self._observation(), self._info()

    def step(self, action):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        requested = core.validate_actions(action, batch=None)
        applied, clipped = core.clip_actions(requested, self.params)
        reason = ""
        disturbed = core.step_is_disturbed(self._steps, self.interval, self.feed_temperature_step)
        plant = self._disturbed_params if disturbed else self.params
        new_states, status = advance_batch(
            self._state[None], applied[None], self.interval, plant, step_hints=self._step_hint
        )
        if status[0] == STATUS_OK:
            self._state = new_states[0]
        else:  # the state stays the last good one
            reason = STATUS_MESSAGES[int(status[0])]
        self._previous_action = applied
        self._steps += 1
        reward = float(core.step_reward(self._state, self.setpoint))
        if not reason and self._state[4] > self.temperature_limit:
            reason = core.TERMINATION_TEMPERATURE
        terminated = bool(reason)
        if terminated:
            reward += core.WORST_STEP_REWARD * (self.horizon - self._steps)
        truncated = not terminated and self._steps >= self.horizon
        if truncated:
            reason = core.TRUNCATION_HORIZON
        return self._observation(), reward, terminated, truncated, self._info(bool(clipped), reason)


def drawn_faults(scenario: str, seeds) -> list[tuple[float, float] | None]:
    """The unmeasured fault ``(t_h, dT_K)`` that each episode seed of ``seeds`` draws in ``scenario`` (``None``
    where the scenario has none): what an evaluation's episodes faced, which no deployable controller reads."""
    env = PolymerCSTREnv(scenario=scenario)
    faults = []
    for seed in seeds:
        env.reset(seed=int(seed))
        faults.append(env.feed_temperature_step)
    return faults

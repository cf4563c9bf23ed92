"""Nonlinear model predictive control with the true reactor model: an oracle, not a deployable controller.

:class:`NMPC` solves, at every control instant and for every episode of a
batch, one nonlinear programme (NLP) over a horizon of ``N`` control
intervals and applies the first input of the optimal plan:

.. math::

    \\min_{u_0..u_{N-1},\\, s} \\sum_{k=1}^{N} \\Big[ w_P \\Big(\\frac{P^{sp} - P_k}{40}\\Big)^2
        + w_T \\Big(\\frac{T^{sp} - T_k}{10}\\Big)^2 \\Big]
        + \\rho_{\\Delta} \\sum_{k=0}^{N-1} \\lVert \\Delta \\tilde u_k \\rVert^2
        + \\sum_{k} (\\rho_1 s_k + \\rho_2 s_k^2)

subject to the five balances of :mod:`cstr.plant.model` (nominal parameters),
``x_0`` = the measured state, the input bounds, and the **soft** temperature
limit ``T <= T_max - backoff + s_k``, ``s_k >= 0`` at every collocation point
of interval ``k``. The stage cost is the environment's reward
(:func:`cstr.envs.core.step_reward`, without its clip at 5 scales, which only
matters far from the setpoint), so the controller optimises what the
benchmark scores.

Choices, and why (chapter 8 discusses them):

* **Transcription**: direct collocation, Radau IIA of degree 3 with
  :data:`ELEMENTS` finite elements per 30-min interval. Radau IIA is
  L-stable and stiffly accurate, so the radicals (relaxation 20-500 s, far
  below the 1800 s interval) are resolved without tiny steps; the whole
  problem is algebraic, so IPOPT gets exact second derivatives from CasADi
  and each iteration costs one sparse factorisation. Multiple shooting with
  CVODES is exact in the model but each iteration integrates the
  sensitivities of all intervals, several times slower here.
* **Horizon**: :data:`HORIZON_STEPS` intervals (:data:`HORIZON_STEPS` / 2 h),
  about two residence times (5.6 h) and many thermal time constants
  (about 1 h): long enough to see most of a grade transition settle
  (open-loop settling 15-20 h, closed loop faster with the inputs at their
  bounds), so no terminal cost is needed.
* **Soft temperature limit**: a hard state constraint can make the NLP
  infeasible (a noisy or mismatched start already above the limit, or a
  state the model cannot bring back in one interval), and an infeasible NLP
  gives no input at all. The slack keeps the problem feasible; its exact
  (L1) penalty :data:`SLACK_L1` is large enough that the optimum has zero
  slack whenever a feasible plan exists. The limit is backed off by
  :data:`TEMPERATURE_BACKOFF` K for discretisation and mismatch.
* **Input-move penalty** :data:`MOVE_WEIGHT` on the inputs scaled to their
  ranges: tiny against the reward, it only makes the optimum unique where
  the cost is flat in the inputs.

**State feedback.** The observation holds polymer and temperature, not the
monomer, initiator and radicals, so NMPC needs the full state:
:func:`cstr.control.rollout` calls :meth:`NMPC.observe_state` with the
environment's states (with the measurement noise of the observed polymer
and temperature, when the environment adds noise) before every
:meth:`NMPC.act`. That is oracle information no other controller gets.

**Offset-free variant** (``disturbance_gain > 0``, registered as
``nmpc-offset-free``): the model's polymer and temperature get an additive
disturbance per interval, ``x_{k+1} = F(x_k, u_k) + d``, estimated from the
one-step prediction errors, ``d <- d + gain * (x_measured - F(x_prev, u_prev) - d)``.
At steady state the estimate absorbs any constant plant-model mismatch, so
the setpoint is reached in the plant, not only in the model: the integral
action of MPC (Pannocchia and Rawlings 2003).

Warm start: each solve starts from the previous optimal plan shifted by one
interval. A failed solve (IPOPT reports anything but success) applies the
previous plan's next input (or holds the previous input if there is no plan)
and is counted in ``NMPC.failures``. Solve times are recorded per call in
``NMPC.solve_times`` (:meth:`NMPC.solve_time_summary`).

The module runs to about 450 lines because it is one controller: the
collocation, the optimisation problem and the warm-started receding-horizon
loop belong together, and splitting them would scatter one algorithm.
"""

from __future__ import annotations

import time

import casadi as ca
import numpy as np

from cstr.envs import core
from cstr.plant.model import DEFAULT_PARAMETERS, ReactorParameters
from cstr.plant.scenarios import CONTROL_INTERVAL, TEMPERATURE_LIMIT
from cstr.plant.simulate import advance_batch

NMPC_INFORMATION = ("full state", "true model")
"""What NMPC reads at every step (:meth:`NMPC.observe_state`, the nominal model): an oracle's information."""
HORIZON_STEPS = 24
"""Prediction (and control) horizon in control intervals: 12 h, about two residence times."""
COLLOCATION_DEGREE = 3
"""Radau IIA collocation points per finite element."""
ELEMENTS = 1
"""Finite elements per control interval."""
TEMPERATURE_BACKOFF = 1.0
"""K below :data:`cstr.plant.scenarios.TEMPERATURE_LIMIT` that the NLP's temperature limit sits."""
SLACK_L1 = 1e3
"""Exact penalty per kelvin of temperature-limit violation (per collocation point)."""
SLACK_L2 = 1e3
"""Quadratic penalty per squared kelvin of violation (keeps the Hessian positive in the slack)."""
MOVE_WEIGHT = 1e-3
"""Weight of the squared input moves, each input scaled to its range."""

STATE_OFFSET = np.array([0.0, 0.0, 0.0, 0.0, 340.0])
STATE_SCALE = np.array([100.0, 1.0, 1e-6, 10.0, 10.0])
"""NLP variables are ``(x - STATE_OFFSET) / STATE_SCALE``: every state of order one."""

IPOPT_OPTIONS = {
    "ipopt.print_level": 0,
    "ipopt.sb": "yes",
    "ipopt.max_iter": 200,
    "ipopt.tol": 1e-6,
    "ipopt.acceptable_tol": 1e-4,
    "ipopt.mu_strategy": "adaptive",
    "ipopt.linear_solver": "mumps",
    "print_time": False,
}
"""Options of CasADi's ``nlpsol("ipopt")``; pass ``ipopt_options=`` to override."""

SUCCESS = ("Solve_Succeeded", "Solved_To_Acceptable_Level")


def casadi_rhs(x, u, params: ReactorParameters = DEFAULT_PARAMETERS):
    """The balances of :func:`cstr.plant.model.rhs` as CasADi expressions (``x[5]``, ``u[2]``)."""
    p = params
    monomer, initiator, radicals, polymer, temperature = (x[i] for i in range(5))
    initiator_feed, coolant = u[0], u[1]
    inv_rt = 1.0 / (p.gas_constant * temperature)
    k_d = p.decomposition_prefactor * ca.exp(-p.decomposition_activation * inv_rt)
    k_p = p.propagation_prefactor * ca.exp(-p.propagation_activation * inv_rt)
    k_t = p.termination_prefactor * ca.exp(-p.termination_activation * inv_rt)
    dilution = (initiator_feed + p.monomer_feed + p.solvent_feed) / p.density / 3600.0 / p.volume
    propagation = k_p * monomer * radicals
    seconds_volume = 3600.0 * p.volume
    inertia = p.density * p.heat_capacity * p.volume
    return ca.vertcat(
        p.monomer_feed / seconds_volume - dilution * monomer - propagation,
        initiator_feed / seconds_volume - (dilution + k_d) * initiator,
        2.0 * k_d * initiator / p.initiator_molar_mass - 2.0 * k_t * radicals**2 - dilution * radicals,
        propagation - dilution * polymer,
        (
            p.heat_of_propagation * propagation / p.monomer_molar_mass * p.volume
            - p.jacket_ua * (temperature - coolant)
            - p.density * p.heat_capacity * dilution * p.volume * (temperature - p.feed_temperature)
        )
        / inertia,
    )


def _radau_coefficients(degree: int):
    """Collocation matrix C[j, r] (derivative at point r of Lagrange basis j) and end weights D."""
    tau = np.append(0.0, ca.collocation_points(degree, "radau"))
    C = np.zeros((degree + 1, degree + 1))
    D = np.zeros(degree + 1)
    for j in range(degree + 1):
        coefficients = np.poly1d([1.0])
        for r in range(degree + 1):
            if r != j:
                coefficients *= np.poly1d([1.0, -tau[r]]) / (tau[j] - tau[r])
        D[j] = coefficients(1.0)
        derivative = np.polyder(coefficients)
        for r in range(degree + 1):
            C[j, r] = derivative(tau[r])
    return tau, C, D


class NMPC:
    """Nonlinear MPC on the nominal model, for one observation ``[6]`` or a batch ``[n, 6]``.

    Call :meth:`observe_state` with the states ``[n, 5]`` (or ``[5]``) before
    every :meth:`act` (:func:`cstr.control.rollout` does). The setpoint and
    the previous input come from the observation. One NLP is solved per row;
    each row keeps its own warm start. See the module docstring for the
    formulation.
    """

    def __init__(
        self,
        horizon: int = HORIZON_STEPS,
        params: ReactorParameters = DEFAULT_PARAMETERS,
        interval: float = CONTROL_INTERVAL,
        temperature_limit: float = TEMPERATURE_LIMIT,
        backoff: float = TEMPERATURE_BACKOFF,
        degree: int = COLLOCATION_DEGREE,
        elements: int = ELEMENTS,
        move_weight: float = MOVE_WEIGHT,
        ipopt_options: dict | None = None,
        disturbance_gain: float = 0.0,
    ):
        self.horizon = int(horizon)
        self.params = params
        self.interval = float(interval)
        self.temperature_max = float(temperature_limit - backoff)
        self.degree = int(degree)
        self.elements = int(elements)
        self.move_weight = float(move_weight)
        if not 0.0 <= disturbance_gain <= 1.0:
            raise ValueError(f"disturbance_gain must lie in [0, 1], got {disturbance_gain}")
        self.disturbance_gain = float(disturbance_gain)
        space = core.action_space(params)
        self._low = space.low.astype(np.float64)
        self._high = space.high.astype(np.float64)
        options = dict(IPOPT_OPTIONS)
        options.update(ipopt_options or {})
        self._build(options)
        self.solve_times: list[float] = []
        self.iterations: list[int] = []
        self.failures = 0
        self.solves = 0
        self._states = None
        self._plans: dict[int, dict] = {}
        self._disturbances: dict[int, np.ndarray] = {}  # row -> estimated (P, T) disturbance per interval
        self._last: dict[int, tuple] = {}  # row -> (state, applied input) of the previous step

    # ------------------------------------------------------------ the NLP
    def _build(self, options: dict) -> None:
        N, d, E = self.horizon, self.degree, self.elements
        tau, C, D = _radau_coefficients(d)
        h = self.interval / E
        x_off, x_scale = STATE_OFFSET, STATE_SCALE
        u_off = self._low
        u_scale = self._high - self._low
        z = ca.SX.sym("z", 5)
        v = ca.SX.sym("v", 2)
        x_phys = x_off + x_scale * z
        u_phys = u_off + u_scale * v
        f_scaled = ca.Function("f", [z, v], [casadi_rhs(x_phys, u_phys, self.params) / x_scale])

        x0 = ca.MX.sym("x0", 5)  # scaled measured state
        v_prev = ca.MX.sym("v_prev", 2)  # scaled previous input
        setpoint = ca.MX.sym("setpoint", 2)  # physical P, T
        disturbance = ca.MX.sym("disturbance", 2)  # scaled additive (P, T) disturbance per interval
        d_vec = ca.vertcat(0, 0, 0, disturbance[0], disturbance[1]) / E
        weights = np.array([core.POLYMER_WEIGHT, core.TEMPERATURE_WEIGHT])
        t_max = (self.temperature_max - x_off[4]) / x_scale[4]

        w, lbw, ubw, g, lbg, ubg = [], [], [], [], [], []
        cost = 0
        x_k = x0
        v_last = v_prev
        layout = {"u": [], "x": [], "c": [], "s": []}
        count = 0

        def add(var, lo, hi):
            nonlocal count
            w.append(var)
            lbw.extend(lo)
            ubw.extend(hi)
            index = list(range(count, count + var.numel()))
            count += var.numel()
            return index

        for k in range(N):
            v_k = ca.MX.sym(f"v{k}", 2)
            layout["u"].append(add(v_k, [0.0, 0.0], [1.0, 1.0]))
            s_k = ca.MX.sym(f"s{k}")
            layout["s"].append(add(s_k, [0.0], [np.inf]))
            cost += self.move_weight * ca.sumsqr(v_k - v_last)
            v_last = v_k
            element_points = []
            for _ in range(E):
                points = [ca.MX.sym(f"c{k}_{len(element_points)}_{j}", 5) for j in range(d)]
                element_points.append([add(p_, [-np.inf] * 5, [np.inf] * 5) for p_ in points])
                end = D[0] * x_k
                for j in range(1, d + 1):
                    derivative = C[0, j] * x_k
                    for r in range(1, d + 1):
                        derivative += C[r, j] * points[r - 1]
                    g.append(h * f_scaled(points[j - 1], v_k) - derivative)
                    lbg.extend([0.0] * 5)
                    ubg.extend([0.0] * 5)
                    g.append(points[j - 1][4] - s_k / x_scale[4])
                    lbg.append(-np.inf)
                    ubg.append(t_max)
                    end += D[j] * points[j - 1]
                x_next = ca.MX.sym(f"x{k + 1}", 5)
                layout_x = add(x_next, [-np.inf] * 5, [np.inf] * 5)
                g.append(end + d_vec - x_next)
                lbg.extend([0.0] * 5)
                ubg.extend([0.0] * 5)
                x_k = x_next
            layout["c"].append(element_points)
            layout["x"].append(layout_x)
            polymer = x_off[3] + x_scale[3] * x_k[3]
            temperature = x_off[4] + x_scale[4] * x_k[4]
            cost += weights[0] * ((setpoint[0] - polymer) / core.POLYMER_SCALE) ** 2
            cost += weights[1] * ((setpoint[1] - temperature) / core.TEMPERATURE_SCALE) ** 2
            cost += SLACK_L1 * s_k + SLACK_L2 * s_k**2

        nlp = {"x": ca.vertcat(*w), "f": cost, "g": ca.vertcat(*g), "p": ca.vertcat(x0, v_prev, setpoint, disturbance)}
        self._solver = ca.nlpsol("nmpc", "ipopt", nlp, options)
        self._lbw, self._ubw = np.array(lbw), np.array(ubw)
        self._lbg, self._ubg = np.array(lbg), np.array(ubg)
        self._layout = layout
        self._size = count
        self._tau = tau

    # ------------------------------------------------------------ helpers
    def _scale_state(self, x):
        return (np.asarray(x, dtype=float) - STATE_OFFSET) / STATE_SCALE

    def _scale_input(self, u):
        return (np.asarray(u, dtype=float) - self._low) / (self._high - self._low)

    def _unscale_input(self, v):
        return self._low + (self._high - self._low) * np.asarray(v, dtype=float)

    def _initial_guess(self, state, previous_input) -> np.ndarray:
        """Simulate the plant model holding the previous input (a feasible start for IPOPT)."""
        guess = np.zeros(self._size)
        states = [np.asarray(state, dtype=float)]
        x = states[0][None, :]
        for _ in range(self.horizon):
            x, status = advance_batch(x, np.asarray(previous_input, dtype=float)[None, :], self.interval, self.params)
            if status[0] != 0 or not np.all(np.isfinite(x)):
                x = states[-1][None, :]
            states.append(x[0].copy())
        v = self._scale_input(previous_input)
        for k in range(self.horizon):
            guess[self._layout["u"][k]] = v
            start, end = self._scale_state(states[k]), self._scale_state(states[k + 1])
            for e, element in enumerate(self._layout["c"][k]):
                for j, index in enumerate(element):
                    fraction = (e + self._tau[j + 1]) / self.elements
                    guess[index] = start + fraction * (end - start)
            guess[self._layout["x"][k]] = end
        return guess

    def _shift(self, solution: np.ndarray) -> np.ndarray:
        """The previous plan moved one interval ahead, its last interval repeated."""
        guess = solution.copy()
        for key in ("u", "x", "s"):
            blocks = self._layout[key]
            for k in range(self.horizon - 1):
                guess[blocks[k]] = solution[blocks[k + 1]]
        for k in range(self.horizon - 1):
            for e in range(self.elements):
                for j in range(self.degree):
                    guess[self._layout["c"][k][e][j]] = solution[self._layout["c"][k + 1][e][j]]
        return guess

    def _solve(self, guess, parameters):
        """One IPOPT solve; returns (success, solution, iterations)."""
        result = self._solver(x0=guess, lbx=self._lbw, ubx=self._ubw, lbg=self._lbg, ubg=self._ubg, p=parameters)
        stats = self._solver.stats()
        solution = np.asarray(result["x"]).ravel()
        success = stats.get("return_status") in SUCCESS and np.all(np.isfinite(solution))
        return bool(success), solution, int(stats.get("iter_count", -1))

    # ------------------------------------------------------------ interface
    def reset(self, rows=None) -> None:
        """Forget the warm starts (all rows, or the selected rows) and the observed states."""
        if rows is None:
            self._plans = {}
            self._states = None
            self._disturbances = {}
            self._last = {}
            return
        rows = np.asarray(rows)
        for row in np.flatnonzero(rows) if rows.dtype == bool else np.atleast_1d(rows):
            self._plans.pop(int(row), None)
            self._disturbances.pop(int(row), None)
            self._last.pop(int(row), None)

    def observe_state(self, states) -> None:
        """The physical states ``[5]`` or ``[n, 5]`` the next :meth:`act` starts its predictions from."""
        states = np.asarray(states, dtype=np.float64)
        self._states = states[None, :] if states.ndim == 1 else states.copy()

    def plan(self, row: int = 0) -> dict | None:
        """The last optimal plan of a row: ``inputs [N, 2]`` and ``states [N, 5]`` (physical units)."""
        entry = self._plans.get(row)
        if entry is None:
            return None
        solution = entry["solution"]
        inputs = np.array([self._unscale_input(solution[i]) for i in self._layout["u"]])
        states = np.array([STATE_OFFSET + STATE_SCALE * solution[i] for i in self._layout["x"]])
        return {"inputs": inputs, "states": states}

    def act(self, obs) -> np.ndarray:
        batch, single = core.observation_batch(obs)
        if self._states is None or self._states.shape[0] != batch.shape[0]:
            raise RuntimeError(
                "NMPC needs the full physical state: call observe_state(states[n, 5]) before act() "
                "(cstr.control.rollout does when the controller has observe_state)"
            )
        actions = np.empty((batch.shape[0], 2))
        for row in range(batch.shape[0]):
            actions[row] = self._act_row(row, batch[row], self._states[row])
        return actions[0] if single else actions

    def _update_disturbance(self, row: int, state: np.ndarray) -> np.ndarray:
        """Offset-free estimate: move the (P, T) disturbance towards the last one-step prediction error."""
        estimate = self._disturbances.get(row, np.zeros(2))
        last = self._last.get(row)
        if self.disturbance_gain > 0.0 and last is not None:
            predicted, status = advance_batch(last[0][None, :], last[1][None, :], self.interval, self.params)
            if status[0] == 0:
                error = state[3:] - (predicted[0, 3:] + estimate)
                estimate = estimate + self.disturbance_gain * error
        self._disturbances[row] = estimate
        return estimate

    def _act_row(self, row: int, obs: np.ndarray, state: np.ndarray) -> np.ndarray:
        action = self._plan_row(row, obs, state)
        self._last[row] = (np.array(state, dtype=float), action.copy())
        return action

    def _plan_row(self, row: int, obs: np.ndarray, state: np.ndarray) -> np.ndarray:
        setpoint = obs[0:2] + obs[2:4]
        previous_input = np.clip(obs[4:6], self._low, self._high)
        entry = self._plans.get(row)
        guess = self._shift(entry["solution"]) if entry is not None else self._initial_guess(state, previous_input)
        disturbance = self._update_disturbance(row, state)
        parameters = np.concatenate(
            [self._scale_state(state), self._scale_input(previous_input), setpoint, disturbance / STATE_SCALE[3:]]
        )
        began = time.perf_counter()
        success, solution, iterations = self._solve(guess, parameters)
        self.solve_times.append(time.perf_counter() - began)
        self.iterations.append(iterations)
        self.solves += 1
        if success:
            self._plans[row] = {"solution": solution, "used": 0}
            return np.clip(self._unscale_input(solution[self._layout["u"][0]]), self._low, self._high)
        self.failures += 1
        if entry is not None and entry["used"] + 1 < self.horizon:
            entry["used"] += 1
            self._plans[row] = {"solution": self._shift(entry["solution"]), "used": entry["used"]}
            return np.clip(self._unscale_input(entry["solution"][self._layout["u"][1]]), self._low, self._high)
        self._plans.pop(row, None)
        return previous_input.copy()

    def solve_time_summary(self) -> dict:
        """Mean, median and max wall-clock seconds per NLP solve, the solve and failure counts."""
        times = np.asarray(self.solve_times, dtype=float)
        if times.size == 0:
            return {
                "mean": None,
                "median": None,
                "max": None,
                "solves": 0,
                "failures": self.failures,
                "mean_iterations": None,
            }
        return {
            "mean": float(times.mean()),
            "median": float(np.median(times)),
            "max": float(times.max()),
            "solves": int(times.size),
            "failures": int(self.failures),
            "mean_iterations": float(np.mean(self.iterations)),
        }


DISTURBANCE_GAIN = 0.5
"""Gain of the disturbance estimate of ``nmpc-offset-free`` (0: plain NMPC, 1: last prediction error)."""

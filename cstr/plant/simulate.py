"""Integrating the reactor over control intervals: one episode, or many at once.

Two paths, one model (:func:`cstr.plant.model.rhs`):

* :func:`integrate_interval` advances **one** episode over one control interval
  with SciPy's ``solve_ivp``: the independent reference that chapter 1 and
  the tests check the compiled path against. LSODA is the default: it is the
  fastest SciPy integrator on this problem (``python -m cstr
  benchmark-simulation`` measures LSODA, BDF and Radau side by side).
* :func:`advance_batch` advances **many** episodes over one interval in a
  single compiled call: a Rosenbrock method of order 4 with an embedded
  order-3 error estimate (RODAS4, Hairer and Wanner 1996, section IV.7), with
  an adaptive step per episode. The 5x5 linear solve of every stage is
  eliminated by hand using the Jacobian's zeros. Both environments, data
  generation and evaluation run on it; with :mod:`cstr.plant.portable_math`
  its results are the same bits on every x86-64 CPU.

Both use the same tolerances (:data:`RTOL`, :data:`ATOL`). Chapter 1 shows
they agree to better than :data:`AGREEMENT_TOLERANCE` relative error in every
state, measured by :func:`relative_error` against the floors
:data:`RELATIVE_ERROR_FLOOR`.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.integrate import solve_ivp

from cstr.plant.model import DEFAULT_PARAMETERS, ReactorParameters
from cstr.plant.portable_math import exp_scalar

RTOL = 1e-7
"""Relative tolerance of both integrators."""

ATOL = np.array([1e-5, 1e-8, 1e-13, 1e-5, 1e-6])
"""Absolute tolerance per state (A, I, R, P, T), about 1e-7 of each state's operating size."""

RELATIVE_ERROR_FLOOR = np.array([1.0, 1e-3, 1e-9, 1e-2, 1.0])
"""Relative errors are taken against max(|x|, floor): a state that starts at
zero (initiator, radicals and polymer at startup) is compared on the scale of
its floor until it has grown past it."""

AGREEMENT_TOLERANCE = 1e-4
"""The largest relative disagreement between the two paths that tests accept."""

STATUS_OK = 0
STATUS_SOLVER_FAILURE = 1
STATUS_TOO_MANY_STEPS = 2
STATUS_MESSAGES = {
    STATUS_OK: "ok",
    STATUS_SOLVER_FAILURE: "solver_failure",
    STATUS_TOO_MANY_STEPS: "solver_too_many_steps",
}
"""Status code of an integration -> the termination reason an environment reports."""

INITIAL_STEP = 1.0
"""The first integration step of an episode [s]; the step-size control grows it."""
MAX_STEPS_PER_INTERVAL = 20_000


def relative_error(value, reference) -> np.ndarray:
    """|value - reference| / max(|reference|, floor), element-wise over the last axis."""
    value = np.asarray(value, dtype=float)
    reference = np.asarray(reference, dtype=float)
    return np.abs(value - reference) / np.maximum(np.abs(reference), RELATIVE_ERROR_FLOOR)


class IntegrationError(RuntimeError):
    """The integrator could not advance the state over the interval."""


def integrate_interval(
    state,
    inputs,
    duration: float,
    params: ReactorParameters = DEFAULT_PARAMETERS,
    method: str = "LSODA",
    rtol: float = RTOL,
    atol=ATOL,
) -> np.ndarray:
    """Advance one state ``[5]`` over ``duration`` seconds with constant ``inputs`` ``[2]``.

    Raises :class:`IntegrationError` when SciPy reports failure or the result
    is not finite.
    """
    inputs = np.asarray(inputs, dtype=float)
    constants = params.as_array()
    # The compiled right-hand side and Jacobian are the same functions the
    # batched path uses (and tests pin them to cstr.plant.model.rhs/jacobian):
    # SciPy's per-call overhead then dominates, which is its best case.
    solution = solve_ivp(
        _compiled_rhs,
        (0.0, duration),
        np.asarray(state, dtype=float),
        method=method,
        rtol=rtol,
        atol=atol,
        jac=_compiled_jacobian,
        t_eval=[duration],
        args=(float(inputs[0]), float(inputs[1]), constants),
    )
    if not solution.success or not np.all(np.isfinite(solution.y)):
        raise IntegrationError(f"{method} failed over a {duration} s interval: {solution.message}")
    return solution.y[:, -1]


# --------------------------------------------------------------------------
# The batched path: RODAS4 in compiled code.
# Coefficients in the form of Hairer and Wanner's RODAS, section IV.7:
#   (1/(h gamma) I - J) k_i = f(y + sum_j a_ij k_j) + sum_j (c_ij / h) k_j
#   y_new = y + sum_i m_i k_i,  error estimate = k_6.
_GAMMA = 0.25
_A = np.zeros((6, 6))
_C = np.zeros((6, 6))
_A[1, 0] = 1.544
_A[2, 0], _A[2, 1] = 0.9466785280815826, 0.2557011698983284
_A[3, 0], _A[3, 1], _A[3, 2] = 3.314825187068521, 2.896124015972201, 0.9986419139977817
_A[4, 0], _A[4, 1], _A[4, 2], _A[4, 3] = 1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950
_A[5, :4] = _A[4, :4]
_A[5, 4] = 1.0
_C[1, 0] = -5.6688
_C[2, 0], _C[2, 1] = -2.430093356833875, -0.2063599157091915
_C[3, 0], _C[3, 1], _C[3, 2] = -0.1073529058151375, -9.594562251023355, -20.47028614809616
_C[4, 0], _C[4, 1], _C[4, 2], _C[4, 3] = 7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160
_C[5, 0], _C[5, 1], _C[5, 2], _C[5, 3], _C[5, 4] = (
    8.083246795921522,
    -7.981132988064893,
    -31.52159432874371,
    16.31930543123136,
    -6.058818238834054,
)
_M = np.array([_A[4, 0], _A[4, 1], _A[4, 2], _A[4, 3], 1.0, 1.0])


@numba.njit(cache=True, inline="always")
def _rhs_and_rates(y, u_feed, t_coolant, p, out):
    volume, density, heat_capacity, jacket_ua, heat_prop = p[0], p[1], p[2], p[3], p[4]
    t_feed, monomer_feed, solvent_feed, m_monomer, m_initiator, gas = p[5], p[6], p[7], p[8], p[9], p[10]
    temperature = y[4]
    inv_rt = 1.0 / (gas * temperature)
    k_d = p[11] * exp_scalar(-p[12] * inv_rt)
    k_p = p[13] * exp_scalar(-p[14] * inv_rt)
    k_t = p[15] * exp_scalar(-p[16] * inv_rt)
    dilution = (u_feed + monomer_feed + solvent_feed) / density / 3600.0 / volume
    propagation = k_p * y[0] * y[2]
    seconds_volume = 3600.0 * volume
    inertia = density * heat_capacity * volume
    out[0] = monomer_feed / seconds_volume - dilution * y[0] - propagation
    out[1] = u_feed / seconds_volume - (dilution + k_d) * y[1]
    out[2] = 2.0 * k_d * y[1] / m_initiator - 2.0 * k_t * y[2] * y[2] - dilution * y[2]
    out[3] = propagation - dilution * y[3]
    out[4] = (
        heat_prop * propagation / m_monomer * volume
        - jacket_ua * (temperature - t_coolant)
        - density * heat_capacity * dilution * volume * (temperature - t_feed)
    ) / inertia
    return k_d, k_p, k_t, dilution, inv_rt


@numba.njit(cache=True, inline="always")
def _jacobian_into(y, u_feed, p, jac):
    """The non-zero entries of d rhs / d y (as :func:`cstr.plant.model.jacobian`) into ``jac``."""
    volume, density, heat_capacity = p[0], p[1], p[2]
    temperature = y[4]
    inv_rt = 1.0 / (p[10] * temperature)
    k_d = p[11] * exp_scalar(-p[12] * inv_rt)
    k_p = p[13] * exp_scalar(-p[14] * inv_rt)
    k_t = p[15] * exp_scalar(-p[16] * inv_rt)
    dilution = (u_feed + p[6] + p[7]) / density / 3600.0 / volume
    inv_rt2 = inv_rt / temperature
    dk_d = k_d * p[12] * inv_rt2
    dk_p = k_p * p[14] * inv_rt2
    dk_t = k_t * p[16] * inv_rt2
    inertia = density * heat_capacity * volume
    heat_gain = p[4] / p[8] * volume / inertia
    jac[0, 0] = -dilution - k_p * y[2]
    jac[0, 2] = -k_p * y[0]
    jac[0, 4] = -dk_p * y[0] * y[2]
    jac[1, 1] = -dilution - k_d
    jac[1, 4] = -dk_d * y[1]
    jac[2, 1] = 2.0 * k_d / p[9]
    jac[2, 2] = -4.0 * k_t * y[2] - dilution
    jac[2, 4] = 2.0 * dk_d * y[1] / p[9] - 2.0 * dk_t * y[2] * y[2]
    jac[3, 0] = k_p * y[2]
    jac[3, 2] = k_p * y[0]
    jac[3, 3] = -dilution
    jac[3, 4] = dk_p * y[0] * y[2]
    jac[4, 0] = heat_gain * k_p * y[2]
    jac[4, 2] = heat_gain * k_p * y[0]
    jac[4, 4] = heat_gain * dk_p * y[0] * y[2] - (p[3] + density * heat_capacity * dilution * volume) / inertia


@numba.njit(cache=True)
def _compiled_rhs(_t, y, u_feed, t_coolant, p):
    out = np.empty(5)
    _rhs_and_rates(y, u_feed, t_coolant, p, out)
    return out


@numba.njit(cache=True)
def _compiled_jacobian(_t, y, u_feed, t_coolant, p):
    jac = np.zeros((5, 5))
    _jacobian_into(y, u_feed, p, jac)
    return jac


@numba.njit(cache=True)
def _rodas4_interval(y0, u_feed, t_coolant, duration, p, rtol, atol, h_start, max_steps, A, C, M, gamma, y_out):
    """One episode over one interval. Returns (status, last accepted step size)."""
    n = 5
    y = y0.copy()
    f0 = np.empty(n)
    fs = np.empty(n)
    ys = np.empty(n)
    b = np.empty(n)
    k = np.zeros((6, n))
    y_new = np.empty(n)
    jac = np.zeros((n, n))
    t = 0.0
    h = min(h_start, duration)
    h_accepted = h
    steps = 0
    rejected_last = False
    while t < duration * (1.0 - 1e-14):
        steps += 1
        if steps > max_steps:
            y_out[:] = y
            return 2, h_accepted
        if t + h > duration:
            h = duration - t
        _rhs_and_rates(y, u_feed, t_coolant, p, f0)
        _jacobian_into(y, u_feed, p, jac)
        j00, j02, j04 = jac[0, 0], jac[0, 2], jac[0, 4]
        j11, j14 = jac[1, 1], jac[1, 4]
        j21, j22, j24 = jac[2, 1], jac[2, 2], jac[2, 4]
        j30, j32, j33, j34 = jac[3, 0], jac[3, 2], jac[3, 3], jac[3, 4]
        j40, j42, j44 = jac[4, 0], jac[4, 2], jac[4, 4]
        # G = I / (h gamma) - J, eliminated in the order I, R, A, T, P.
        diag = 1.0 / (h * gamma)
        g00 = diag - j00
        g11 = diag - j11
        g22 = diag - j22
        g33 = diag - j33
        g44 = diag - j44
        c1 = j14 / g11
        c2 = (j21 * c1 + j24) / g22
        c0 = (j02 * c2 + j04) / g00
        pivot = g44 - j40 * c0 - j42 * c2
        for stage in range(6):
            if stage == 0:
                for i in range(n):
                    b[i] = f0[i]
            else:
                for i in range(n):
                    acc = y[i]
                    for j in range(stage):
                        acc += A[stage, j] * k[j, i]
                    ys[i] = acc
                _rhs_and_rates(ys, u_feed, t_coolant, p, fs)
                for i in range(n):
                    acc = fs[i]
                    for j in range(stage):
                        acc += C[stage, j] / h * k[j, i]
                    b[i] = acc
            a1 = b[1] / g11
            a2 = (b[2] + j21 * a1) / g22
            a0 = (b[0] + j02 * a2) / g00
            x4 = (b[4] + j40 * a0 + j42 * a2) / pivot
            x1 = a1 + c1 * x4
            x2 = a2 + c2 * x4
            x0 = a0 + c0 * x4
            x3 = (b[3] + j30 * x0 + j32 * x2 + j34 * x4) / g33
            k[stage, 0] = x0
            k[stage, 1] = x1
            k[stage, 2] = x2
            k[stage, 3] = x3
            k[stage, 4] = x4
        err = 0.0
        finite = True
        for i in range(n):
            acc = y[i]
            for j in range(6):
                acc += M[j] * k[j, i]
            y_new[i] = acc
            scale = atol[i] + rtol * max(abs(y[i]), abs(acc))
            e = k[5, i] / scale
            err += e * e
            if not np.isfinite(acc):
                finite = False
        err = np.sqrt(err / n)
        if not finite or not np.isfinite(err):
            h *= 0.25
            rejected_last = True
            if h < 1e-10:
                y_out[:] = y
                return 1, h_accepted
            continue
        # err^(-1/4) through two square roots: pow() differs between CPUs in the last bit, sqrt never does
        factor = 0.9 / np.sqrt(np.sqrt(err)) if err > 0.0 else 6.0
        factor = min(6.0, max(0.2, factor))
        if err <= 1.0:
            t += h
            for i in range(n):
                y[i] = y_new[i]
            h_accepted = h
            if rejected_last:
                factor = min(factor, 1.0)
            rejected_last = False
            h *= factor
        else:
            h *= min(factor, 1.0)
            rejected_last = True
            if h < 1e-10:
                y_out[:] = y
                return 1, h_accepted
    y_out[:] = y
    return 0, h_accepted


@numba.njit(cache=True)
def _rodas4_batch(states, inputs, duration, p, rtol, atol, step_hints, active, max_steps, A, C, M, gamma, out, status):
    y_out = np.empty(5)
    for e in range(states.shape[0]):
        if not active[e]:
            out[e, :] = states[e, :]
            status[e] = 0
            continue
        code, h_last = _rodas4_interval(
            states[e],
            inputs[e, 0],
            inputs[e, 1],
            duration,
            p,
            rtol,
            atol,
            step_hints[e],
            max_steps,
            A,
            C,
            M,
            gamma,
            y_out,
        )
        out[e, :] = y_out
        status[e] = code
        step_hints[e] = h_last


def advance_batch(
    states,
    inputs,
    duration: float,
    params: ReactorParameters = DEFAULT_PARAMETERS,
    step_hints=None,
    active=None,
    rtol: float = RTOL,
    atol=ATOL,
    max_steps: int = MAX_STEPS_PER_INTERVAL,
):
    """Advance ``states[N, 5]`` over ``duration`` seconds with constant ``inputs[N, 2]``.

    ``step_hints[N]`` (updated in place) carries each episode's last step
    size into the next interval, so a settled episode takes few steps;
    ``None`` starts every episode from :data:`INITIAL_STEP`. Episodes with
    ``active[e] == False`` are copied, not integrated (a terminated episode
    in runaway would otherwise set the pace of the whole batch).

    Returns ``(new_states[N, 5], status[N])`` with status codes from
    :data:`STATUS_MESSAGES`; a failed episode keeps its last good state.
    """
    states = np.ascontiguousarray(states, dtype=np.float64)
    inputs = np.ascontiguousarray(inputs, dtype=np.float64)
    if states.ndim != 2 or states.shape[1] != 5:
        raise ValueError(f"states must have shape [N, 5], got {states.shape}")
    if inputs.shape != (states.shape[0], 2):
        raise ValueError(f"inputs must have shape [{states.shape[0]}, 2], got {inputs.shape}")
    count = states.shape[0]
    if step_hints is None:
        step_hints = np.full(count, INITIAL_STEP)
    if active is None:
        active = np.ones(count, dtype=np.bool_)
    out = np.empty_like(states)
    status = np.zeros(count, dtype=np.int8)
    _rodas4_batch(
        states,
        inputs,
        float(duration),
        params.as_array(),
        float(rtol),
        np.asarray(atol, dtype=np.float64),
        step_hints,
        np.asarray(active, dtype=np.bool_),
        int(max_steps),
        _A,
        _C,
        _M,
        _GAMMA,
        out,
        status,
    )
    return out, status

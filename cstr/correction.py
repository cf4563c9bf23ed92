"""Deployment-time action correction: projected gradient descent on a convex cost.

Given a policy's action a_0 = pi(s) and a cost c(s, a) convex in a (a
:class:`cstr.picnn.PICNN`), the correction takes K steps of projected
gradient descent inside the feasible box::

    a_{k+1} = Proj_B( a_k - eta_k grad_a c(s, a_k) ),   B = input bounds ∩ {|a - a_0|_inf <= delta}

in normalised action units ([-1, 1] per input). Each step starts from the
current step size and halves it until the Armijo condition
``c(s, a_{k+1}) <= c(s, a_k) + sigma * grad . (a_{k+1} - a_k)`` holds; a row
that finds no such step within the backtracking budget keeps its action.
So the cost **never increases** along a correction, and every iterate lies
in B, inside the input bounds. An accepted step lets the next one try twice
the step size, so a poorly chosen initial step costs little.

The cost and its action gradient are computed by hand in numpy
(:class:`CostSurface`): the state path of the PICNN depends on s only and is
evaluated once per state; each step then costs a few small matrix products.
The tests check the gradient against finite differences and against torch's
autograd.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ARMIJO = 1e-4


def _softplus(x):
    return np.logaddexp(0.0, x)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class CostSurface:
    """c(s_j, .) for a batch of states s_j, with the state path computed once.

    ``weights`` come from :meth:`cstr.picnn.PICNN.export`. Actions are in
    physical units in :meth:`value` / :meth:`value_and_gradient`, in unit
    ([-1, 1]) coordinates in the ``*_unit`` methods.
    """

    def __init__(self, weights: dict, observations):
        observations = np.atleast_2d(np.asarray(observations, dtype=np.float64))
        self.weights = weights
        self.low = weights["action_low"]
        self.high = weights["action_high"]
        self.unit_per_action = 2.0 / (self.high - self.low)
        u = [(observations - weights["observation_mean"]) / weights["observation_std"]]
        for weight, bias in weights["state"]:
            u.append(np.maximum(u[-1] @ weight.T + bias, 0.0))
        self.p = [u[i] @ w.T + b for i, (w, b) in enumerate(weights["wyu"])]
        self.c = [u[i] @ w.T + b for i, (w, b) in enumerate(weights["wc"])]
        self.m = [np.maximum(u[i + 1] @ w.T + b, 0.0) for i, (w, b) in enumerate(weights["wzu"])]
        self.wy = weights["wy"]
        self.wz = weights["wz"]
        self.layers = len(self.wz)

    def __len__(self) -> int:
        return self.c[0].shape[0]

    def to_unit(self, actions):
        return (np.asarray(actions, dtype=np.float64) - self.low) * self.unit_per_action - 1.0

    def from_unit(self, unit):
        return self.low + (unit + 1.0) / self.unit_per_action

    def _forward(self, unit, rows=None):
        pick = (lambda x: x) if rows is None else (lambda x: x[rows])
        pre_activations = []
        z = None
        for i in range(self.layers + 1):
            pre = (unit * pick(self.p[i])) @ self.wy[i].T + pick(self.c[i])
            if i > 0:
                pre = pre + (z * pick(self.m[i - 1])) @ self.wz[i - 1].T
            pre_activations.append(pre)
            if i < self.layers:
                z = _softplus(pre)
        return pre_activations

    def value_unit(self, unit, rows=None) -> np.ndarray:
        return self._forward(unit, rows)[-1][:, 0]

    def value_and_gradient_unit(self, unit, rows=None) -> tuple[np.ndarray, np.ndarray]:
        pick = (lambda x: x) if rows is None else (lambda x: x[rows])
        pre = self._forward(unit, rows)
        upstream = np.ones_like(pre[-1])  # d c / d pre_k
        gradient = np.zeros_like(unit)
        for i in range(self.layers, -1, -1):
            gradient += (upstream @ self.wy[i]) * pick(self.p[i])
            if i > 0:
                upstream = (upstream @ self.wz[i - 1]) * pick(self.m[i - 1]) * _sigmoid(pre[i - 1])
        return pre[-1][:, 0], gradient

    def value(self, actions) -> np.ndarray:
        return self.value_unit(self.to_unit(np.atleast_2d(actions)))

    def value_and_gradient(self, actions) -> tuple[np.ndarray, np.ndarray]:
        value, gradient = self.value_and_gradient_unit(self.to_unit(np.atleast_2d(actions)))
        return value, gradient * self.unit_per_action


@dataclass
class CorrectionConfig:
    """The correction's knobs (normalised action units)."""

    steps: int = 10  # K
    step_size: float = 0.1  # eta_0
    trust_region: float | None = 0.25  # delta; None: the whole input box
    max_backtracks: int = 6


@dataclass
class Correction:
    actions: np.ndarray  # corrected, physical units [n, 2]
    costs: np.ndarray  # [K + 1, n], the cost after each step (non-increasing per row)
    initial_actions: np.ndarray


def correct(surface: CostSurface, actions, config: CorrectionConfig = CorrectionConfig(),
            record: bool = False) -> Correction:
    """Descend ``surface`` from ``actions`` (physical units, [n, 2] or [2])."""
    actions = np.asarray(actions, dtype=np.float64)
    single = actions.ndim == 1
    start = np.clip(surface.to_unit(np.atleast_2d(actions)), -1.0, 1.0)
    if start.shape != (len(surface), 2):
        raise ValueError(f"need one action per state: {len(surface)} states, actions of shape {actions.shape}")
    low, high = -np.ones_like(start), np.ones_like(start)
    if config.trust_region is not None:
        low = np.maximum(low, start - config.trust_region)
        high = np.minimum(high, start + config.trust_region)
    current = start.copy()
    eta = np.full(len(start), float(config.step_size))
    cost, gradient = surface.value_and_gradient_unit(current)
    history = [cost.copy()] if record else []
    for _ in range(config.steps):
        pending = np.arange(len(current))
        accepted = np.zeros(len(current), dtype=bool)
        for _ in range(config.max_backtracks + 1):
            candidate = np.clip(current[pending] - eta[pending, None] * gradient[pending], low[pending], high[pending])
            moved = candidate - current[pending]
            new_cost = surface.value_unit(candidate, pending)
            still = ~np.any(moved != 0.0, axis=1)  # at a corner of B: projection cancels the step
            ok = ~still & (new_cost <= cost[pending] + ARMIJO * np.sum(gradient[pending] * moved, axis=1))
            rows = pending[ok]
            current[rows] = candidate[ok]
            cost[rows] = new_cost[ok]
            accepted[rows] = True
            pending = pending[~ok & ~still]
            if pending.size == 0:
                break
            eta[pending] *= 0.5
        eta[accepted] *= 2.0
        if accepted.any():
            rows = np.flatnonzero(accepted)
            # keep the cost the acceptance test saw: re-evaluating the same action in a
            # different batch may differ in the last bit, and the record must be exact
            gradient[rows] = surface.value_and_gradient_unit(current[rows], rows)[1]
        if record:
            history.append(cost.copy())
        if not accepted.any():
            break
    if record:
        while len(history) < config.steps + 1:
            history.append(cost.copy())
    corrected = surface.from_unit(current)
    costs = np.array(history) if record else cost[None].copy()
    return Correction(corrected[0] if single else corrected, costs, actions)


class CorrectedController:
    """``policy`` with its actions corrected on ``cost_model`` at every step: BC+ and IQL+."""

    def __init__(self, policy, cost_model, config: CorrectionConfig = CorrectionConfig(), name: str = "corrected"):
        self.policy = policy
        self.weights = cost_model.export()
        self.config = config
        self.name = name

    def reset(self, rows=None) -> None:
        if hasattr(self.policy, "reset"):
            self.policy.reset(rows)

    def act(self, obs) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        proposed = self.policy.act(obs)
        surface = CostSurface(self.weights, obs)
        return correct(surface, proposed, self.config).actions

"""Deployment-time action correction: projected gradient descent on a convex cost.

Given a policy's action a_0 = pi(s) and a cost c(s, a) convex in a (a
:class:`cstr.safety.picnn.PICNN`), the correction takes K steps of projected
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
Deployment (:class:`CorrectedController`) runs it in float64: in float32 the
rounding of a matrix product differs between CPUs (SIMD kernels), and an
accept/reject decision of the backtracking that flips on a last bit sends a
closed loop with the whole box as trust region onto another trajectory
(measured: 8 % per episode under imitated CPUs); float64 leaves such flips
about a billion times rarer. A row that does not move keeps the policy's
action exactly.
The tests check the gradient against finite differences and against torch's
autograd.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cstr.safety.history import HistoryBuffer

ARMIJO = 1e-4
"""The sufficient-decrease constant sigma of the Armijo condition."""


class CostSurface:
    """c(s_j, .) for a batch of states s_j, with the state path computed once.

    ``weights`` come from :meth:`cstr.safety.picnn.PICNN.export`. Actions are in
    physical units in :meth:`value` / :meth:`value_and_gradient`, in unit
    ([-1, 1]) coordinates in the ``*_unit`` methods.
    """

    def __init__(self, weights: dict, observations, dtype=np.float64):
        def cast(x):
            return np.asarray(x, dtype=dtype)

        observations = np.atleast_2d(cast(observations))
        self.weights = weights
        self.dtype = dtype
        self.low = cast(weights["action_low"])
        self.high = cast(weights["action_high"])
        self.unit_per_action = 2.0 / (self.high - self.low)
        u = [(observations - cast(weights["observation_mean"])) / cast(weights["observation_std"])]
        for weight, bias in weights["state"]:
            u.append(np.maximum(u[-1] @ cast(weight).T + cast(bias), 0.0))
        self.p = [u[i] @ cast(w).T + cast(b) for i, (w, b) in enumerate(weights["wyu"])]
        self.c = [u[i] @ cast(w).T + cast(b) for i, (w, b) in enumerate(weights["wc"])]
        self.m = [np.maximum(u[i + 1] @ cast(w).T + cast(b), 0.0) for i, (w, b) in enumerate(weights["wzu"])]
        self.wy = [cast(w) for w in weights["wy"]]
        self.wz = [cast(w) for w in weights["wz"]]
        self.layers = len(self.wz)

    def __len__(self) -> int:
        return self.c[0].shape[0]

    def to_unit(self, actions):
        return (np.asarray(actions, dtype=self.dtype) - self.low) * self.unit_per_action - 1.0

    def from_unit(self, unit):
        return self.low + (unit + 1.0) / self.unit_per_action

    def _forward(self, unit, rows=None, slopes: bool = False):
        """Pre-activations of every layer (and, with ``slopes``, softplus' derivative at each)."""
        pick = (lambda x: x) if rows is None else (lambda x: x[rows])
        pre_activations, derivatives = [], []
        z = None
        for i in range(self.layers + 1):
            pre = (unit * pick(self.p[i])) @ self.wy[i].T + pick(self.c[i])
            if i > 0:
                pre = pre + (z * pick(self.m[i - 1])) @ self.wz[i - 1].T
            pre_activations.append(pre)
            if i < self.layers:
                # softplus(x) = max(x, 0) + log(1 + e^-|x|), its derivative the logistic
                # function, both from one exponential and without overflow
                small = np.exp(-np.abs(pre))
                z = np.maximum(pre, 0.0) + np.log1p(small)
                if slopes:
                    derivatives.append(np.where(pre >= 0.0, 1.0, small) / (1.0 + small))
        return pre_activations, derivatives

    def value_unit(self, unit, rows=None) -> np.ndarray:
        return self._forward(unit, rows)[0][-1][:, 0]

    def value_and_gradient_unit(self, unit, rows=None) -> tuple[np.ndarray, np.ndarray]:
        pick = (lambda x: x) if rows is None else (lambda x: x[rows])
        pre, slope = self._forward(unit, rows, slopes=True)
        upstream = np.ones_like(pre[-1])  # d c / d pre_k
        gradient = np.zeros_like(unit)
        for i in range(self.layers, -1, -1):
            gradient += (upstream @ self.wy[i]) * pick(self.p[i])
            if i > 0:
                upstream = (upstream @ self.wz[i - 1]) * pick(self.m[i - 1]) * slope[i - 1]
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


def correct(
    surface: CostSurface, actions, config: CorrectionConfig = CorrectionConfig(), record: bool = False
) -> Correction:
    """Descend ``surface`` from ``actions`` (physical units, [n, 2] or [2])."""
    actions = np.asarray(actions, dtype=np.float64)
    single = actions.ndim == 1
    start = np.clip(surface.to_unit(np.atleast_2d(actions)), -1.0, 1.0)
    if start.shape != (len(surface), 2):
        raise ValueError(f"need one action per state: {len(surface)} states, actions of shape {actions.shape}")
    low, high = -np.ones_like(start), np.ones_like(start)  # in the surface's dtype
    if config.trust_region is not None:
        low = np.maximum(low, start - config.trust_region)
        high = np.minimum(high, start + config.trust_region)
    current = start.copy()
    eta = np.full(len(start), config.step_size, dtype=start.dtype)
    cost, gradient = surface.value_and_gradient_unit(current)
    history = [cost.copy()] if record else []
    for _ in range(config.steps):
        pending = np.arange(len(current))
        accepted = np.zeros(len(current), dtype=bool)
        for _ in range(config.max_backtracks + 1):
            every = pending.size == len(current)  # no row has dropped out: skip the gathers
            rows_or_all = None if every else pending
            candidate = np.clip(current[pending] - eta[pending, None] * gradient[pending], low[pending], high[pending])
            moved = candidate - current[pending]
            # value and gradient in one pass: most candidates are accepted at once, and an
            # accepted row then needs no second evaluation for its next step
            new_cost, new_gradient = surface.value_and_gradient_unit(candidate, rows_or_all)
            still = ~np.any(moved != 0.0, axis=1)  # at a corner of B: projection cancels the step
            ok = ~still & (new_cost <= cost[pending] + ARMIJO * np.sum(gradient[pending] * moved, axis=1))
            rows = pending[ok]
            current[rows] = candidate[ok]
            cost[rows] = new_cost[ok]
            gradient[rows] = new_gradient[ok]
            accepted[rows] = True
            pending = pending[~ok & ~still]
            if pending.size == 0:
                break
            eta[pending] *= 0.5
        eta[accepted] *= 2.0
        if record:
            history.append(cost.copy())
        if not accepted.any():
            break
    if record:
        while len(history) < config.steps + 1:
            history.append(cost.copy())
    corrected = surface.from_unit(current)
    # a row that never moved keeps the (clipped) proposal bit for bit, not its round trip through unit coordinates
    unmoved = np.all(current == start, axis=1)
    corrected[unmoved] = np.clip(np.atleast_2d(actions), surface.low, surface.high)[unmoved]
    costs = np.array(history) if record else cost[None].copy()
    return Correction(corrected[0] if single else corrected, costs, actions)


class CorrectedController:
    """``policy`` with its actions corrected on ``cost_model`` at every step: BC+ and IQL+.

    The policy reads the observation; the cost model reads a window of the
    last ``cost_model.window`` observations (:mod:`cstr.safety.history`),
    which the controller keeps itself: :meth:`reset` clears it, as at the
    start of every episode. An offset-free cost model also reads an output
    bias, estimated by ``bias_estimator``
    (:class:`cstr.safety.offset_free.BiasEstimator`) from the same observations.
    """

    def __init__(
        self,
        policy,
        cost_model,
        config: CorrectionConfig = CorrectionConfig(),
        name: str = "corrected",
        bias_estimator=None,
    ):
        if bool(getattr(cost_model, "bias_inputs", 0)) != (bias_estimator is not None):
            raise ValueError(
                "an offset-free cost model (one that reads an output bias) needs a bias estimator, "
                "and only such a model can use one (cstr.safety.offset_free)"
            )
        self.policy = policy
        self.weights = cost_model.export()
        self.config = config
        self.name = name
        self.history = HistoryBuffer(cost_model.window)
        self.bias_estimator = bias_estimator
        self.last_bias = None

    def reset(self, rows=None) -> None:
        self.history.reset(rows)
        if self.bias_estimator is not None:
            self.bias_estimator.reset(rows)
        if hasattr(self.policy, "reset"):
            self.policy.reset(rows)

    def act(self, obs) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        proposed = self.policy.act(obs)
        self.last_proposal = proposed
        features = self.history.push(obs)
        if self.bias_estimator is not None:
            self.last_bias = self.bias_estimator.update(obs, features)
            features = np.concatenate([features, self.last_bias], axis=1)
        # float64, not the network's float32: see the module docstring (portability across CPUs)
        surface = CostSurface(self.weights, features, dtype=np.float64)
        corrected = correct(surface, np.atleast_2d(proposed), self.config).actions.astype(np.float64)
        return corrected[0] if np.ndim(proposed) == 1 else corrected

"""Offset-free correction: an output-bias estimate on the cost model's state path.

A learned cost predicts what an action does on the plant it was trained
on. On a plant whose heat transfer or kinetics differ by 20 %, the action
that minimises the predicted cost holds the outputs away from the grade: a
steady-state offset, which the correction alone cannot remove because it
has no memory. Offset-free MPC (Muske and Badgwell 2002; Pannocchia and
Rawlings 2003) removes it by adding a disturbance to the model and
estimating it from what is measured. The cost of
:mod:`cstr.safety.cost_model` (``offset_free=True``) does the same with an
output bias b = (b_P, b_T) added to every prediction in the setpoint errors::

    C_L(h, b, a) = sum_k gamma^(k-1) [ ((P* - P_k - b_P)/s_P)^2 + ((T* - T_k - b_T)/s_T)^2 + limit(T_k) ]

and the PICNN reads ``(h, b)`` on its state path, so it stays convex in a.
The limit term reads the model's own prediction: b moves where the cost
aims, and a bias integrated while the controller holds the reactor below its
grade (b_T < 0) must not make the 360 K limit look further away. (A first
version put b in the limit term too; in the stress scenario, where the
corrections hold back below a grade 3 K from the limit, that let the
offset-free controllers cross the limit during development.)
A deployed controller estimates b from measurements only, one of two ways
(:class:`OffsetFreeConfig`):

``"integral"``
    ``b_t = b_{t-1} + g (y_t - y*)``: the integrated setpoint error (the
    integral action of a PI loop, on the cost's targets). If the closed loop
    comes to rest, the integrator does too, so ``y = y*``: no offset,
    however wrong the model, provided it settles with b inside its clip
    range and the inputs unsaturated. Integration pauses while
    the outputs are still moving: while polymer or temperature has changed
    by more than ``settled`` (normalised by the reward's scales) across the
    window of observations the cost reads. A grade change is a transient,
    not an offset, and integrating it would wind the bias up (anti-windup).
``"prediction-error"``
    ``b_t = (1 - g) b_{t-1} + g (y_t - y_hat_{t|t-1})``, the filtered one-step
    error of the NARX model the cost was distilled from: the disturbance
    estimate of offset-free MPC. At rest it equals the model's one-step
    error; the cost looks ``horizon`` steps ahead, where the model, run on
    its own predictions, may drift, so nothing forces the output onto the
    setpoint: even an exact minimiser of the cost can keep an offset
    (chapter 8 measures one that does).

Both clip b to the range the cost was trained on. Chapter 8 measures them
under the mismatch grid; the gain and the estimator are chosen on
validation seeds (``python -m cstr select-offset-free``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from cstr.control.rollout import rollout
from cstr.envs import core
from cstr.safety.history import OBS_DIM

ESTIMATORS = ("integral", "prediction-error")
SCALES = np.array([core.POLYMER_SCALE, core.TEMPERATURE_SCALE])
"""The reward's normalisation of polymer and temperature, for the settling test."""


@dataclass
class OffsetFreeConfig:
    """How a deployed offset-free correction estimates the output bias b."""

    estimator: str = "integral"
    gain: float = 0.1  # g, per control interval
    settled: float | None = 0.05  # "integral": integrate only while the window's outputs span at most this
    # (normalised by the reward's scales); None: always

    def __post_init__(self):
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown bias estimator {self.estimator!r}; choose one of {', '.join(ESTIMATORS)}")
        if not 0.0 < self.gain <= 1.0:
            raise ValueError(f"the estimator gain must lie in (0, 1], got {self.gain}")
        if self.settled is not None and self.settled <= 0.0:
            raise ValueError(f"the settling threshold must be positive (or None for none), got {self.settled}")


class BiasEstimator:
    """b per parallel episode, from the observations only; :meth:`reset` sets a row's b to zero.

    ``dynamics``: the NARX model the cost was distilled from (needed by
    ``"prediction-error"``); it runs in float64 here, like the correction,
    so the estimate does not depend on a CPU's float32 kernels.
    """

    def __init__(self, config: OffsetFreeConfig, bias_range, dynamics=None):
        if config.estimator == "prediction-error" and dynamics is None:
            raise ValueError("the 'prediction-error' estimator needs the NARX model the cost was distilled from")
        self.config = config
        self.bias_range = np.asarray(bias_range, dtype=np.float64)
        self.dynamics = None
        if dynamics is not None and config.estimator == "prediction-error":
            self.dynamics = copy.deepcopy(dynamics).double().eval()
        self.bias: np.ndarray | None = None
        self.previous: np.ndarray | None = None  # h_{t-1}, for the one-step prediction
        self.fresh: np.ndarray | None = None
        self.active: np.ndarray | None = None  # which rows' estimate moved on the last update

    def reset(self, rows=None) -> None:
        if rows is None or self.bias is None:
            self.bias, self.previous, self.fresh = None, None, None
        else:
            rows = np.asarray(rows)
            self.bias[rows] = 0.0
            self.fresh[rows] = True

    def update(self, observations, features) -> np.ndarray:
        """b ``[n, 2]`` after the newest observations ``[n, 6]`` (``features``: the window ``h_t`` ``[n, 6 W]``)."""
        observations = np.atleast_2d(np.asarray(observations, dtype=np.float64))
        features = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if self.bias is None or len(self.bias) != len(observations):
            self.bias = np.zeros((len(observations), 2))
            self.fresh = np.ones(len(observations), dtype=bool)
            self.previous = features.copy()
        gain = self.config.gain
        if self.config.estimator == "integral":
            # the observation carries y* - y; the bias grows with y - y*
            error = -observations[:, 2:4]
            active = ~self.fresh
            if self.config.settled is not None:
                outputs = features.reshape(len(features), -1, OBS_DIM)[:, :, 0:2] / SCALES
                spread = outputs.max(axis=1) - outputs.min(axis=1)
                active &= np.all(spread <= self.config.settled, axis=1)
            self.bias[active] += gain * error[active]
            self.active = active
        else:
            self.active = ~self.fresh
            if (~self.fresh).any():
                rows = ~self.fresh
                with torch.no_grad():
                    predicted = self.dynamics(
                        torch.as_tensor(self.previous[rows]), torch.as_tensor(observations[rows, 4:6])
                    ).numpy()
                self.bias[rows] = (1.0 - gain) * self.bias[rows] + gain * (observations[rows, 0:2] - predicted)
        np.clip(self.bias, -self.bias_range, self.bias_range, out=self.bias)
        self.previous = features.copy()
        self.fresh[:] = False
        return self.bias.copy()


class BiasRecorder:
    """An offset-free corrected controller that records its estimate at every step, for any runner.

    Runs like ``controller`` (it forwards ``act`` and ``reset``), so it can be handed to
    :func:`cstr.control.rollout.rollout` or to the evaluation harness; :meth:`trace` then adds what it
    recorded to that run's arrays.
    """

    def __init__(self, controller):
        if getattr(controller, "bias_estimator", None) is None:
            raise ValueError("a bias trace needs a corrected controller with a bias estimator (an offset-free one)")
        self.controller = controller
        self.biases: list[np.ndarray] = []
        self.integrating: list[np.ndarray] = []

    def reset(self, rows=None) -> None:
        self.controller.reset(rows)

    def act(self, obs):
        actions = self.controller.act(obs)
        self.biases.append(np.array(self.controller.last_bias))
        self.integrating.append(np.array(self.controller.bias_estimator.active))
        return actions

    def trace(self, result: dict) -> dict:
        """``result`` (the rollout arrays of the run this recorder took part in) plus ``biases``
        ``[n, horizon, 2]`` (b after each observation) and ``integrating`` ``[n, horizon]`` (whether the
        estimate moved at that step: for ``"integral"``, the settling gate was open), NaN / False after an
        episode ended."""
        n, steps = result["rewards"].shape
        biases = np.full((n, steps, 2), np.nan)
        integrating = np.zeros((n, steps), dtype=bool)
        biases[:, : len(self.biases)] = np.stack(self.biases, axis=1)
        integrating[:, : len(self.integrating)] = np.stack(self.integrating, axis=1)
        ended = np.arange(steps)[None, :] >= result["lengths"][:, None]
        biases[ended] = np.nan
        integrating[ended] = False
        return result | {"biases": biases, "integrating": integrating}


def bias_trace(controller, scenario: str, seeds, env_options: dict | None = None) -> dict:
    """Episodes of an offset-free corrected controller with its estimate recorded at every step:
    :func:`cstr.control.rollout.rollout`'s arrays plus :meth:`BiasRecorder.trace`'s."""
    recorder = BiasRecorder(controller)
    return recorder.trace(rollout(recorder, scenario, seeds, env_options=env_options))

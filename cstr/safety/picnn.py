"""A partially input-convex neural network (PICNN; Amos, Xu and Kolter, 2017).

The cost c(s, a) is an arbitrary function of the state s and a **convex**
function of the action a for every s. Two paths run side by side:

* the state path, an ordinary MLP: ``u_{i+1} = relu(Wu_i u_i + bu_i)``, ``u_0 = s``;
* the action path, for layers i = 0..k::

      z_{i+1} = g( Wz_i (z_i * m_i) + Wy_i (a * p_i) + Wc_i u_i + b_i )

  with ``m_i = relu(Wzu_i u_i + bz_i) >= 0``, ``p_i = Wyu_i u_i + by_i``,
  ``Wz_i >= 0`` elementwise, ``g`` = softplus on hidden layers and the
  identity on the scalar output; ``z_0`` is absent (layer 0 has no z-term).

**Why it is convex in a.** Fix s; then m_i, p_i and the Wc-term are
constants. The term ``Wy_i (a * p_i)`` is linear in a. If z_i is convex in a
(each component), then ``z_i * m_i`` is convex (non-negative scaling) and
``Wz_i (z_i * m_i)`` is a non-negative combination of convex functions,
hence convex. A convex plus a linear function is convex, and softplus is
convex and non-decreasing, so ``z_{i+1}`` is convex. Layer 0 is softplus of
an affine function of a, convex; induction gives every layer, and the output
(no activation) is convex in a. Nothing constrains the state path, so c is
as flexible in s as an ordinary network.

**Non-negativity by construction.** ``Wz_i = softplus(V_i)`` for an
unconstrained parameter ``V_i``: every weight is positive at every moment
of training, not only after a projection step that an optimiser, a
checkpoint or a future edit could skip. (Projection, clamping after each
step, would let weights reach exactly zero; softplus cannot, which costs
nothing here.)

:meth:`PICNN.export` returns the network as numpy arrays for the
deployment-time correction (:mod:`cstr.safety.correction`), which evaluates the
cost and its action gradient by hand, with the state path computed once.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cstr.agents.nn import Normaliser
from cstr.safety.history import OBS_DIM

ACTION_DIM = 2


SOFTPLUS_FLOOR = -80.0
"""Below this pre-activation :func:`exact_softplus` is ``exp(x)`` (equal in float32): ``logaddexp``'s second
derivative overflows to NaN below about -88, and the Sobolev loss differentiates the PICNN twice."""


def exact_softplus(pre: torch.Tensor) -> torch.Tensor:
    """``log(1 + e^x)`` without a kink and with finite first and second derivatives everywhere.

    ``F.softplus`` switches to the identity above a threshold, a kink that breaks exact convexity far out on the
    action path, so the PICNN uses ``logaddexp(x, 0)``; but its double backward computes ``e^{-x}`` squared and
    turns NaN for x below about -88 (a cost model trained on data with runaways reached it). Below
    :data:`SOFTPLUS_FLOOR` this returns ``e^x`` instead, which equals ``log(1 + e^x)`` to float32 precision there;
    above it, the same values and derivatives as ``logaddexp`` bit for bit. Each branch reads a clamped input so
    that the branch ``where`` does not take never sends an infinite derivative back.
    """
    zero = torch.zeros((), dtype=pre.dtype)
    return torch.where(
        pre > SOFTPLUS_FLOOR,
        torch.logaddexp(pre.clamp_min(SOFTPLUS_FLOOR), zero),
        torch.exp(pre.clamp_max(SOFTPLUS_FLOOR)),
    )


class PICNN(nn.Module):
    """``cost(states[n, d], actions[n, 2]) -> [n]``, convex in the actions.

    The "state" is whatever the cost is conditioned on: the observation
    (``d`` = 6), a window of recent observations (:mod:`cstr.safety.history`,
    ``d`` = 6 W), its size set by the normaliser; for an offset-free cost
    (:mod:`cstr.safety.offset_free`) followed by ``bias_inputs`` = 2 output
    biases (polymer, temperature). Inputs are in physical units; the
    normaliser (stored with the weights) standardises the state and maps
    actions to [-1, 1].
    """

    def __init__(
        self, normaliser: Normaliser, hidden: int = 64, layers: int = 2, state_hidden: int = 64, bias_inputs: int = 0
    ):
        super().__init__()
        self.normaliser = normaliser
        self.hidden = hidden
        self.layers = layers
        self.bias_inputs = int(bias_inputs)
        self.state_dim = int(normaliser.observation_mean.shape[0])
        observed = self.state_dim - self.bias_inputs
        if observed <= 0 or observed % OBS_DIM:
            raise ValueError(
                f"the state must be a window of {OBS_DIM}-dimensional observations"
                f"{f' and {self.bias_inputs} biases' if self.bias_inputs else ''}, got {self.state_dim} inputs"
            )
        self.window = observed // OBS_DIM
        widths = [hidden] * layers + [1]  # z-widths of layer outputs
        state_widths = [self.state_dim] + [state_hidden] * layers
        self.state_layers = nn.ModuleList(nn.Linear(state_widths[i], state_widths[i + 1]) for i in range(layers))
        self.wy = nn.ModuleList(nn.Linear(ACTION_DIM, widths[i], bias=False) for i in range(layers + 1))
        self.wyu = nn.ModuleList(nn.Linear(state_widths[i], ACTION_DIM) for i in range(layers + 1))
        self.wc = nn.ModuleList(nn.Linear(state_widths[i], widths[i]) for i in range(layers + 1))
        # z-terms exist from layer 1 on: Wz_i maps widths[i-1] -> widths[i]
        self.wz_raw = nn.ParameterList(
            nn.Parameter(torch.empty(widths[i], widths[i - 1])) for i in range(1, layers + 1)
        )
        self.wzu = nn.ModuleList(nn.Linear(state_widths[i], widths[i - 1]) for i in range(1, layers + 1))
        for raw, width in zip(self.wz_raw, widths[:-1]):
            # softplus(raw) ~ 1 / width on average keeps the z-path's scale near one
            nn.init.normal_(raw, mean=float(np.log(np.expm1(1.0 / width))), std=0.1)

    def wz(self, i: int) -> torch.Tensor:
        """The non-negative weights of layer i (i >= 1) acting on z_i."""
        return F.softplus(self.wz_raw[i - 1])

    def state_features(self, normalised_obs: torch.Tensor) -> list[torch.Tensor]:
        features = [normalised_obs]
        for layer in self.state_layers:
            features.append(torch.relu(layer(features[-1])))
        return features

    def forward_normalised(self, normalised_obs: torch.Tensor, unit_actions: torch.Tensor) -> torch.Tensor:
        u = self.state_features(normalised_obs)
        z = None
        for i in range(self.layers + 1):
            pre = self.wy[i](unit_actions * self.wyu[i](u[i])) + self.wc[i](u[i])
            if i > 0:
                m = torch.relu(self.wzu[i - 1](u[i]))
                pre = pre + (z * m) @ self.wz(i).T
            z = exact_softplus(pre) if i < self.layers else pre
        return z.squeeze(-1)

    def forward(self, observations: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        dtype = self.normaliser.observation_mean.dtype
        observations = torch.as_tensor(observations, dtype=dtype)
        actions = torch.as_tensor(actions, dtype=dtype)
        return self.forward_normalised(self.normaliser.observations(observations), self.normaliser.to_unit(actions))

    @torch.no_grad()
    def export(self) -> dict[str, list | np.ndarray]:
        """Float64 numpy copies of every weight, for :mod:`cstr.safety.correction`."""

        def numpy(t):
            return t.detach().double().numpy().copy()

        return {
            "observation_mean": numpy(self.normaliser.observation_mean),
            "observation_std": numpy(self.normaliser.observation_std),
            "action_low": numpy(self.normaliser.action_low),
            "action_high": numpy(self.normaliser.action_high),
            "state": [(numpy(layer.weight), numpy(layer.bias)) for layer in self.state_layers],
            "wy": [numpy(layer.weight) for layer in self.wy],
            "wyu": [(numpy(layer.weight), numpy(layer.bias)) for layer in self.wyu],
            "wc": [(numpy(layer.weight), numpy(layer.bias)) for layer in self.wc],
            "wz": [numpy(self.wz(i)) for i in range(1, self.layers + 1)],
            "wzu": [(numpy(layer.weight), numpy(layer.bias)) for layer in self.wzu],
        }

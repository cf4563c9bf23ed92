"""A diagnostic controller: minimise the NARX model's own cost by search, no PICNN, no policy.

The corrected controllers descend a PICNN that was **distilled** from a NARX
model's cost (:mod:`cstr.safety.cost_model`). When they fail, two causes
are possible: the NARX model's cost (and the bias estimate fed to it) is
wrong, or the distillation is. :class:`ModelCostMinimiser` separates them:
at every step it minimises the NARX cost ``C_L(h, b, a)`` itself over the
input box, by a coarse grid and a finer one around its best point, with the
same output bias ``b`` (:mod:`cstr.safety.offset_free`) the offset-free
correction uses. It reads only what a plant measures, so it is deployable
in principle, but it is neither convex nor cheap (a few hundred NARX
rollouts per step), and it is not the paper's method: a control for
chapter 8, named as such (``narx-search``).
"""

from __future__ import annotations

import numpy as np
import torch

from cstr.envs import core
from cstr.safety.history import HistoryBuffer


class ModelCostMinimiser:
    """``argmin_a C_L(h, b, a)`` of a NARX model by a ``coarse`` x ``coarse`` grid, then ``fine`` x ``fine``
    points spanning one coarse cell on each side of its best point.

    ``bias_estimator``: a :class:`cstr.safety.offset_free.BiasEstimator` (``None``: b = 0);
    ``horizon``, ``discount``, ``limit_weight``: the cost's, as the offset-free cost model was trained with.
    """

    def __init__(
        self,
        dynamics,
        horizon: int = 6,
        discount: float = 0.97,
        limit_weight: float = 10.0,
        bias_estimator=None,
        coarse: int = 21,
        fine: int = 11,
        name: str = "narx-search",
    ):
        if coarse < 2 or fine < 2:
            raise ValueError(f"the grids need at least 2 points per input, got coarse={coarse}, fine={fine}")
        self.dynamics = dynamics.eval()
        self.horizon, self.discount, self.limit_weight = int(horizon), float(discount), float(limit_weight)
        self.bias_estimator = bias_estimator
        self.history = HistoryBuffer(dynamics.window)
        space = core.action_space()
        self.low, self.high = space.low.astype(np.float64), space.high.astype(np.float64)
        self.coarse, self.fine = int(coarse), int(fine)
        self.cell = (self.high - self.low) / (self.coarse - 1)
        self.name = name
        self.last_bias = None

    def reset(self, rows=None) -> None:
        self.history.reset(rows)
        if self.bias_estimator is not None:
            self.bias_estimator.reset(rows)

    def _grid(self, centres, half_width, points):
        """``[n, points^2, 2]`` candidates around ``centres`` ``[n, 2]``, clipped to the box."""
        offsets = np.linspace(-1.0, 1.0, points)
        first, second = np.meshgrid(offsets, offsets, indexing="ij")
        unit = np.stack([first.ravel(), second.ravel()], axis=1)
        return np.clip(centres[:, None, :] + unit[None] * half_width, self.low, self.high)

    def _best(self, features, bias, candidates):
        n, m, _ = candidates.shape
        with torch.no_grad():
            cost = self.dynamics.tracking_cost(
                torch.as_tensor(np.repeat(features, m, axis=0), dtype=torch.float32),
                torch.as_tensor(candidates.reshape(n * m, 2), dtype=torch.float32),
                self.horizon,
                self.discount,
                self.limit_weight,
                output_bias=torch.as_tensor(np.repeat(bias, m, axis=0), dtype=torch.float32),
            )
        best = cost.reshape(n, m).argmin(dim=1).numpy()
        return candidates[np.arange(n), best]

    def act(self, obs) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        batch = np.atleast_2d(obs)
        features = self.history.push(batch)
        bias = np.zeros((len(batch), 2))
        if self.bias_estimator is not None:
            bias = self.bias_estimator.update(batch, features)
        self.last_bias = bias
        centre = (self.low + self.high) / 2.0
        whole_box = self._grid(np.tile(centre, (len(batch), 1)), centre - self.low, self.coarse)
        coarse = self._best(features, bias, whole_box)
        action = self._best(features, bias, self._grid(coarse, self.cell, self.fine))
        return action[0] if obs.ndim == 1 else action

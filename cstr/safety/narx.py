"""A dynamics model on what a plant measures (NARX), and the cost it predicts, the 360 K limit included.

The deployable cost model (:mod:`cstr.safety.cost_model`, target ``"narx"``)
needs to know what an action does, from the plant historian's records alone:
polymer, temperature, setpoints and applied inputs. Initiator, radicals and
monomer are not measured; their effect shows in how the measured quantities
have been moving, so the model reads a window of recent observations
(:mod:`cstr.safety.history`), a nonlinear autoregressive model with
exogenous inputs (NARX)::

    (P, T)_{t+1} = (P, T)_t + diag(sigma) f_theta( standardised h_t, unit(a_t) ) + mu

an MLP ``f_theta`` predicting the standardised change of polymer and
temperature over one 30-minute interval. Rolling it forward appends the
predicted observation (the new P and T, their errors to the unchanged
setpoint, and the applied input) to the window, so it runs on its own
predictions for as long as asked. It is trained on exactly that: rollouts
of ``rollout_steps`` intervals along the logged episodes, with the logged
inputs, fitted to the logged measurements (a one-step fit alone drifts
when fed its own predictions).

:meth:`NARXModel.tracking_cost` holds one action for ``horizon`` intervals
and adds up, discounted, the reward's squared normalised setpoint errors
**and a limit term**::

    C_L(h, a) = sum_{k=1..L} gamma^{k-1} [ ((P* - P_k)/s_P)^2 + ((T* - T_k)/s_T)^2
                                           + w_lim * max(0, T_k - (T_max - m))^2 / m^2 ]

with ``T_max`` = 360 K and ``m`` = :data:`cstr.data.dataset.NEAR_LIMIT_MARGIN`:
zero wherever the predicted temperature stays more than ``m`` below the
limit (so it changes nothing far from it), and ``w_lim`` per step at the
limit itself, steeply rising beyond. The tracking terms alone would accept a
hot transient that ends on the setpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm  # text bars: tqdm.auto wants ipywidgets in a notebook

from cstr.agents.nn import LossLog, mlp, register_float_buffers, seed_everything, to_unit_box
from cstr.data.dataset import NEAR_LIMIT_MARGIN
from cstr.envs import core
from cstr.plant.scenarios import TEMPERATURE_LIMIT
from cstr.safety.history import OBS_DIM, episode_starts, history_features

ACTION_DIM = 2
MEASURED = (0, 1)
"""Columns of the observation the model predicts: polymer and temperature."""
TRAINING_INPUTS = ("observations", "next_observations", "actions", "episode_ids", "terminations")
"""The dataset fields :func:`train` reads, all of them in a plant historian's records."""


@dataclass
class NARXConfig:
    """Hyperparameters of the NARX model and its training."""

    window: int = 8  # W, observations in the history (4 h)
    hidden: tuple[int, ...] = (256, 256)
    learning_rate: float = 1e-3
    batch_size: int = 512
    num_updates: int = 10_000
    rollout_steps: int = 6  # the training loss follows the model's own predictions this far
    validation_fraction: float = 0.1
    seed: int = 0
    log_every: int = 500


def limit_penalty(temperatures: torch.Tensor) -> torch.Tensor:
    """``max(0, T - (T_max - m))^2 / m^2``: 0 more than ``m`` below the limit, 1 at the limit."""
    excess = torch.relu(temperatures - (TEMPERATURE_LIMIT - NEAR_LIMIT_MARGIN))
    return (excess / NEAR_LIMIT_MARGIN) ** 2


class NARXModel(nn.Module):
    """``(P, T)_{t+1} = model(h_t [n, 6W], a_t [n, 2])``, physical units."""

    def __init__(self, feature_mean, feature_std, delta_mean, delta_std, window: int, hidden=(256, 256)):
        super().__init__()
        space = core.action_space()
        register_float_buffers(
            self,
            feature_mean=feature_mean,
            feature_std=feature_std,
            delta_mean=delta_mean,
            delta_std=delta_std,
            action_low=space.low,
            action_high=space.high,
        )
        self.window = int(window)
        self.hidden = tuple(hidden)
        self.net = mlp(OBS_DIM * self.window + ACTION_DIM, len(MEASURED), self.hidden)

    def standardised_change(self, features: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        unit = to_unit_box(actions, self.action_low, self.action_high)
        return self.net(torch.cat([(features - self.feature_mean) / self.feature_std, unit], dim=-1))

    def step(self, features: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``h_{t+1}`` from ``h_t`` and ``a_t``: the predicted observation prepended, the oldest dropped."""
        newest = features[:, :OBS_DIM]
        measured = newest[:, 0:2] + self.standardised_change(features, actions) * self.delta_std + self.delta_mean
        setpoints = newest[:, 0:2] + newest[:, 2:4]
        observation = torch.cat([measured, setpoints - measured, actions], dim=1)
        return torch.cat([observation, features[:, : OBS_DIM * (self.window - 1)]], dim=1)

    def forward(self, features, actions) -> torch.Tensor:
        """Predicted (P, T) after one interval, ``[n, 2]`` (in the model's float type)."""
        features = torch.as_tensor(features, dtype=self.feature_mean.dtype)
        actions = torch.as_tensor(actions, dtype=self.feature_mean.dtype)
        return self.step(features, actions)[:, 0:2]

    def rollout(self, features, actions, horizon: int) -> torch.Tensor:
        """Predicted (P, T) ``[n, horizon, 2]`` holding ``actions [n, 2]``, or following ``actions [n, horizon, 2]``."""
        features = torch.as_tensor(features, dtype=torch.float32)
        actions = torch.as_tensor(actions, dtype=torch.float32)
        predicted = []
        for k in range(horizon):
            features = self.step(features, actions if actions.dim() == 2 else actions[:, k])
            predicted.append(features[:, 0:2])
        return torch.stack(predicted, dim=1)

    def tracking_cost(
        self,
        features,
        actions,
        horizon: int = 6,
        discount: float = 0.97,
        limit_weight: float = 0.0,
        output_bias=None,
    ) -> torch.Tensor:
        """``C_L(h, a)``: the discounted setpoint errors and limit term over ``horizon`` intervals holding ``actions``.

        ``output_bias`` ``[n, 2]`` (polymer kg/m3, temperature K), when given,
        is added to every predicted (P, T) in the setpoint errors, **not** in
        the limit term: it moves where the cost aims
        (:mod:`cstr.safety.offset_free`), and a bias integrated from a
        controller that holds the reactor below its grade must not make the
        limit look further away than the model predicts it. Differentiable
        in ``actions``.
        """
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1 interval, got {horizon}")
        features = torch.as_tensor(features, dtype=torch.float32)
        setpoints = features[:, 0:2] + features[:, 2:4]
        predicted = self.rollout(features, actions, horizon)
        aimed = predicted
        if output_bias is not None:
            aimed = predicted + torch.as_tensor(output_bias, dtype=torch.float32)[:, None, :]
        weights = discount ** torch.arange(horizon, dtype=torch.float32)
        errors = ((setpoints[:, None, 0] - aimed[..., 0]) / core.POLYMER_SCALE) ** 2 + (
            (setpoints[:, None, 1] - aimed[..., 1]) / core.TEMPERATURE_SCALE
        ) ** 2
        if limit_weight:
            errors = errors + limit_weight * limit_penalty(predicted[..., 1])
        return (errors * weights).sum(1)

    def predicted_peak_temperature(self, features, actions, horizon: int = 6) -> np.ndarray:
        """The hottest predicted temperature over ``horizon`` intervals holding ``actions`` [K]."""
        with torch.no_grad():
            return self.rollout(features, actions, horizon)[..., 1].amax(1).double().numpy()


@dataclass
class NARXResult:
    model: NARXModel
    config: NARXConfig
    history: dict = field(default_factory=dict)


def rollout_windows(data: dict[str, np.ndarray], steps: int) -> np.ndarray:
    """``[m, steps]`` row indices of every stretch of ``steps`` consecutive transitions of one episode
    that does not end early (a terminated transition may end at a solver failure, not a plant state)."""
    starts = episode_starts(data["episode_ids"])
    ended = np.asarray(data["terminations"], dtype=bool)
    rows = np.arange(len(starts) - steps + 1)[:, None] + np.arange(steps)[None, :]
    crosses = np.any(starts[rows[:, 1:]], axis=1)
    return rows[~crosses & ~np.any(ended[rows], axis=1)]


def train(data: dict[str, np.ndarray], config: NARXConfig = NARXConfig(), progress: bool = True) -> NARXResult:
    """Fit the NARX model to the logged measurements of ``data`` (fields :data:`TRAINING_INPUTS`)."""
    missing = [key for key in TRAINING_INPUTS if key not in data]
    if missing:
        raise ValueError(
            f"the NARX model needs the dataset fields {', '.join(missing)}; load them with training_arrays()"
        )
    generator = seed_everything(config.seed)
    observations = np.asarray(data["observations"], dtype=np.float64)
    next_observations = np.asarray(data["next_observations"], dtype=np.float64)
    features = history_features(observations, data["episode_ids"], config.window)
    windows = rollout_windows(data, config.rollout_steps)
    if len(windows) < 100:
        raise ValueError(
            f"only {len(windows)} stretches of {config.rollout_steps} transitions to train the NARX model on"
        )
    changes = next_observations[:, 0:2] - observations[:, 0:2]
    model = NARXModel(
        features.mean(0),
        features.std(0) + 1e-6,
        changes.mean(0),
        changes.std(0) + 1e-9,
        config.window,
        config.hidden,
    )
    h = torch.as_tensor(features, dtype=torch.float32)
    a = torch.as_tensor(data["actions"], dtype=torch.float32)
    measured_next = torch.as_tensor(next_observations[:, 0:2], dtype=torch.float32)
    stretches = torch.as_tensor(windows)
    order = torch.randperm(len(stretches), generator=generator)
    held_out = stretches[order[: int(config.validation_fraction * len(stretches))]]
    fitted = stretches[order[len(held_out) :]]

    def loss_of(rows):
        predicted = model.rollout(h[rows[:, 0]], a[rows], config.rollout_steps)
        return (((predicted - measured_next[rows]) / model.delta_std) ** 2).mean()

    optimiser = torch.optim.Adam(model.net.parameters(), lr=config.learning_rate, foreach=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.num_updates)
    log = LossLog(["loss"], config.log_every, config.num_updates)
    validation = []
    steps = tqdm(range(1, config.num_updates + 1), desc="NARX", disable=not progress, mininterval=1.0)
    for step in steps:
        rows = fitted[torch.randint(0, len(fitted), (config.batch_size,), generator=generator)]
        loss = loss_of(rows)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if log.add(step, loss=loss.item()):
            with torch.no_grad():
                validation.append(float(loss_of(held_out)))
            steps.set_postfix(validation=f"{validation[-1]:.2e}")
    return NARXResult(model.eval(), config, log.history | {"validation_loss": validation})

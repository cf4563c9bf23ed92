"""A dynamics model learned from the logged transitions, and the tracking cost it predicts.

The cost model's ``"model"`` target (:mod:`cstr.safety.cost_model`) needs to know
what an action *does*, something neither the logged actions nor a critic
trained on them pins down: the PI controllers that wrote the data chose
their actions from the state, so along the data the action and the state
move together, and a critic can credit the action with the state's effect
(chapter 5 shows IQL's critic preferring another jacket temperature even
at the steady state of a grade). A one-step model of the plant's response does
not have that problem when its input is the **full state**: given the
state, the next state depends on the action alone, whatever chose it, and
the randomised PI tunings move the action around each state enough to
identify the response.

The datasets log the full physical state (``states``/``next_states``: A, I,
R, P, T) beside the observation, so the model is trained on it:

    x_{t+1} = x_t + diag(sigma_d) f_theta( (x_t - mu_x) / sigma_x, unit(a_t) ) + mu_d

an MLP ``f_theta`` on the standardised state and the action in [-1, 1]
that predicts the standardised state change over one 30-minute interval.
The model is used only to compute training targets offline; the deployed
cost, and so the correction, see the observation alone.

:meth:`DynamicsModel.tracking_cost` rolls the model forward holding one
action for ``horizon`` intervals (the look-ahead L) and adds up the
reward's squared, normalised setpoint errors along the way, discounted:

    C_L(x, a) = sum_{k=1..L} gamma^{k-1} [ ((P* - P_k) / 40)^2 + ((T* - T_k) / 10)^2 ].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm  # text bars: tqdm.auto wants ipywidgets in a notebook

from cstr.agents.nn import LossLog, mlp, register_float_buffers, seed_everything, to_unit_box
from cstr.envs import core

STATE_DIM = 5
ACTION_DIM = 2


@dataclass
class DynamicsConfig:
    """Hyperparameters of the dynamics model and its training."""

    hidden: tuple[int, ...] = (256, 256)
    learning_rate: float = 1e-3
    batch_size: int = 512
    num_updates: int = 10_000
    validation_fraction: float = 0.1  # rows held out to report a validation loss
    seed: int = 0
    log_every: int = 500


class DynamicsModel(nn.Module):
    """``next_states = model(states[n, 5], actions[n, 2])`` over one control interval, physical units."""

    def __init__(self, state_mean, state_std, delta_mean, delta_std, hidden: tuple[int, ...] = (256, 256)):
        super().__init__()
        space = core.action_space()
        register_float_buffers(
            self,
            state_mean=state_mean,
            state_std=state_std,
            delta_mean=delta_mean,
            delta_std=delta_std,
            action_low=space.low,
            action_high=space.high,
        )
        self.hidden = tuple(hidden)
        self.net = mlp(STATE_DIM + ACTION_DIM, STATE_DIM, self.hidden)

    def standardised_change(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        unit = to_unit_box(actions, self.action_low, self.action_high)
        return self.net(torch.cat([(states - self.state_mean) / self.state_std, unit], dim=-1))

    def forward(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        states = torch.as_tensor(states, dtype=torch.float32)
        actions = torch.as_tensor(actions, dtype=torch.float32)
        return states + self.standardised_change(states, actions) * self.delta_std + self.delta_mean

    def tracking_cost(self, states, actions, setpoints, horizon: int = 3, discount: float = 0.97) -> torch.Tensor:
        """``C_L``: the discounted squared setpoint errors over ``horizon`` intervals holding ``actions``.

        ``setpoints[n, 2]`` are (P*, T*). Differentiable in ``actions``.
        """
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1 interval, got {horizon}")
        states = torch.as_tensor(states, dtype=torch.float32)
        setpoints = torch.as_tensor(setpoints, dtype=torch.float32)
        cost = torch.zeros(states.shape[0], dtype=torch.float32)
        for k in range(horizon):
            states = self(states, actions)
            cost = cost + discount**k * (
                ((setpoints[:, 0] - states[:, 3]) / core.POLYMER_SCALE) ** 2
                + ((setpoints[:, 1] - states[:, 4]) / core.TEMPERATURE_SCALE) ** 2
            )
        return cost


@dataclass
class DynamicsResult:
    model: DynamicsModel
    config: DynamicsConfig
    history: dict = field(default_factory=dict)


def transitions(data: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """States, actions and next states of every transition that did not end its episode early.

    A terminated transition ends at the temperature limit or at a solver
    failure; the latter's next state is not a state of the plant.
    """
    keep = ~np.asarray(data["terminations"], dtype=bool)
    return (np.asarray(data["states"])[keep], np.asarray(data["actions"])[keep], np.asarray(data["next_states"])[keep])


def train(
    data: dict[str, np.ndarray], config: DynamicsConfig = DynamicsConfig(), progress: bool = True
) -> DynamicsResult:
    """Fit the one-step model to the logged full-state transitions of ``data``."""
    states, actions, next_states = transitions(data)
    if len(states) < 100:
        raise ValueError(f"only {len(states)} usable transitions; the dynamics model needs the datasets' states")
    generator = seed_everything(config.seed)
    changes = next_states - states
    # per-state floors: the radical concentration changes by ~1e-8 mol/m3 per interval
    model = DynamicsModel(
        states.mean(0), states.std(0) + 1e-12, changes.mean(0), changes.std(0) + 1e-15, hidden=config.hidden
    )
    s = torch.as_tensor(states, dtype=torch.float32)
    a = torch.as_tensor(actions, dtype=torch.float32)
    with torch.no_grad():
        target = (torch.as_tensor(changes, dtype=torch.float32) - model.delta_mean) / model.delta_std
    order = torch.randperm(len(s), generator=generator)
    held_out = order[: int(config.validation_fraction * len(s))]
    fitted = order[len(held_out) :]
    optimiser = torch.optim.Adam(model.net.parameters(), lr=config.learning_rate, foreach=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.num_updates)
    log = LossLog(["loss"], config.log_every, config.num_updates)
    validation = {"step": [], "validation_loss": []}
    steps = tqdm(range(1, config.num_updates + 1), desc="dynamics", disable=not progress, mininterval=1.0)
    for step in steps:
        rows = fitted[torch.randint(0, len(fitted), (config.batch_size,), generator=generator)]
        loss = ((model.standardised_change(s[rows], a[rows]) - target[rows]) ** 2).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if log.add(step, loss=loss.item()):
            with torch.no_grad():
                error = ((model.standardised_change(s[held_out], a[held_out]) - target[held_out]) ** 2).mean()
            validation["step"].append(step)
            validation["validation_loss"].append(float(error))
            steps.set_postfix(validation=f"{float(error):.2e}")
    history = log.history | {"validation_loss": validation["validation_loss"]}
    return DynamicsResult(model.eval(), config, history)

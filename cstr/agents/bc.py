"""Behaviour cloning: regress the dataset's actions on its observations.

Background. Behaviour cloning treats the offline data as demonstrations and
fits a deterministic policy by supervised learning. It needs no reward and no
value function, and it can be no better than the average behaviour in the
data: here a mixture of PI controllers with sluggish, good and aggressive
tunings.

Key equation (actions normalised to [-1, 1], observations standardised)::

    L(phi) = E_{(s, a) ~ D} || pi_phi(s) - a ||^2,   pi_phi(s) = tanh(f_phi(s))

Pseudocode::

    for step = 1..num_updates:
        sample a minibatch (s, a) from D
        phi <- phi - lr * grad_phi  mean ||pi_phi(s) - a||^2        (Adam)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm import tqdm  # text bars: tqdm.auto wants ipywidgets in a notebook

from cstr.agents.increments import check_parameterisation, increment_box, to_increments
from cstr.agents.nn import DeterministicPolicy, LossLog, Normaliser, seed_everything

TRAINING_INPUTS = ("observations", "actions")
"""The dataset fields :func:`train` reads."""


@dataclass
class BCConfig:
    """Hyperparameters of behaviour cloning."""

    hidden_dims: tuple[int, ...] = (256, 256)
    learning_rate: float = 1e-3
    batch_size: int = 256
    num_updates: int = 20_000
    seed: int = 0
    log_every: int = 500
    action_parameterisation: str = "absolute"  # or "increments" (cstr.agents.increments)


@dataclass
class BCResult:
    policy: DeterministicPolicy
    config: BCConfig
    history: dict = field(default_factory=dict)


def train(data: dict[str, np.ndarray], config: BCConfig = BCConfig(), progress: bool = True) -> BCResult:
    """Fit the policy to ``data["observations"]`` -> ``data["actions"]`` (or, with
    ``action_parameterisation="increments"``, to the actions' increments from the previous inputs)."""
    check_parameterisation(config.action_parameterisation)
    data = {key: data[key] for key in TRAINING_INPUTS}
    box = None
    if config.action_parameterisation == "increments":
        data, box = to_increments(data), increment_box()
    generator = seed_everything(config.seed)
    observations = torch.as_tensor(data["observations"], dtype=torch.float32)
    actions = torch.as_tensor(data["actions"], dtype=torch.float32)
    policy = DeterministicPolicy(Normaliser.from_data(data["observations"], box), tuple(config.hidden_dims))
    targets = policy.normaliser.to_unit(actions)
    optimiser = torch.optim.Adam(policy.net.parameters(), lr=config.learning_rate)
    log = LossLog(["loss"], config.log_every, config.num_updates)
    steps = tqdm(range(1, config.num_updates + 1), desc="BC", disable=not progress, mininterval=1.0)
    for step in steps:
        rows = torch.randint(0, observations.shape[0], (config.batch_size,), generator=generator)
        loss = ((policy.unit_action(observations[rows]) - targets[rows]) ** 2).sum(dim=1).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        means = log.add(step, loss=loss.item())
        if means:
            steps.set_postfix(loss=f"{means['loss']:.4f}")
    return BCResult(policy.eval(), config, log.history)


def config_to_dict(config: BCConfig) -> dict:
    values = asdict(config)
    values["hidden_dims"] = list(config.hidden_dims)
    return values


def build_policy(config: dict) -> DeterministicPolicy:
    """An untrained policy of the shape ``config`` describes (weights loaded afterwards)."""
    return DeterministicPolicy(Normaliser(np.zeros(6), np.ones(6)), tuple(config["hidden_dims"]))

"""Training the PICNN cost model from the offline data alone: four candidate targets.

The paper's exact training target is not available to us, so four honest
candidates are implemented; chapter 5 compares them and the shipped model
uses the one the evidence (validation seeds, :func:`select`) favours. None
touches the plant.

``"model"``
    Distil the tracking cost that a learned dynamics model predicts
    (:mod:`cstr.safety.dynamics`): ``C_L(x, a)``, the discounted squared setpoint
    errors over L intervals while holding ``a``, from the logged full state
    ``x``. The PICNN, which sees only the observation, is regressed on
    ``C_L(x, a) - C_L(x, a_data)`` **and its action gradient** (Sobolev
    training: the gradient is what a correction follows). Each sample's
    gradient error is weighted by ``1 / (|grad|^2 + floor)``, so the small
    slopes near the grade, which decide the steady-state offset, are fitted
    as closely, relatively, as the large ones of the transients. Actions
    are sampled around the dataset's and around the proposals of the
    policies it will correct (BC's and IQL's; a correction starts there),
    perturbed by Gaussian noise of several scales, and uniformly over the
    box. Needs no critic.

``"distill"``
    Distil IQL's critic (:mod:`cstr.agents.iql`): regress ``c(s, a)`` on
    ``-(Q(s, a) - V(s))``, the negative advantage of the target twin-Q
    minimum, at the dataset's actions, at the dataset's actions perturbed by
    Gaussian noise, and at uniformly drawn actions.

``"td"``
    A convex critic trained with IQL's TD loss: regress ``c(s, a)`` on
    ``-(r + gamma (1 - d) V(s'))`` with IQL's expectile value V, at the
    dataset's actions only. Convexity alone decides how it extrapolates.

``"reward"``
    The one-step cost ``-r`` at the dataset's actions: the myopic baseline.

Targets are standardised (divided by their standard deviation over the
data, the critic targets also centred), so the step size of the correction
has one meaning for all.

This module is a little over 400 lines because the four targets share one
training loop, its sampling and its standardisation; splitting them would
spread one algorithm over several files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from cstr import storage
from cstr.agents.nn import LossLog, Normaliser, seed_everything
from cstr.agents.policy import load_agent, load_policy_controller
from cstr.agents.weights import load_sidecar, weight_files
from cstr.data.dataset import training_arrays
from cstr.safety.dynamics import DynamicsConfig, DynamicsModel, DynamicsResult
from cstr.safety.dynamics import train as train_dynamics
from cstr.safety.picnn import PICNN
from cstr.seeds import check_training_seed

TARGETS = ("model", "distill", "td", "reward")
AGENT_TARGETS = ("distill", "td", "reward")  # the targets that read the IQL agent


@dataclass
class CostModelConfig:
    """Hyperparameters of the cost model and its training."""

    target: str = "model"
    hidden: int = 64
    layers: int = 2
    state_hidden: int = 64
    learning_rate: float = 1e-3
    batch_size: int = 256
    num_updates: int = 16_000
    perturbation_std: float = 0.2  # normalised action units
    uniform_fraction: float = 0.25  # share of uniformly drawn actions ("distill")
    perturbed_fraction: float = 0.5  # share of perturbed dataset actions ("distill")
    seed: int = 0
    log_every: int = 250
    # the "model" target
    horizon: int = 6  # H, control intervals the action is held (3 h)
    discount: float = 0.97
    gradient_weight: float = 1.0  # weight of the action-gradient term of the loss
    gradient_floor: float = 0.02  # of the mean squared slope: below it, a slope's error counts in absolute terms
    noise_scales: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2)  # perturbations of the dataset's actions
    dynamics_updates: int = 10_000


@dataclass
class CostModelResult:
    model: PICNN
    config: CostModelConfig
    target_mean: float
    target_std: float
    history: dict = field(default_factory=dict)
    dynamics: DynamicsResult | None = None  # the "model" target's dynamics model


def _targets_distill(agent, s, a):
    with torch.no_grad():
        return -(agent.target_q(s, a) - agent.value(s))


def _targets_td(agent, s_next, r, d):
    with torch.no_grad():
        return -(r + agent.config.discount * (1.0 - d) * agent.value(s_next))


def train(
    agent,
    data: dict[str, np.ndarray],
    config: CostModelConfig = CostModelConfig(),
    reward_scale: float = 1.0,
    progress: bool = True,
    dynamics: DynamicsResult | None = None,
    proposals: list[np.ndarray] | None = None,
) -> CostModelResult:
    """Fit a PICNN to ``config.target``.

    ``agent`` is the trained IQL agent the critic targets read (``None`` is
    fine for ``"model"``). For ``"model"``: ``dynamics``, a trained dynamics
    model (trained here, with the same seed, when ``None``), and
    ``proposals``, the actions [n, 2] of each policy to be corrected at the
    dataset's observations (row for row), around which actions are sampled
    too.
    """
    if config.target not in TARGETS:
        raise ValueError(f"unknown cost-model target {config.target!r}; choose one of {', '.join(TARGETS)}")
    if config.target == "model":
        return _train_on_model(data, config, progress, dynamics, proposals or [])
    if agent is None:
        raise ValueError(f"the {config.target!r} target reads a trained IQL agent; pass one (or use 'model')")
    generator = seed_everything(config.seed)
    normaliser = agent.normaliser
    with torch.no_grad():
        s_all = normaliser.observations(torch.as_tensor(data["observations"], dtype=torch.float32))
        s_next_all = normaliser.observations(torch.as_tensor(data["next_observations"], dtype=torch.float32))
        a_all = normaliser.to_unit(torch.as_tensor(data["actions"], dtype=torch.float32))
        r_all = torch.as_tensor(data["rewards"] * reward_scale, dtype=torch.float32)
        d_all = torch.as_tensor(data["terminations"], dtype=torch.float32)
        if config.target == "distill":
            reference = _targets_distill(agent, s_all, a_all)
        elif config.target == "td":
            reference = _targets_td(agent, s_next_all, r_all, d_all)
        else:
            reference = -r_all
    target_mean, target_std = float(reference.mean()), float(reference.std().clamp_min(1e-8))

    model = PICNN(
        Normaliser(normaliser.observation_mean, normaliser.observation_std),
        hidden=config.hidden,
        layers=config.layers,
        state_hidden=config.state_hidden,
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate, foreach=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.num_updates)
    log = LossLog(["loss"], config.log_every, config.num_updates)
    steps = tqdm(
        range(1, config.num_updates + 1), desc=f"PICNN ({config.target})", disable=not progress, mininterval=1.0
    )
    n_perturbed = int(round(config.perturbed_fraction * config.batch_size))
    n_uniform = int(round(config.uniform_fraction * config.batch_size))
    for step in steps:
        rows = torch.randint(0, s_all.shape[0], (config.batch_size,), generator=generator)
        s, a = s_all[rows], a_all[rows].clone()
        if config.target == "distill":
            noise = torch.randn(n_perturbed, 2, generator=generator) * config.perturbation_std
            a[:n_perturbed] = (a[:n_perturbed] + noise).clamp(-1.0, 1.0)
            uniform = torch.rand(n_uniform, 2, generator=generator) * 2.0 - 1.0
            a[n_perturbed : n_perturbed + n_uniform] = uniform
            target = _targets_distill(agent, s, a)
        else:
            target = reference[rows]
        target = (target - target_mean) / target_std
        loss = ((model.forward_normalised(s, a) - target) ** 2).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        means = log.add(step, loss=loss.item())
        if means:
            steps.set_postfix(loss=f"{means['loss']:.4f}")
    return CostModelResult(model.eval(), config, target_mean, target_std, log.history)


def _model_targets(
    dynamics: DynamicsModel,
    normaliser: Normaliser,
    states,
    setpoints,
    data_actions,
    unit_actions,
    config: CostModelConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``C_L(x, a) - C_L(x, a_data)`` and its gradient in unit action coordinates."""
    unit = unit_actions.detach().clone().requires_grad_(True)
    cost = dynamics.tracking_cost(states, normaliser.from_unit(unit), setpoints, config.horizon, config.discount)
    (gradient,) = torch.autograd.grad(cost.sum(), unit)
    with torch.no_grad():
        baseline = dynamics.tracking_cost(states, data_actions, setpoints, config.horizon, config.discount)
    return (cost - baseline).detach(), gradient


def _train_on_model(
    data, config: CostModelConfig, progress: bool, dynamics: DynamicsResult | None, proposals: list[np.ndarray]
) -> CostModelResult:
    if "states" not in data:
        raise ValueError("the 'model' target needs the datasets' logged states; load them with training_arrays()")
    if dynamics is None:
        dynamics = train_dynamics(
            data, DynamicsConfig(seed=config.seed, num_updates=config.dynamics_updates), progress=progress
        )
    model_of_plant = dynamics.model
    for parameter in model_of_plant.parameters():
        parameter.requires_grad_(False)
    generator = seed_everything(config.seed)
    keep = ~np.asarray(data["terminations"], dtype=bool)
    observations = data["observations"][keep]
    normaliser = Normaliser.from_data(observations)
    obs = torch.as_tensor(observations, dtype=torch.float32)
    s_all = normaliser.observations(obs)
    x_all = torch.as_tensor(data["states"][keep], dtype=torch.float32)
    setpoints = obs[:, 0:2] + obs[:, 2:4]  # the observation carries P, T and the errors to the setpoint
    a_all = torch.as_tensor(data["actions"][keep], dtype=torch.float32)
    # centres of the sampled actions: the logged ones and each policy's proposals
    centres = torch.stack(
        [normaliser.to_unit(a_all)]
        + [normaliser.to_unit(torch.as_tensor(np.asarray(p)[keep], dtype=torch.float32)) for p in proposals]
    )
    scales = torch.as_tensor(config.noise_scales, dtype=torch.float32)
    n_uniform = int(round(config.uniform_fraction * config.batch_size))

    def draw(batch):
        rows = torch.randint(0, s_all.shape[0], (batch,), generator=generator)
        centre = centres[torch.randint(0, len(centres), (batch,), generator=generator), rows]
        noise = scales[torch.randint(0, len(scales), (batch, 1), generator=generator)]
        unit = (centre + noise * torch.randn(batch, 2, generator=generator)).clamp(-1.0, 1.0)
        uniform = min(n_uniform * batch // config.batch_size, batch)
        unit[:uniform] = torch.rand(uniform, 2, generator=generator) * 2.0 - 1.0
        return rows, unit

    rows, unit = draw(4096)  # the scale of the targets, from one large draw
    calibration, calibration_gradient = _model_targets(
        model_of_plant, normaliser, x_all[rows], setpoints[rows], a_all[rows], unit, config
    )
    target_std = float(calibration.std().clamp_min(1e-8))
    floor = config.gradient_floor * float((calibration_gradient / target_std).pow(2).sum(1).mean())

    model = PICNN(normaliser, hidden=config.hidden, layers=config.layers, state_hidden=config.state_hidden)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate, foreach=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.num_updates)
    log = LossLog(["loss", "value_loss", "gradient_loss"], config.log_every, config.num_updates)
    steps = tqdm(range(1, config.num_updates + 1), desc="PICNN (model)", disable=not progress, mininterval=1.0)
    for step in steps:
        rows, unit = draw(config.batch_size)
        target, target_gradient = _model_targets(
            model_of_plant, normaliser, x_all[rows], setpoints[rows], a_all[rows], unit, config
        )
        unit.requires_grad_(True)
        predicted = model.forward_normalised(s_all[rows], unit)
        (gradient,) = torch.autograd.grad(predicted.sum(), unit, create_graph=True)
        value_loss = ((predicted - target / target_std) ** 2).mean()
        # relative precision: near the grade the slopes are small, and they decide the offset
        weight = 1.0 / ((target_gradient / target_std).pow(2).sum(1) + floor)
        gradient_loss = (weight[:, None] / weight.mean() * (gradient - target_gradient / target_std) ** 2).mean()
        loss = value_loss + config.gradient_weight * gradient_loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        means = log.add(step, loss=loss.item(), value_loss=value_loss.item(), gradient_loss=gradient_loss.item())
        if means:
            steps.set_postfix(loss=f"{means['loss']:.4f}")
    return CostModelResult(model.eval(), config, 0.0, target_std, log.history, dynamics)


def train_cost_model(
    target: str = "model",
    updates: int | None = None,
    seed: int = 0,
    data_root=None,
    iql_root=None,
    iql_name: str = "iql",
    progress: bool = True,
    iql_result=None,
    dynamics_updates: int | None = None,
    policies=None,
):
    """Fit the PICNN cost model on the datasets (see :mod:`cstr.safety.cost_model`). The critic targets
    read an IQL agent: ``iql_result`` (a fresh :class:`cstr.agents.iql.IQLResult`) or else the
    shipped ``iql_name``. The ``"model"`` target samples actions around the proposals of
    ``policies`` (controllers with ``act``; default: the shipped BC and IQL), the ones it will correct."""
    check_training_seed(seed)
    agent, reward_scale = None, 1.0
    if target in AGENT_TARGETS:
        if iql_result is not None:
            agent, reward_scale = iql_result.agent, iql_result.reward_scale
        else:
            agent = load_agent(iql_name, iql_root)
            sidecar = load_sidecar(storage.data_root(iql_root) / weight_files(iql_name)[0])
            reward_scale = sidecar["config"]["reward_scale_used"]
    config = CostModelConfig(target=target, seed=seed)
    if updates is not None:
        config.num_updates = int(updates)
    if dynamics_updates is not None:
        config.dynamics_updates = int(dynamics_updates)
    data = training_arrays(root=data_root)
    proposals = None
    if target == "model":
        if policies is None:
            policies = [load_policy_controller(name, iql_root) for name in ("bc", "iql")]
        proposals = [policy.act(data["observations"]) for policy in policies]
    return train(agent, data, config, reward_scale=reward_scale, progress=progress, proposals=proposals)

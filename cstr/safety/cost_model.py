"""Training the PICNN cost model from the offline data alone: the candidate targets.

The paper's exact training target is not available to us, so several
honest candidates are implemented; chapter 5 compares them and the shipped
model uses the deployable target the evidence (validation seeds,
:func:`cstr.experiments.selection.select`) favours. None touches the plant.
Every target records the dataset fields its training read
(:func:`training_inputs`); its ``train`` sees only those.

**Deployable targets** (what a plant historian logs: observations, their
history, inputs, rewards):

``"narx"``
    Distil the cost that a learned NARX model predicts
    (:mod:`cstr.safety.narx`): ``C_L(h, a)``, the discounted squared setpoint
    errors over L intervals holding ``a``, plus the limit term, from the
    window ``h`` of recent observations (:mod:`cstr.safety.history`). The
    PICNN reads the same window. It is regressed on
    ``C_L(h, a) - C_L(h, a_data)`` **and its action gradient** (Sobolev
    training: the gradient is what a correction follows). Each sample's
    gradient error is weighted by ``1 / (|grad|^2 + floor)``, so the small
    slopes near the grade, which decide the steady-state offset, are fitted
    as closely, relatively, as the large ones of the transients. Actions
    are sampled around the dataset's and around the proposals of the
    policies it will correct (BC's and IQL's; a correction starts there),
    perturbed by Gaussian noise of several scales, and uniformly over the
    box.

    With ``offset_free=True`` the cost also reads an **output bias** b
    (polymer, temperature) added to every prediction,
    ``C_L(h, b, a)``, and the PICNN reads ``(h, b)`` on its state path;
    b is sampled in training (zero, small and over ``bias_range``). A
    deployed controller feeds it an estimate that makes the correction
    offset-free (:mod:`cstr.safety.offset_free`).

``"td-history"``
    A convex critic on the same window, learnt from the data alone with
    IQL's two regressions: ``c(h, a)`` on ``-(r + gamma (1 - d) V(h'))`` at
    the dataset's actions, and ``V(h)`` as the upper expectile of ``-c``.
    It has the NARX target's information and no model: the control that
    separates "model-based" from "more information".

``"distill"``
    Distil IQL's critic (:mod:`cstr.agents.iql`): regress ``c(s, a)`` on
    ``-(Q(s, a) - V(s))``, the negative advantage of the target twin-Q
    minimum, at the dataset's actions, perturbed ones and uniform ones.

``"td"``
    A convex critic trained with IQL's TD loss on the observation:
    ``c(s, a)`` on ``-(r + gamma (1 - d) V(s'))`` with IQL's expectile value V.

``"reward"``
    The one-step cost ``-r`` at the dataset's actions: the myopic baseline.

**Ablation** (simulator-only information, never shipped as ``bc+``/``iql+``):

``"full-state-model"``
    As ``"narx"``, but the dynamics model (:mod:`cstr.safety.dynamics`) is
    trained on, and the cost computed from, the logged **full state**
    (A, I, R, P, T), which no plant measures online. The PICNN reads the
    observation.

Targets are standardised (divided by their standard deviation over the
data, the critic targets also centred), so the step size of the correction
has one meaning for all.

The module is long because the targets share one training loop, its
sampling and its standardisation; splitting them would spread one
algorithm over several files.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm  # text bars: tqdm.auto wants ipywidgets in a notebook

from cstr import storage
from cstr.agents import bc, iql
from cstr.agents.nn import LossLog, Normaliser, mlp, seed_everything
from cstr.agents.policy import load_agent, load_policy_controller
from cstr.agents.weights import load_sidecar, weight_files
from cstr.data.dataset import training_arrays
from cstr.safety import narx
from cstr.safety.dynamics import DynamicsConfig, DynamicsResult
from cstr.safety.dynamics import train as train_dynamics
from cstr.safety.history import history_features, next_history_features
from cstr.safety.picnn import PICNN
from cstr.seeds import check_training_seed

DEPLOYABLE_TARGETS = ("narx", "td-history", "distill", "td", "reward")
"""Targets trained on what a plant historian logs; only these may be shipped as ``bc+``/``iql+``."""
ABLATION_TARGETS = ("full-state-model",)
"""Targets that read simulator-only information (the full state): ablations."""
TARGETS = DEPLOYABLE_TARGETS + ABLATION_TARGETS
AGENT_TARGETS = ("distill", "td")
"""The targets that read a trained IQL agent."""
MODEL_TARGETS = ("narx", "full-state-model")
"""The targets that sample actions around the proposals of the policies they will correct."""
HISTORY_TARGETS = ("narx", "td-history")
"""The targets whose PICNN reads a window of observations (``CostModelConfig.window``), not one."""
FULL_STATE_FIELDS = ("states", "next_states")
"""Dataset fields no plant measures online."""

_OWN_INPUTS = {
    "narx": narx.TRAINING_INPUTS,
    "td-history": (
        "observations",
        "next_observations",
        "actions",
        "rewards",
        "episode_ids",
        "terminations",
        "truncations",
    ),
    "distill": ("observations", "actions"),
    "td": ("observations", "actions", "next_observations", "rewards", "terminations"),
    "reward": ("observations", "actions", "rewards"),
    "full-state-model": ("observations", "actions", "states", "next_states", "terminations"),
}


def training_inputs(target: str) -> tuple[str, ...]:
    """Every dataset field the training of ``target`` reads, the agents it reads included.

    The critic targets read a trained IQL agent; the model targets the
    proposals of the shipped BC and IQL policies. Sorted, no duplicates.
    """
    check_target(target)
    fields = set(_OWN_INPUTS[target])
    if target in AGENT_TARGETS or target in MODEL_TARGETS:
        fields |= set(iql.TRAINING_INPUTS)
    if target in MODEL_TARGETS:
        fields |= set(bc.TRAINING_INPUTS)
    return tuple(sorted(fields))


def check_target(target: str) -> None:
    if target not in TARGETS:
        raise ValueError(f"unknown cost-model target {target!r}; choose one of {', '.join(TARGETS)}")


@dataclass
class CostModelConfig:
    """Hyperparameters of the cost model and its training."""

    target: str = "narx"
    hidden: int = 64
    layers: int = 2
    state_hidden: int = 64
    window: int = 8  # W, observations the history targets read (the NARX model's and the PICNN's)
    learning_rate: float = 1e-3
    batch_size: int = 256
    num_updates: int = 16_000
    perturbation_std: float = 0.2  # normalised action units
    uniform_fraction: float = 0.25  # share of uniformly drawn actions
    perturbed_fraction: float = 0.5  # share of perturbed dataset actions ("distill")
    seed: int = 0
    log_every: int = 250
    # the model targets
    horizon: int = 6  # L, control intervals the action is held (3 h)
    discount: float = 0.97
    limit_weight: float = 10.0  # w_lim of the limit term ("narx"); 0 switches it off
    gradient_weight: float = 1.0  # weight of the action-gradient term of the loss
    gradient_floor: float = 0.02  # of the mean squared slope: below it, a slope's error counts in absolute terms
    noise_scales: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2)  # perturbations of the dataset's actions
    dynamics_updates: int = 10_000  # of the NARX or full-state dynamics model
    # offset-free ("narx"): the cost also reads an output bias b (polymer kg/m3, temperature K)
    offset_free: bool = False
    bias_range: tuple[float, float] = (30.0, 10.0)  # |b| sampled up to this: the open-loop offsets of a +-20 % plant
    zero_bias_fraction: float = 0.25  # share of samples with b = 0 (the nominal plant), another as much small
    # "td-history"
    expectile: float = 0.7
    critic_discount: float = 0.99
    target_update_rate: float = 0.005

    @property
    def state_window(self) -> int:
        """Observations the PICNN reads: ``window`` for the history targets, one otherwise."""
        return self.window if self.target in HISTORY_TARGETS else 1

    @property
    def bias_inputs(self) -> int:
        """Output biases the PICNN reads after the observations: 2 for an offset-free cost, else 0."""
        return 2 if self.offset_free else 0


@dataclass
class CostModelResult:
    model: PICNN
    config: CostModelConfig
    target_mean: float
    target_std: float
    history: dict = field(default_factory=dict)
    dynamics: DynamicsResult | narx.NARXResult | None = None  # the model targets' dynamics model

    @property
    def training_inputs(self) -> tuple[str, ...]:
        return training_inputs(self.config.target)


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
    dynamics=None,
    proposals: list[np.ndarray] | None = None,
    warm_start: tuple[PICNN, float] | None = None,
) -> CostModelResult:
    """Fit a PICNN to ``config.target``, reading only the fields :func:`training_inputs` names.

    ``agent`` is the trained IQL agent the critic targets read (``None``
    for the others). For the model targets: ``dynamics``, a trained
    dynamics model of the matching kind (trained here, with the same seed,
    when ``None``), and ``proposals``, the actions [n, 2] of each policy to
    be corrected at the dataset's observations (row for row). ``warm_start``
    (``"narx"`` only): a trained cost ``(picnn, target_std)`` to start from.
    """
    check_target(config.target)
    if warm_start is not None and config.target != "narx":
        raise ValueError(f"only the 'narx' target can start from a trained cost, not {config.target!r}")
    if config.offset_free and config.target != "narx":
        raise ValueError(
            f"only the 'narx' target can be offset-free (it predicts the outputs a bias shifts), not {config.target!r}"
        )
    missing = [key for key in _OWN_INPUTS[config.target] if key not in data]
    if missing:
        raise ValueError(
            f"the {config.target!r} target reads the dataset fields {', '.join(missing)}, which are missing; "
            "load the datasets with training_arrays()"
        )
    data = {key: data[key] for key in _OWN_INPUTS[config.target]}
    if config.target == "narx":
        return _train_on_narx(data, config, progress, dynamics, proposals or [], warm_start)
    if config.target == "full-state-model":
        return _train_on_full_state(data, config, progress, dynamics, proposals or [])
    if config.target == "td-history":
        return _train_history_critic(data, config, progress)
    if config.target in AGENT_TARGETS and agent is None:
        raise ValueError(f"the {config.target!r} target reads a trained IQL agent; pass one (or use 'narx')")
    generator = seed_everything(config.seed)
    normaliser = agent.normaliser if agent is not None else Normaliser.from_data(data["observations"])
    with torch.no_grad():
        s_all = normaliser.observations(torch.as_tensor(data["observations"], dtype=torch.float32))
        a_all = normaliser.to_unit(torch.as_tensor(data["actions"], dtype=torch.float32))
        if config.target == "distill":
            reference = _targets_distill(agent, s_all, a_all)
        elif config.target == "td":
            s_next_all = normaliser.observations(torch.as_tensor(data["next_observations"], dtype=torch.float32))
            r_all = torch.as_tensor(data["rewards"] * reward_scale, dtype=torch.float32)
            d_all = torch.as_tensor(data["terminations"], dtype=torch.float32)
            reference = _targets_td(agent, s_next_all, r_all, d_all)
        else:
            reference = -torch.as_tensor(data["rewards"], dtype=torch.float32)
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


def _train_sobolev(
    features: np.ndarray,
    data_actions: np.ndarray,
    proposals: list[np.ndarray],
    cost_of,
    config: CostModelConfig,
    progress: bool,
    warm_start: tuple[PICNN, float] | None = None,
) -> tuple[PICNN, float, dict]:
    """Regress a PICNN on ``features`` onto ``cost_of(rows, a, b) - cost_of(rows, data action, b)`` and its
    gradient in unit action coordinates.

    ``cost_of(rows, actions, bias) -> [n]`` is the model target's cost at rows ``rows``
    of ``features`` for physical ``actions``, differentiable in them; ``bias`` is
    ``None``, or for an offset-free cost (``config.offset_free``) the sampled output
    biases ``[n, 2]``, which the PICNN reads after the features.

    ``warm_start``: a trained cost ``(picnn, target_std)`` on the same features to start
    from (an offset-free cost from the deployed one: its bias columns start at zero, so
    at b = 0 it starts as that cost, on that cost's scale).
    """
    generator = seed_everything(config.seed)
    normaliser = Normaliser.from_data(features)
    s_all = normaliser.observations(torch.as_tensor(features, dtype=torch.float32))
    bias_range = torch.as_tensor(config.bias_range, dtype=torch.float32)
    if config.offset_free:
        # b is drawn, not logged: standardise it by its sampling range
        normaliser = Normaliser(
            torch.cat([normaliser.observation_mean, torch.zeros(2)]),
            torch.cat([normaliser.observation_std, bias_range / 2.0]),
        )
    a_all = torch.as_tensor(data_actions, dtype=torch.float32)
    # centres of the sampled actions: the logged ones and each policy's proposals
    centres = torch.stack(
        [normaliser.to_unit(a_all)] + [normaliser.to_unit(torch.as_tensor(p, dtype=torch.float32)) for p in proposals]
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
        if not config.offset_free:
            return rows, unit, None
        # b: zero (the nominal plant), small (a tenth of the range, Gaussian), or uniform over the range
        kind = torch.rand(batch, 1, generator=generator)
        small = torch.randn(batch, 2, generator=generator) * bias_range / 10.0
        wide = (torch.rand(batch, 2, generator=generator) * 2.0 - 1.0) * bias_range
        zero = config.zero_bias_fraction
        bias = torch.where(kind < zero, 0.0, torch.where(kind < 2.0 * zero, small, wide))
        return rows, unit, bias

    def inputs(rows, bias):
        if bias is None:
            return s_all[rows]
        return torch.cat([s_all[rows], bias / normaliser.observation_std[-2:]], dim=1)

    def targets(rows, unit, bias):
        unit = unit.detach().clone().requires_grad_(True)
        cost = cost_of(rows, normaliser.from_unit(unit), bias)
        (gradient,) = torch.autograd.grad(cost.sum(), unit)
        with torch.no_grad():
            baseline = cost_of(rows, a_all[rows], bias)
        return (cost - baseline).detach(), gradient

    rows, unit, bias = draw(4096)  # the scale of the targets, from one large draw
    calibration, calibration_gradient = targets(rows, unit, bias)
    target_std = float(calibration.std().clamp_min(1e-8)) if warm_start is None else float(warm_start[1])
    floor = config.gradient_floor * float((calibration_gradient / target_std).pow(2).sum(1).mean())

    model = PICNN(
        normaliser,
        hidden=config.hidden,
        layers=config.layers,
        state_hidden=config.state_hidden,
        bias_inputs=config.bias_inputs,
    )
    if warm_start is not None:
        _load_widened(model, warm_start[0])
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate, foreach=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.num_updates)
    log = LossLog(["loss", "value_loss", "gradient_loss"], config.log_every, config.num_updates)
    steps = tqdm(
        range(1, config.num_updates + 1), desc=f"PICNN ({config.target})", disable=not progress, mininterval=1.0
    )
    for step in steps:
        rows, unit, bias = draw(config.batch_size)
        target, target_gradient = targets(rows, unit, bias)
        unit.requires_grad_(True)
        predicted = model.forward_normalised(inputs(rows, bias), unit)
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
    return model.eval(), target_std, log.history


def _load_widened(model: PICNN, trained: PICNN) -> None:
    """Copy ``trained``'s weights into ``model``, which reads the same state and extra inputs after it:
    the weights on the extra inputs start at zero, the normaliser stays ``model``'s."""
    if (model.hidden, model.layers, model.state_layers[0].out_features) != (
        trained.hidden,
        trained.layers,
        trained.state_layers[0].out_features,
    ) or model.state_dim < trained.state_dim:
        raise ValueError("can only warm-start from a PICNN of the same widths on the same (leading) state inputs")
    own = model.state_dict()
    with torch.no_grad():
        for key, value in trained.state_dict().items():
            if key.startswith("normaliser."):
                continue
            target = own[key]
            target.zero_()
            target[tuple(slice(0, n) for n in value.shape)] = value
    model.load_state_dict(own)


def _frozen(model):
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def _train_on_narx(
    data,
    config: CostModelConfig,
    progress: bool,
    dynamics: narx.NARXResult | None,
    proposals: list[np.ndarray],
    warm_start: tuple[PICNN, float] | None = None,
) -> CostModelResult:
    if dynamics is None:
        dynamics = narx.train(
            data,
            narx.NARXConfig(window=config.window, seed=config.seed, num_updates=config.dynamics_updates),
            progress=progress,
        )
    if dynamics.config.window != config.window:
        raise ValueError(f"the NARX model reads {dynamics.config.window} observations, the cost model {config.window}")
    model_of_plant = _frozen(dynamics.model)
    keep = ~np.asarray(data["terminations"], dtype=bool)
    features = history_features(data["observations"], data["episode_ids"], config.window)[keep]
    h_all = torch.as_tensor(features, dtype=torch.float32)

    def cost_of(rows, actions, bias):
        return model_of_plant.tracking_cost(
            h_all[rows], actions, config.horizon, config.discount, config.limit_weight, output_bias=bias
        )

    model, target_std, history = _train_sobolev(
        features,
        data["actions"][keep],
        [np.asarray(p)[keep] for p in proposals],
        cost_of,
        config,
        progress,
        warm_start,
    )
    return CostModelResult(model, config, 0.0, target_std, history, dynamics)


def _train_on_full_state(
    data, config: CostModelConfig, progress: bool, dynamics: DynamicsResult | None, proposals: list[np.ndarray]
) -> CostModelResult:
    if dynamics is None:
        dynamics = train_dynamics(
            data, DynamicsConfig(seed=config.seed, num_updates=config.dynamics_updates), progress=progress
        )
    model_of_plant = _frozen(dynamics.model)
    keep = ~np.asarray(data["terminations"], dtype=bool)
    observations = data["observations"][keep]
    obs = torch.as_tensor(observations, dtype=torch.float32)
    x_all = torch.as_tensor(data["states"][keep], dtype=torch.float32)
    setpoints = obs[:, 0:2] + obs[:, 2:4]  # the observation carries P, T and the errors to the setpoint

    def cost_of(rows, actions, bias):
        return model_of_plant.tracking_cost(x_all[rows], actions, setpoints[rows], config.horizon, config.discount)

    model, target_std, history = _train_sobolev(
        observations, data["actions"][keep], [np.asarray(p)[keep] for p in proposals], cost_of, config, progress
    )
    return CostModelResult(model, config, 0.0, target_std, history, dynamics)


def _train_history_critic(data, config: CostModelConfig, progress: bool) -> CostModelResult:
    """``"td-history"``: c(h, a) and V(h) by IQL's TD and expectile regressions, on the window of observations."""
    generator = seed_everything(config.seed)
    ids = data["episode_ids"]
    features = history_features(data["observations"], ids, config.window)
    next_features = next_history_features(data["observations"], data["next_observations"], ids, config.window)
    normaliser = Normaliser.from_data(features)
    ends = np.asarray(data["terminations"]) | np.asarray(data["truncations"])
    scale = iql.paper_reward_scale(np.asarray(data["rewards"]), ends)  # IQL's rule; the result is rescaled anyway
    with torch.no_grad():
        h_all = normaliser.observations(torch.as_tensor(features, dtype=torch.float32))
        h_next_all = normaliser.observations(torch.as_tensor(next_features, dtype=torch.float32))
        a_all = normaliser.to_unit(torch.as_tensor(data["actions"], dtype=torch.float32))
    r_all = torch.as_tensor(np.asarray(data["rewards"]) * scale, dtype=torch.float32)
    d_all = torch.as_tensor(data["terminations"], dtype=torch.float32)
    model = PICNN(normaliser, hidden=config.hidden, layers=config.layers, state_hidden=config.state_hidden)
    target_model = copy.deepcopy(model)
    value = mlp(normaliser.observation_mean.shape[0], 1, (256, 256))
    cost_optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate, foreach=True)
    value_optimiser = torch.optim.Adam(value.parameters(), lr=config.learning_rate, foreach=True)
    log = LossLog(["loss", "value_loss"], config.log_every, config.num_updates)
    steps = tqdm(range(1, config.num_updates + 1), desc="PICNN (td-history)", disable=not progress, mininterval=1.0)
    for step in steps:
        rows = torch.randint(0, len(h_all), (config.batch_size,), generator=generator)
        h, a = h_all[rows], a_all[rows]
        with torch.no_grad():
            q_target = -target_model.forward_normalised(h, a)
        difference = q_target - value(h).squeeze(-1)
        weight = torch.abs(config.expectile - (difference < 0).float())
        value_loss = (weight * difference**2).mean()
        value_optimiser.zero_grad(set_to_none=True)
        value_loss.backward()
        value_optimiser.step()
        with torch.no_grad():
            target = -(r_all[rows] + config.critic_discount * (1.0 - d_all[rows]) * value(h_next_all[rows]).squeeze(-1))
        cost_loss = ((model.forward_normalised(h, a) - target) ** 2).mean()
        cost_optimiser.zero_grad(set_to_none=True)
        cost_loss.backward()
        cost_optimiser.step()
        with torch.no_grad():
            for online, lagged in zip(model.parameters(), target_model.parameters()):
                lagged.lerp_(online, config.target_update_rate)
        means = log.add(step, loss=cost_loss.item(), value_loss=value_loss.item())
        if means:
            steps.set_postfix(loss=f"{means['loss']:.4f}")
    # standardise the cost's scale like the other targets: the correction's step size means the same
    with torch.no_grad():
        spread = float(model.forward_normalised(h_all, a_all).std().clamp_min(1e-8))
    return CostModelResult(_rescaled(model, 1.0 / spread), config, 0.0, spread, log.history)


def _rescaled(model: PICNN, factor: float) -> PICNN:
    """``factor * model`` (factor > 0), still a PICNN: the output layer's weights scaled, convexity kept."""
    if factor <= 0:
        raise ValueError(f"a cost can only be rescaled by a positive factor, got {factor}")
    last = model.layers
    with torch.no_grad():
        model.wy[last].weight.mul_(factor)
        model.wc[last].weight.mul_(factor)
        model.wc[last].bias.mul_(factor)
        # softplus(raw') = factor * softplus(raw): solve for raw' exactly
        scaled = model.wz(last) * factor
        model.wz_raw[last - 1].copy_(scaled + torch.log(-torch.expm1(-scaled)))
    return model.eval()


def train_cost_model(
    target: str = "narx",
    updates: int | None = None,
    seed: int = 0,
    data_root=None,
    iql_root=None,
    iql_name: str = "iql",
    progress: bool = True,
    iql_result=None,
    dynamics_updates: int | None = None,
    policies=None,
    data: dict[str, np.ndarray] | None = None,
    dynamics=None,
    warm_start=None,
    **overrides,
):
    """Fit the PICNN cost model on the datasets (see :mod:`cstr.safety.cost_model`). The critic targets
    read an IQL agent: ``iql_result`` (a fresh :class:`cstr.agents.iql.IQLResult`) or else the
    shipped ``iql_name``. The model targets sample actions around the proposals of
    ``policies`` (controllers with ``act``; default: the shipped BC and IQL), the ones it will correct.
    ``data``: the training arrays (default: the verified datasets of ``data_root``);
    ``dynamics``: for a model target, an already trained dynamics model of the matching
    kind to distil (default: train one with the same seed); ``warm_start``: a trained
    ``"narx"`` cost ``(picnn, target_std)`` to start from;
    ``overrides``: further :class:`CostModelConfig` fields."""
    check_training_seed(seed)
    check_target(target)
    agent, reward_scale = None, 1.0
    if target in AGENT_TARGETS:
        if iql_result is not None:
            agent, reward_scale = iql_result.agent, iql_result.reward_scale
        else:
            agent = load_agent(iql_name, iql_root)
            sidecar = load_sidecar(storage.data_root(iql_root) / weight_files(iql_name)[0])
            reward_scale = sidecar["config"]["reward_scale_used"]
    config = CostModelConfig(target=target, seed=seed, **overrides)
    if updates is not None:
        config.num_updates = int(updates)
    if dynamics_updates is not None:
        config.dynamics_updates = int(dynamics_updates)
    data = training_arrays(root=data_root) if data is None else data
    proposals = None
    if target in MODEL_TARGETS:
        if policies is None:
            policies = [load_policy_controller(name, iql_root) for name in ("bc", "iql")]
        proposals = [policy.act(data["observations"]) for policy in policies]
    return train(
        agent,
        data,
        config,
        reward_scale=reward_scale,
        progress=progress,
        dynamics=dynamics,
        proposals=proposals,
        warm_start=warm_start,
    )

"""Training the PICNN cost model from the offline data alone, and shipping it.

The paper's exact training target is not available to us, so four honest
candidates are implemented; chapter 5 compares them and the shipped model
uses the one the evidence (validation seeds, :func:`select`) favours. None
touches the plant.

``"model"``
    Distil the tracking cost that a learned dynamics model predicts
    (:mod:`cstr.dynamics`): ``C_L(x, a)``, the discounted squared setpoint
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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from cstr.agents.common import (LossLog, Normaliser, load_sidecar, load_state_dict, save_weights, seed_everything,
                               training_arrays)
from cstr.correction import CorrectionConfig
from cstr.data import default_root, update_manifest, verify_files
from cstr.dynamics import DynamicsConfig, DynamicsModel, DynamicsResult
from cstr.dynamics import train as train_dynamics
from cstr.picnn import PICNN

TARGETS = ("model", "distill", "td", "reward")
AGENT_TARGETS = ("distill", "td", "reward")  # the targets that read the IQL agent
COST_MODEL_NAME = "picnn"


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


def train(agent, data: dict[str, np.ndarray], config: CostModelConfig = CostModelConfig(), reward_scale: float = 1.0,
          progress: bool = True, dynamics: DynamicsResult | None = None,
          proposals: list[np.ndarray] | None = None) -> CostModelResult:
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

    model = PICNN(Normaliser(normaliser.observation_mean, normaliser.observation_std),
                  hidden=config.hidden, layers=config.layers, state_hidden=config.state_hidden)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate, foreach=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.num_updates)
    log = LossLog(["loss"], config.log_every, config.num_updates)
    steps = tqdm(range(1, config.num_updates + 1), desc=f"PICNN ({config.target})", disable=not progress,
                 mininterval=1.0)
    n_perturbed = int(round(config.perturbed_fraction * config.batch_size))
    n_uniform = int(round(config.uniform_fraction * config.batch_size))
    for step in steps:
        rows = torch.randint(0, s_all.shape[0], (config.batch_size,), generator=generator)
        s, a = s_all[rows], a_all[rows].clone()
        if config.target == "distill":
            noise = torch.randn(n_perturbed, 2, generator=generator) * config.perturbation_std
            a[:n_perturbed] = (a[:n_perturbed] + noise).clamp(-1.0, 1.0)
            uniform = torch.rand(n_uniform, 2, generator=generator) * 2.0 - 1.0
            a[n_perturbed:n_perturbed + n_uniform] = uniform
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


def _model_targets(dynamics: DynamicsModel, normaliser: Normaliser, states, setpoints, data_actions, unit_actions,
                   config: CostModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``C_L(x, a) - C_L(x, a_data)`` and its gradient in unit action coordinates."""
    unit = unit_actions.detach().clone().requires_grad_(True)
    cost = dynamics.tracking_cost(states, normaliser.from_unit(unit), setpoints, config.horizon, config.discount)
    (gradient,) = torch.autograd.grad(cost.sum(), unit)
    with torch.no_grad():
        baseline = dynamics.tracking_cost(states, data_actions, setpoints, config.horizon, config.discount)
    return (cost - baseline).detach(), gradient


def _train_on_model(data, config: CostModelConfig, progress: bool, dynamics: DynamicsResult | None,
                    proposals: list[np.ndarray]) -> CostModelResult:
    if "states" not in data:
        raise ValueError("the 'model' target needs the datasets' logged states; load them with training_arrays()")
    if dynamics is None:
        dynamics = train_dynamics(data, DynamicsConfig(seed=config.seed, num_updates=config.dynamics_updates),
                                  progress=progress)
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
    centres = torch.stack([normaliser.to_unit(a_all)] + [
        normaliser.to_unit(torch.as_tensor(np.asarray(p)[keep], dtype=torch.float32)) for p in proposals])
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
    calibration, calibration_gradient = _model_targets(model_of_plant, normaliser, x_all[rows], setpoints[rows],
                                                       a_all[rows], unit, config)
    target_std = float(calibration.std().clamp_min(1e-8))
    floor = config.gradient_floor * float((calibration_gradient / target_std).pow(2).sum(1).mean())

    model = PICNN(normaliser, hidden=config.hidden, layers=config.layers, state_hidden=config.state_hidden)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate, foreach=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.num_updates)
    log = LossLog(["loss", "value_loss", "gradient_loss"], config.log_every, config.num_updates)
    steps = tqdm(range(1, config.num_updates + 1), desc="PICNN (model)", disable=not progress, mininterval=1.0)
    for step in steps:
        rows, unit = draw(config.batch_size)
        target, target_gradient = _model_targets(model_of_plant, normaliser, x_all[rows], setpoints[rows],
                                                 a_all[rows], unit, config)
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


# --------------------------------------------------------------------------
# Shipping

def weight_files(name: str = COST_MODEL_NAME) -> list[str]:
    return [f"weights/{name}.pt", f"weights/{name}.json"]


def dynamics_name(name: str = COST_MODEL_NAME) -> str:
    """Where the dynamics model behind the cost model ``name`` is stored: ``picnn-seed1`` -> ``picnn-dynamics-seed1``."""
    base, separator, seed = name.partition("-seed")
    return f"{base}-dynamics{separator}{seed}"


def save(result: CostModelResult, correction: CorrectionConfig, root=None, name: str = COST_MODEL_NAME,
         extra: dict | None = None, manifest: bool = True) -> list[Path]:
    """The PICNN as ``weights/<name>``; the dynamics model behind a ``"model"`` target beside it."""
    root = default_root() if root is None else Path(root)
    pt_name, json_name = weight_files(name)
    config = asdict(result.config) | {"target_mean": result.target_mean, "target_std": result.target_std,
                                       "correction": asdict(correction)} | (extra or {})
    save_weights(result.model, config, root / pt_name, result.history)
    written = [pt_name, json_name]
    if result.dynamics is not None:
        model_pt, model_json = weight_files(dynamics_name(name))
        save_weights(result.dynamics.model, asdict(result.dynamics.config), root / model_pt, result.dynamics.history)
        written += [model_pt, model_json]
    if manifest:
        update_manifest(root, written)
    return [root / file for file in written]


def load_cost_model(root=None, name: str = COST_MODEL_NAME) -> PICNN:
    """The shipped PICNN, verified against the manifest: ``cost(obs[n, 6], actions[n, 2]) -> [n]``."""
    root = default_root() if root is None else Path(root)
    pt_name, json_name = weight_files(name)
    verify_files(root, [pt_name, json_name])
    config = load_sidecar(root / pt_name)["config"]
    model = PICNN(Normaliser(np.zeros(6), np.ones(6)), hidden=config["hidden"], layers=config["layers"],
                  state_hidden=config["state_hidden"])
    model.load_state_dict(load_state_dict(root / pt_name))
    return model.eval()


def load_dynamics_model(root=None, name: str = COST_MODEL_NAME) -> DynamicsModel:
    """The dynamics model the shipped cost model (``name``) was distilled from, verified against the manifest."""
    root = default_root() if root is None else Path(root)
    pt_name, json_name = weight_files(dynamics_name(name))
    verify_files(root, [pt_name, json_name])
    config = load_sidecar(root / pt_name)["config"]
    zeros = np.zeros(5)
    model = DynamicsModel(zeros, zeros + 1, zeros, zeros + 1, hidden=tuple(config["hidden"]))
    model.load_state_dict(load_state_dict(root / pt_name))
    return model.eval()


def load_correction_config(root=None, name: str = COST_MODEL_NAME) -> CorrectionConfig:
    root = default_root() if root is None else Path(root)
    return CorrectionConfig(**load_sidecar(root / weight_files(name)[0])["config"]["correction"])


# --------------------------------------------------------------------------
# Choosing between candidates on validation seeds

VALIDATION_SEED_START = 990_000
"""Seeds for choosing the cost model and the correction's settings: below the
evaluation range, apart from the dataset (0 onwards) and pi-tuned (900,000 onwards) seeds."""


def validation_returns(controllers: dict, scenarios=None, episodes: int = 20,
                       seed: int = VALIDATION_SEED_START) -> dict[str, dict[str, float]]:
    """Mean total reward of each controller in each scenario on validation seeds."""
    from cstr.control import rollout
    from cstr.scenarios import SCENARIO_NAMES

    scenarios = SCENARIO_NAMES if scenarios is None else scenarios
    seeds = list(range(seed, seed + episodes))
    return {name: {scenario: float(rollout(controller, scenario, seeds)["returns"].mean()) for scenario in scenarios}
            for name, controller in controllers.items()}


# --------------------------------------------------------------------------
# The shipped corrected controllers

def load_corrected_controller(policy_name: str, root=None):
    """``policy_name`` ("bc" or "iql") with its actions corrected on the cost model trained with it.

    The canonical policy is one training seed's (chosen on validation seeds);
    its cost model is the one trained on the same seed (``picnn-seed<s>``),
    so that ``bc+`` and ``iql+`` are the pairs chapter 7 evaluates. Without
    a selection record (a data folder trained by hand), the shipped ``picnn``.
    """
    from cstr.correction import CorrectedController
    from cstr.training import chosen_training_seed, load_policy_controller

    root = default_root() if root is None else Path(root)
    seed = chosen_training_seed(policy_name, root)
    cost_name = COST_MODEL_NAME if seed is None else f"{COST_MODEL_NAME}-seed{seed}"
    if not (root / weight_files(cost_name)[0]).exists():
        cost_name = COST_MODEL_NAME
    return CorrectedController(load_policy_controller(policy_name, root), load_cost_model(root, cost_name),
                               load_correction_config(root, cost_name), name=f"{policy_name}+")


def _register_corrected() -> None:
    from cstr.controllers import register_controller

    register_controller("bc+", lambda root=None: load_corrected_controller("bc", root))
    register_controller("iql+", lambda root=None: load_corrected_controller("iql", root))


_register_corrected()


# --------------------------------------------------------------------------
# Selection: which target, which correction settings (validation seeds only)

CANDIDATE_CORRECTIONS = (
    CorrectionConfig(steps=10, step_size=0.05, trust_region=0.02),
    CorrectionConfig(steps=10, step_size=0.05, trust_region=0.05),
    CorrectionConfig(steps=10, step_size=0.1, trust_region=0.1),
    CorrectionConfig(steps=10, step_size=0.1, trust_region=0.25),
)


def select(targets=TARGETS, corrections=CANDIDATE_CORRECTIONS, episodes: int = 20, updates: int | None = None,
           root=None, progress: bool = True) -> dict:
    """Train a cost model per target, evaluate IQL+ and BC+ under each correction setting on
    validation seeds, and ship the candidates and the best (highest IQL+ mean return over the
    three scenarios) as ``weights/picnn``. Returns the comparison."""
    import shutil

    from cstr.correction import CorrectedController
    from cstr.training import load_policy_controller, train_cost_model

    root = default_root() if root is None else Path(root)
    policies = {"iql": load_policy_controller("iql", root), "bc": load_policy_controller("bc", root)}
    table = validation_returns(policies, episodes=episodes)
    rows = [{"controller": name, "target": None, "correction": None, "returns": returns}
            for name, returns in table.items()]
    for target in targets:
        result = train_cost_model(target, updates=updates, data_root=root, iql_root=root, progress=progress,
                                  policies=[policies["bc"], policies["iql"]])
        save(result, CorrectionConfig(), root=root, name=f"{COST_MODEL_NAME}-{target}")
        for correction in corrections:
            controllers = {f"{name}+": CorrectedController(policy, result.model, correction)
                           for name, policy in policies.items()}
            for name, returns in validation_returns(controllers, episodes=episodes).items():
                rows.append({"controller": name, "target": target, "correction": asdict(correction),
                             "returns": returns})
                if progress:
                    print(f"  {name:5s} {target:8s} {asdict(correction)}: "
                          + " ".join(f"{v:9.2f}" for v in returns.values()), flush=True)
    candidates = [row for row in rows if row["controller"] == "iql+"]
    best = max(candidates, key=lambda row: np.mean(list(row["returns"].values())))
    chosen = CorrectionConfig(**best["correction"])
    source = root / weight_files(f"{COST_MODEL_NAME}-{best['target']}")[0]
    config = load_sidecar(source)
    pt_name, json_name = weight_files(COST_MODEL_NAME)
    shutil.copyfile(source, root / pt_name)
    shipped = [pt_name, json_name]
    dynamics_files = weight_files(dynamics_name(f"{COST_MODEL_NAME}-{best['target']}"))
    if (root / dynamics_files[0]).exists():
        for source_name, target_name in zip(dynamics_files, weight_files(dynamics_name(COST_MODEL_NAME))):
            shutil.copyfile(root / source_name, root / target_name)
            shipped.append(target_name)
    config["config"]["correction"] = asdict(chosen)
    (root / json_name).write_text(__import__("json").dumps(config, indent=1, sort_keys=True) + "\n",
                                  encoding="utf-8")
    update_manifest(root, shipped)
    comparison = {"validation_seed_start": VALIDATION_SEED_START, "episodes": episodes, "rows": rows,
                  "chosen": {"target": best["target"], "correction": asdict(chosen)},
                  "criterion": "highest mean IQL+ total reward over the three scenarios on validation seeds"}
    from cstr.data import write_json

    (root / "results").mkdir(parents=True, exist_ok=True)
    write_json(root / "results" / "correction_selection.json", comparison)
    update_manifest(root, ["results/correction_selection.json"])
    return comparison


def register(subparsers) -> None:
    parser = subparsers.add_parser("select-cost-model",
                                   help="train every cost-model target, choose target and correction on validation seeds")
    parser.add_argument("--episodes", type=int, default=20, help="validation episodes per scenario (default 20)")
    parser.add_argument("--updates", type=int, default=None, help="PICNN updates (default: CostModelConfig's)")
    parser.add_argument("--out", type=Path, default=None, help="data folder (default: data/)")

    def command(args):
        import torch

        torch.set_num_threads(1)
        result = select(episodes=args.episodes, updates=args.updates, root=args.out)
        print(f"chosen: {result['chosen']}")

    parser.set_defaults(func=command)


# --------------------------------------------------------------------------
# A diagnostic: where does each candidate put the best action at a steady state?

def steady_state_minimisers(grade, agent=None, dynamics: DynamicsModel | None = None, cost: PICNN | None = None,
                            horizon: int = 6, discount: float = 0.97, half_widths=(0.1, 1.5),
                            points: int = 41) -> dict[str, np.ndarray]:
    """The best action on a grid around ``grade``'s steady inputs, by each cost given.

    The process sits exactly on the grade, with the steady inputs applied
    before: the right answer is to keep those inputs. ``agent``: IQL's
    critic (its arg max of Q); ``dynamics``: the model's tracking cost
    ``C_L`` (arg min); ``cost``: a PICNN (arg min). The grid spans
    ``steady inputs ± half_widths`` (kg/h, K) with ``points`` per axis.
    """
    inputs = grade.steady_inputs()
    feeds = np.linspace(inputs[0] - half_widths[0], inputs[0] + half_widths[0], points)
    coolants = np.linspace(inputs[1] - half_widths[1], inputs[1] + half_widths[1], points)
    grid = np.stack(np.meshgrid(feeds, coolants, indexing="ij"), axis=-1).reshape(-1, 2)
    observation = np.array([grade.polymer, grade.temperature, 0.0, 0.0, inputs[0], inputs[1]])
    observations = torch.as_tensor(np.repeat(observation[None], len(grid), 0), dtype=torch.float32)
    actions = torch.as_tensor(grid, dtype=torch.float32)
    best = {"steady inputs": inputs}
    with torch.no_grad():
        if agent is not None:
            q = agent.target_q(agent.normaliser.observations(observations), agent.normaliser.to_unit(actions))
            best["IQL critic (arg max Q)"] = grid[int(torch.argmax(q))]
        if dynamics is not None:
            states = torch.as_tensor(np.repeat(grade.steady_state()[None], len(grid), 0), dtype=torch.float32)
            setpoints = torch.as_tensor(np.repeat(grade.setpoint[None], len(grid), 0), dtype=torch.float32)
            tracking = dynamics.tracking_cost(states, actions, setpoints, horizon, discount)
            best[f"dynamics model (arg min C_L, L = {horizon})"] = grid[int(torch.argmin(tracking))]
        if cost is not None:
            best["cost model (arg min c)"] = grid[int(torch.argmin(cost(observations, actions)))]
    return best

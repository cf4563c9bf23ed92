"""A convex temperature guard: a safety filter that acts only where the limit is near.

The correction (:mod:`cstr.safety.correction`) moves every action towards
lower *cost*; the limit enters that cost only as one term among the
tracking errors, so a cost model that extrapolates can let the reactor
cross 360 K (chapter 8's stress scenario). The guard adds a second,
separate model with one job: the temperature one control interval ahead.

**The model.** A PICNN (:class:`cstr.safety.picnn.PICNN`) regresses the
temperature change over the next interval on the plant history and the
action::

    dT_hat(h_t, a) ~ T_{t+1} - T_t,      convex in a for every history h_t

It reads the window ``h_t`` of the last W observations
(:mod:`cstr.safety.history`: polymer, temperature, their setpoint errors and
the inputs applied), what a plant measures, and it is trained on the
datasets of all four scenarios, whose randomised PI controllers crossed the
limit in the stress scenario's episodes. The loss is the pinball loss at
quantile ``q``,

    L = mean( max(q e, (q - 1) e) ),     e = (T_{t+1} - T_t) - dT_hat(h_t, a_t)

so the model predicts an upper quantile of the change rather than its
mean: an under-predicted rise is what lets a filter wave a crossing
through.

**The filter.** With threshold tau below the limit, the policy's (corrected)
action a_0 is kept, bit for bit, when ``T_t + dT_hat(h_t, a_0) <= tau``.
Otherwise:

1. a_s = argmin over the input box B of dT_hat(h_t, a): projected gradient
   descent on a convex function of a, the correction's own solver with the
   whole box as its region;
2. if even a_s is predicted above tau, a_s is applied: no action the model
   knows does better;
3. else the action is a_0 + lambda* (a_s - a_0), with lambda* the smallest
   lambda in [0, 1] that is predicted feasible, found by bisection.

Step 3 is exact up to the bisection's tolerance because of convexity:
g(lambda) = dT_hat(h_t, a_0 + lambda (a_s - a_0)) is convex in lambda, with
g(0) > tau - T_t >= g(1), so the feasible lambdas form one interval that
ends at 1; bisection keeps its upper end feasible at every step. The guard
thus moves the action as little as possible along the line to the safest
action, and only when the model predicts a crossing of tau.

The environment checks the limit at the sample times (the end of each
interval), so a one-step model is the right horizon. The threshold tau is
chosen on validation episodes (:mod:`cstr.experiments.temperature_guard`),
never on evaluation ones. The guard is a filter on the deployed action,
not part of the paper's method; a guarded controller is named as such
(``bc+guarded``, ``iql+guarded``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from cstr.agents.nn import Normaliser
from cstr.agents.weights import load_verified, save_weights, weight_files
from cstr.envs import core
from cstr.plant.scenarios import TEMPERATURE_LIMIT
from cstr.safety.correction import CorrectionConfig, CostSurface, correct
from cstr.safety.history import OBS_DIM, HistoryBuffer, history_features
from cstr.safety.picnn import PICNN
from cstr.storage import data_root, read_manifest, read_verified_json, update_manifest, write_json

GUARD_NAME = "temperature-guard"
"""The shipped guard model's weight files (``weights/temperature-guard.pt`` and its sidecar)."""
TEMPERATURE_INDEX = core.OBSERVATION_NAMES.index("temperature")
TRAINING_INPUTS = ("observations", "next_observations", "actions", "episode_ids")
"""The dataset fields the guard's training reads: measured quantities only."""
SAFEST_ACTION_SOLVER = CorrectionConfig(steps=60, step_size=0.5, trust_region=None, max_backtracks=30)
"""Projected gradient descent for a_s, the model's safest action: the whole box, more steps than a correction."""
BISECTION_STEPS = 30
"""Halvings of [0, 1] in step 3: lambda* to within 1e-9 of the segment."""


@dataclass
class GuardConfig:
    """The guard model's training settings (the threshold is chosen afterwards, on validation episodes)."""

    window: int = 8  # W, observations in h_t
    hidden: int = 32  # PICNN action-path width
    layers: int = 2
    state_hidden: int = 64
    quantile: float = 0.95  # q of the pinball loss
    updates: int = 6000
    batch_size: int = 512
    learning_rate: float = 1e-3
    validation_share: float = 0.1  # episodes held out (whole) to report the fit
    seed: int = 0

    def __post_init__(self):
        if not 0.5 <= self.quantile < 1.0:
            raise ValueError(f"quantile must be in [0.5, 1): an upper quantile of the change; got {self.quantile}")
        if self.window < 1 or self.updates < 1 or self.batch_size < 1:
            raise ValueError("window, updates and batch_size must be positive")
        if not 0.0 < self.validation_share < 1.0:
            raise ValueError(
                f"validation_share must lie in (0, 1): the held-out fit decides the threshold's margin; "
                f"got {self.validation_share}"
            )


def pinball_loss(errors: torch.Tensor, quantile: float) -> torch.Tensor:
    """``mean(max(q e, (q - 1) e))``: minimised by the q-quantile of the target given the inputs."""
    return torch.maximum(quantile * errors, (quantile - 1.0) * errors).mean()


def guard_arrays(data: dict, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(h_t [n, 6 W], a_t [n, 2], T_{t+1} - T_t [n])`` from datasets (:func:`cstr.data.dataset.training_arrays`)."""
    missing = [key for key in TRAINING_INPUTS if key not in data]
    if missing:
        raise ValueError(f"the guard trains on {', '.join(TRAINING_INPUTS)}; the data lack {', '.join(missing)}")
    observations = np.asarray(data["observations"], dtype=np.float64)
    change = np.asarray(data["next_observations"], dtype=np.float64)[:, TEMPERATURE_INDEX]
    change = change - observations[:, TEMPERATURE_INDEX]
    features = history_features(observations, data["episode_ids"], window)
    actions = np.asarray(data["actions"], dtype=np.float64)
    if not (np.isfinite(features).all() and np.isfinite(actions).all() and np.isfinite(change).all()):
        raise ValueError("the guard's training data hold non-finite values: verify the datasets (verify-data)")
    return features, actions, change


@dataclass
class GuardFit:
    model: PICNN
    config: GuardConfig
    history: dict  # the training loss, and the fit on the held-out rows


def train_guard_model(data: dict, config: GuardConfig = GuardConfig()) -> GuardFit:
    """Fit dT_hat by the pinball loss; report the fit on ``config.validation_share`` of the episodes, held out
    whole (rows of one episode are correlated: rows drawn at random would leak their neighbours into the fit)."""
    features, actions, change = guard_arrays(data, config.window)
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    episodes = np.unique(data["episode_ids"])
    held_episodes = rng.permutation(episodes)[: max(1, int(config.validation_share * len(episodes)))]
    is_held = np.isin(data["episode_ids"], held_episodes)
    held, fitted = np.flatnonzero(is_held), np.flatnonzero(~is_held)
    model = PICNN(
        Normaliser.from_data(features[fitted]),
        hidden=config.hidden,
        layers=config.layers,
        state_hidden=config.state_hidden,
    )
    inputs = torch.as_tensor(features, dtype=torch.float32)
    applied = torch.as_tensor(actions, dtype=torch.float32)
    targets = torch.as_tensor(change, dtype=torch.float32)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    losses = []
    for _ in range(config.updates):
        batch = torch.as_tensor(rng.choice(fitted, config.batch_size))
        loss = pinball_loss(targets[batch] - model(inputs[batch], applied[batch]), config.quantile)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    model.eval()
    report = fit_report(model, features, actions, change, held)
    return GuardFit(model, config, {"loss": losses[:: max(1, len(losses) // 200)], "held_out": report})


HOT_TEMPERATURE = TEMPERATURE_LIMIT - 5.0
"""Rows starting above this temperature are reported apart: the ones the guard exists for."""


@torch.no_grad()
def fit_report(model: PICNN, features, actions, change, rows) -> dict:
    """The fit on ``rows``: RMSE, the share of under-predicted changes, overall and on rows starting hot."""
    rows = np.asarray(rows)
    predicted = model(torch.as_tensor(features[rows]), torch.as_tensor(actions[rows])).double().numpy()
    errors = change[rows] - predicted
    hot = features[rows, TEMPERATURE_INDEX] > HOT_TEMPERATURE

    def summary(e):
        return {
            "rows": int(e.size),
            "rmse_K": float(np.sqrt(np.mean(e**2))) if e.size else float("nan"),
            "under_predicted_share": float(np.mean(e > 0)) if e.size else float("nan"),
            "largest_under_prediction_K": float(e.max()) if e.size else float("nan"),
        }

    return {"all": summary(errors), "hot": summary(errors[hot])}


@dataclass
class GuardStep:
    actions: np.ndarray  # [n, 2], what the plant gets
    active: np.ndarray  # [n] bool, rows the guard changed
    predicted: np.ndarray  # [n], T_t + dT_hat at the proposal
    infeasible: np.ndarray  # [n] bool, rows where even the safest action is predicted above the threshold


def guard_actions(weights: dict, histories, proposals, threshold: float) -> GuardStep:
    """The filter of the module docstring for a batch: dT_hat is the exported guard model ``weights``
    (:meth:`cstr.safety.picnn.PICNN.export`), ``histories`` the windows h_t ``[n, 6 W]``, newest observation first
    (its temperature is T_t), ``proposals`` the actions ``[n, 2]`` in physical units."""
    histories = np.atleast_2d(np.asarray(histories, dtype=np.float64))
    proposals = np.atleast_2d(np.asarray(proposals, dtype=np.float64))
    if proposals.shape != (len(histories), 2):
        raise ValueError(f"need one action per history: {len(histories)} histories, actions of shape {proposals.shape}")
    if not (np.isfinite(proposals).all() and np.isfinite(histories).all()):
        raise ValueError("the guard refuses non-finite actions or measurements: check the policy and the sensors")
    surface = CostSurface(weights, histories, dtype=np.float64)
    temperatures = histories[:, TEMPERATURE_INDEX]
    actions = np.clip(proposals, surface.low, surface.high)
    predicted = temperatures + surface.value(actions)
    active = predicted > threshold
    infeasible = np.zeros(len(actions), dtype=bool)
    if active.any():
        rows = np.flatnonzero(active)
        start, room = actions[rows], threshold - temperatures[rows]
        sub = CostSurface(weights, histories[rows], dtype=np.float64)
        safest = correct(sub, start, SAFEST_ACTION_SOLVER).actions
        feasible_end = sub.value(safest) <= room
        low, high = np.zeros(len(rows)), np.ones(len(rows))  # g(low) > room, g(high) <= room where feasible_end
        direction = safest - start
        for _ in range(BISECTION_STEPS):
            middle = 0.5 * (low + high)
            ok = sub.value(start + middle[:, None] * direction) <= room
            high, low = np.where(ok, middle, high), np.where(ok, low, middle)
        step = np.where(feasible_end, high, 1.0)
        actions[rows] = np.clip(start + step[:, None] * direction, surface.low, surface.high)
        infeasible[rows] = ~feasible_end
    # an untouched row keeps the proposal bit for bit (not its clip: the environment reports clipping itself)
    actions = np.where(active[:, None], actions, proposals)
    return GuardStep(actions, active, predicted, infeasible)


class GuardedController:
    """``controller``'s actions passed through the temperature guard: what ``bc+guarded`` and ``iql+guarded`` run.

    Keeps its own window of observations (as the corrected controllers do) and records, per call of
    :meth:`act`, the rows it changed: ``active_steps`` (one boolean array per step since the last full
    :meth:`reset`), ``interventions`` (their total) and ``last_step`` (the latest :class:`GuardStep`). The episode
    runner keeps calling a controller on rows whose episode has ended (their actions are ignored), so count an
    episode's interventions with :meth:`interventions_within` and the episodes' lengths.
    """

    def __init__(self, controller, model: PICNN, threshold: float, name: str = "guarded"):
        if not np.isfinite(threshold) or threshold >= TEMPERATURE_LIMIT:
            raise ValueError(f"the threshold must lie below the {TEMPERATURE_LIMIT:.0f} K limit; got {threshold}")
        self.controller = controller
        self.weights = model.export()
        self.threshold = float(threshold)
        self.name = name
        self.history = HistoryBuffer(model.window)
        self.interventions = 0
        self.decisions = 0
        self.last_step: GuardStep | None = None
        self.active_steps: list[np.ndarray] = []

    def start_episodes(self, seeds) -> None:
        if hasattr(self.controller, "start_episodes"):
            self.controller.start_episodes(seeds)

    def reset(self, rows=None) -> None:
        self.history.reset(rows)
        if rows is None:
            self.active_steps = []
        if hasattr(self.controller, "reset"):
            self.controller.reset(rows)

    def act(self, obs) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        proposed = np.asarray(self.controller.act(obs), dtype=np.float64)
        step = guard_actions(self.weights, self.history.push(obs), proposed, self.threshold)
        self.last_step = step
        self.interventions += int(step.active.sum())
        self.decisions += len(step.active)
        self.active_steps.append(step.active.copy())
        return step.actions[0] if proposed.ndim == 1 else step.actions

    def interventions_within(self, lengths) -> np.ndarray:
        """Interventions per parallel episode, counting only the first ``lengths[i]`` steps of episode i."""
        lengths = np.asarray(lengths)
        if not self.active_steps:
            return np.zeros(len(lengths), dtype=np.int64)
        active = np.array(self.active_steps)  # [steps, n]
        if active.shape[1] != len(lengths):
            raise ValueError(f"{active.shape[1]} episodes were guarded, {len(lengths)} lengths given")
        within = np.arange(len(active))[:, None] < lengths[None, :]
        return (active & within).sum(axis=0)


def save_guard(fit: GuardFit, scenarios, root=None, name: str = GUARD_NAME) -> list:
    """The guard model as ``weights/<name>`` (sidecar: settings, training inputs and the scenarios whose datasets
    it read, its fit), listed in the manifest."""
    root = data_root(root)
    pt_name, json_name = weight_files(name)
    config = asdict(fit.config) | {"training_inputs": list(TRAINING_INPUTS), "training_scenarios": list(scenarios)}
    save_weights(fit.model, config, root / pt_name, fit.history)
    update_manifest(root, [pt_name, json_name])
    return [root / pt_name, root / json_name]


def load_guard_model(root=None, name: str = GUARD_NAME) -> PICNN:
    """The shipped guard model, verified against the manifest: ``dT_hat(h[n, 6 W], actions[n, 2]) -> [n]``."""
    state, sidecar = load_verified(name, root)
    config = GuardConfig(**{k: v for k, v in sidecar["config"].items() if k in GuardConfig.__dataclass_fields__})
    width = OBS_DIM * config.window
    model = PICNN(
        Normaliser(np.zeros(width), np.ones(width)),
        hidden=config.hidden,
        layers=config.layers,
        state_hidden=config.state_hidden,
    )
    model.load_state_dict(state)
    model.training_inputs = tuple(sidecar["config"]["training_inputs"])
    model.training_scenarios = tuple(sidecar["config"]["training_scenarios"])
    return model.eval()


GUARD_SETTINGS_FILE = "temperature_guard.json"
"""The deployed threshold tau and how it was chosen, relative to the data folder."""


def save_guard_threshold(threshold: float, choice: dict, root=None) -> None:
    """Ship ``threshold`` (with the validation record ``choice`` that decided it), listed in the manifest."""
    root = data_root(root)
    write_json(root / GUARD_SETTINGS_FILE, {"threshold": float(threshold), "choice": choice})
    update_manifest(root, [GUARD_SETTINGS_FILE])


def load_guard_threshold(root=None) -> float:
    """The shipped threshold tau, verified against the manifest."""
    root = data_root(root)
    if GUARD_SETTINGS_FILE not in read_manifest(root):
        raise ValueError(
            f"{root} ships no guard threshold ({GUARD_SETTINGS_FILE}): run python -m cstr temperature-guard --select"
        )
    return float(read_verified_json(root, GUARD_SETTINGS_FILE)["threshold"])


def load_guarded_controller(controller, root=None, name: str = "guarded") -> GuardedController:
    """``controller`` behind the shipped guard model and threshold."""
    return GuardedController(controller, load_guard_model(root), load_guard_threshold(root), name=name)

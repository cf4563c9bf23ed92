"""The shipped cost models, the correction's settings, and the corrected controllers ``bc+`` and ``iql+``.

* ``weights/picnn<-seed s>``: the deployable PICNN of each training seed
  (and the dynamics model it was distilled from,
  ``weights/picnn-dynamics<-seed s>``, for a model target);
  ``weights/picnn`` is the one trained with the canonical IQL. Its sidecar
  lists the dataset fields its training read (``"training_inputs"``), and
  the loaded model exposes them as ``training_inputs``.
* ``weights/picnn-full-state<-seed s>``: the full-state ablation
  (target ``"full-state-model"``), served as ``bc+full-state`` and
  ``iql+full-state``, never as ``bc+``/``iql+``.
* ``weights/picnn-offset-free<-seed s>``: the offset-free cost model of each
  training seed (target ``"narx"``, ``offset_free``: it reads an output
  bias, :mod:`cstr.safety.offset_free`), served as ``bc+offset-free`` and
  ``iql+offset-free`` with the bias estimator of ``offset_free.json``.
* ``weights/picnn-with-stress<-seed s>``: the deployed recipe trained on the
  stress scenario's dataset as well as the paper's three, served as
  ``bc+with-stress`` and ``iql+with-stress`` (chapter 8's control,
  :mod:`cstr.experiments.stress_history`); its sidecar lists the datasets
  (``"training_scenarios"``).
* ``weights/picnn-redrawn<-seed s>``: the deployed recipe drawn again, on the
  paper's datasets with the same seed's policies but another random draw
  (:data:`cstr.seeds.REDRAW_SEED_OFFSET`), served as ``bc+redrawn`` and
  ``iql+redrawn``: the stress-history study's control for what retraining
  alone changes.
* ``correction.json``: the correction's settings (K, step size, trust
  region), chosen on validation seeds by ``python -m cstr
  select-cost-model``. They belong to the correction, not to any one cost
  model, so every cost model is deployed with them.
* :func:`load_corrected_controller`: a canonical policy with the cost model
  trained on the same training seed, the pair chapter 7 evaluates.

Every file is checked against the data manifest before it is read.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import numpy as np

from cstr.agents.nn import Normaliser
from cstr.agents.policy import load_policy_controller
from cstr.agents.weights import (
    chosen_training_seed,
    load_sidecar,
    load_verified,
    save_weights,
    seeded_name,
    weight_files,
)
from cstr.safety.correction import CorrectedController, CorrectionConfig
from cstr.safety.cost_model import DEPLOYABLE_TARGETS, FULL_STATE_FIELDS, CostModelConfig, CostModelResult
from cstr.safety.dynamics import DynamicsModel
from cstr.safety.history import OBS_DIM
from cstr.safety.model_minimiser import ModelCostMinimiser
from cstr.safety.narx import NARXConfig, NARXModel, NARXResult
from cstr.safety.offset_free import BiasEstimator, OffsetFreeConfig
from cstr.safety.picnn import PICNN
from cstr.storage import data_root, read_manifest, read_verified_json, update_manifest, verify_files, write_json

COST_MODEL_NAME = "picnn"
FULL_STATE_COST_MODEL_NAME = "picnn-full-state"
"""The full-state ablation's cost model (target ``"full-state-model"``)."""
OFFSET_FREE_COST_MODEL_NAME = "picnn-offset-free"
"""The offset-free cost model (target ``"narx"`` with an output bias): deployable."""
STRESS_HISTORY_COST_MODEL_NAME = "picnn-with-stress"
"""The deployed recipe's cost model trained on the stress scenario's dataset too (chapter 8's control,
:mod:`cstr.experiments.stress_history`): deployable, more plant history than the paper's."""
REDRAWN_COST_MODEL_NAME = "picnn-redrawn"
"""The deployed recipe's cost model drawn again (same data and policies, another random draw): the
stress-history study's control for retraining noise, deployable."""
DEPLOYABLE_COST_MODEL_NAMES = (
    COST_MODEL_NAME,
    OFFSET_FREE_COST_MODEL_NAME,
    STRESS_HISTORY_COST_MODEL_NAME,
    REDRAWN_COST_MODEL_NAME,
)


def redrawn_cost_model_name(draw: int) -> str:
    """The deployed recipe's ``draw``-th redraw on the paper's data (its random draw seeded by the training seed
    plus ``draw`` times :data:`cstr.seeds.REDRAW_SEED_OFFSET`): :data:`REDRAWN_COST_MODEL_NAME` for the first,
    ``"picnn-redrawn-<draw>"`` for the further ones the acceptance screen asks for. Deployable."""
    if draw < 1:
        raise ValueError(f"a redraw is numbered from 1, got {draw}")
    return REDRAWN_COST_MODEL_NAME if draw == 1 else f"{REDRAWN_COST_MODEL_NAME}-{draw}"


def is_deployable_cost_model(name: str) -> bool:
    """Whether cost model ``name`` (unseeded) is one of the deployable ones, a further redraw's
    (:func:`redrawn_cost_model_name` of 2 or more) included."""
    further = re.fullmatch(rf"{re.escape(REDRAWN_COST_MODEL_NAME)}-(\d+)", name)
    return name in DEPLOYABLE_COST_MODEL_NAMES or (further is not None and int(further.group(1)) >= 2)


def earlier_code_seeds(seeds, root=None, name: str = COST_MODEL_NAME) -> list[int]:
    """The training seeds among ``seeds`` whose cost model ``name`` an earlier version of the training code
    trained: its sidecar's config (checked against the manifest) lacks fields today's
    :class:`~cstr.safety.cost_model.CostModelConfig` records. Retraining such a seed with today's code draws
    another network, so a result carried by those seeds alone may be the older code's."""
    root = data_root(root)
    today = set(CostModelConfig.__dataclass_fields__)
    earlier = []
    for seed in seeds:
        files = weight_files(seeded_name(name, seed))
        verify_files(root, list(files))
        if today - set(load_sidecar(root / files[0])["config"]):
            earlier.append(int(seed))
    return earlier


CORRECTION_FILE = "correction.json"
"""The correction's settings, relative to the data folder."""
OFFSET_FREE_FILE = "offset_free.json"
"""The bias estimator of the offset-free correction, relative to the data folder."""


def dynamics_name(name: str = COST_MODEL_NAME) -> str:
    """Where the dynamics model behind cost model ``name`` is stored: ``picnn-seed1`` -> ``picnn-dynamics-seed1``."""
    base, separator, seed = name.partition("-seed")
    return f"{base}-dynamics{separator}{seed}"


def save(
    result: CostModelResult, root=None, name: str = COST_MODEL_NAME, extra: dict | None = None, manifest: bool = True
) -> list[Path]:
    """The PICNN as ``weights/<name>``; the dynamics model behind a ``"model"`` target beside it."""
    root = data_root(root)
    pt_name, json_name = weight_files(name)
    config = (
        asdict(result.config)
        | {
            "target_mean": result.target_mean,
            "target_std": result.target_std,
            "state_window": result.config.state_window,
            "training_inputs": list(result.training_inputs),
        }
        | (extra or {})
    )
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
    """The shipped PICNN, verified against the manifest: ``cost(h[n, 6 W], actions[n, 2]) -> [n]``.

    ``h`` is the window of the last ``model.window`` observations
    (:mod:`cstr.safety.history`; W = 1: the observation). The model carries
    ``target`` and ``training_inputs`` (the dataset fields its training
    read) from its sidecar.
    """
    state, sidecar = load_verified(name, root)
    config = sidecar["config"]
    bias_inputs = 2 if config.get("offset_free", False) else 0
    width = OBS_DIM * config["state_window"] + bias_inputs
    model = PICNN(
        Normaliser(np.zeros(width), np.ones(width)),
        hidden=config["hidden"],
        layers=config["layers"],
        state_hidden=config["state_hidden"],
        bias_inputs=bias_inputs,
    )
    model.load_state_dict(state)
    model.target = config["target"]
    model.training_inputs = tuple(config["training_inputs"])
    model.bias_range = tuple(config.get("bias_range", ())) if bias_inputs else None
    return model.eval()


def load_dynamics_model(root=None, name: str = COST_MODEL_NAME) -> DynamicsModel | NARXModel:
    """The dynamics model the shipped cost model (``name``) was distilled from, verified against the manifest:
    a :class:`cstr.safety.narx.NARXModel` behind a ``"narx"`` target, a full-state
    :class:`cstr.safety.dynamics.DynamicsModel` behind the ablation."""
    root = data_root(root)
    verify_files(root, weight_files(name)[1:])  # the cost model's sidecar says which kind of model this is
    target = load_sidecar(root / weight_files(name)[0])["config"]["target"]
    state, sidecar = load_verified(dynamics_name(name), root)
    config = sidecar["config"]
    if target == "narx":
        width, zeros = OBS_DIM * config["window"], np.zeros(2)
        model = NARXModel(np.zeros(width), np.ones(width), zeros, zeros + 1, config["window"], tuple(config["hidden"]))
    else:
        zeros = np.zeros(5)
        model = DynamicsModel(zeros, zeros + 1, zeros, zeros + 1, hidden=tuple(config["hidden"]))
    model.load_state_dict(state)
    return model.eval()


def load_narx_result(root=None, name: str = COST_MODEL_NAME) -> NARXResult:
    """The NARX model behind cost model ``name`` with its training settings, to distil another cost from."""
    model = load_dynamics_model(root, name)
    if not isinstance(model, NARXModel):
        raise ValueError(f"cost model {name!r} was not distilled from a NARX model")
    config = load_sidecar(data_root(root) / weight_files(dynamics_name(name))[0])["config"]
    fields = {key: value for key, value in config.items() if key in NARXConfig.__dataclass_fields__}
    fields["hidden"] = tuple(fields.get("hidden", model.hidden))
    return NARXResult(model, NARXConfig(**fields))


def check_deployable(model: PICNN, name: str) -> None:
    """Refuse to serve ``model`` as ``bc+``/``iql+`` if its training read simulator-only information."""
    privileged = sorted(set(model.training_inputs) & set(FULL_STATE_FIELDS))
    if model.target not in DEPLOYABLE_TARGETS or privileged:
        raise ValueError(
            f"cost model {name!r} (target {model.target!r}) read {', '.join(privileged) or 'simulator-only data'} "
            "in training; it is an ablation and cannot be served as a deployable corrected controller"
        )


def _save_settings(config, file: str, root=None) -> Path:
    """Write a settings dataclass to ``file`` of the data folder and list it in the manifest."""
    root = data_root(root)
    write_json(root / file, asdict(config))
    update_manifest(root, [file])
    return root / file


def _load_settings(kind, file: str, root=None):
    """The settings shipped in ``file`` (checked against the manifest); ``kind()``'s defaults where none are."""
    root = data_root(root)
    if file not in read_manifest(root):
        return kind()
    return kind(**read_verified_json(root, file))


def save_correction_config(config: CorrectionConfig, root=None) -> Path:
    """Write the correction's settings to ``correction.json`` and list it in the manifest."""
    return _save_settings(config, CORRECTION_FILE, root)


def load_correction_config(root=None) -> CorrectionConfig:
    """The shipped correction settings; the defaults of :class:`CorrectionConfig` where none are shipped."""
    return _load_settings(CorrectionConfig, CORRECTION_FILE, root)


def save_offset_free_config(config: OffsetFreeConfig, root=None) -> Path:
    """Write the bias estimator's settings to ``offset_free.json`` and list it in the manifest."""
    return _save_settings(config, OFFSET_FREE_FILE, root)


def load_offset_free_config(root=None) -> OffsetFreeConfig:
    """The shipped bias estimator; the defaults of :class:`OffsetFreeConfig` where none is shipped."""
    return _load_settings(OffsetFreeConfig, OFFSET_FREE_FILE, root)


def load_corrected_controller(
    policy_name: str,
    root=None,
    seed: int | None = None,
    cost_model: str = COST_MODEL_NAME,
    offset_free: OffsetFreeConfig | None = None,
) -> CorrectedController:
    """``policy_name`` (``"bc"`` or ``"iql"``) with its actions corrected on the cost model trained with it.

    ``seed=None``: the canonical policy, one training seed's (chosen on
    validation seeds), with the cost model trained on that same seed
    (``<cost_model>-seed<s>``), the pair chapter 7 evaluates; without a
    selection record (a data folder trained by hand), the unseeded
    ``cost_model``. With a ``seed``: that training seed's policy and cost
    model. ``cost_model``: ``"picnn"`` (deployable, checked:
    ``bc+``, ``iql+``) or :data:`FULL_STATE_COST_MODEL_NAME` (the ablation,
    ``bc+full-state``, ``iql+full-state``) or
    ``"picnn-offset-free"`` (deployable, checked, with the bias estimator
    ``offset_free``, default the shipped one: ``bc+offset-free``, ``iql+offset-free``).
    """
    root = data_root(root)
    chosen = chosen_training_seed(policy_name, root) if seed is None else seed
    policy_file = policy_name if seed is None else seeded_name(policy_name, seed)
    cost_name = cost_model if chosen is None else seeded_name(cost_model, chosen)
    if seed is None and not (root / weight_files(cost_name)[0]).exists():
        cost_name = cost_model
    model = load_cost_model(root, cost_name)
    if is_deployable_cost_model(cost_model):
        check_deployable(model, cost_name)
    suffix = "+" if cost_model == COST_MODEL_NAME else "+" + cost_model.removeprefix(COST_MODEL_NAME + "-")
    estimator = None
    if model.bias_inputs:
        settings = load_offset_free_config(root) if offset_free is None else offset_free
        dynamics = load_dynamics_model(root, cost_name) if settings.estimator == "prediction-error" else None
        estimator = BiasEstimator(settings, model.bias_range, dynamics)
    return CorrectedController(
        load_policy_controller(policy_file, root),
        model,
        load_correction_config(root),
        name=f"{policy_name}{suffix}",
        bias_estimator=estimator,
    )


def load_model_cost_minimiser(root=None, offset_free: bool = True) -> ModelCostMinimiser:
    """Chapter 8's control ``narx-search`` (``offset_free``: ``narx-search-offset-free``): the NARX model behind
    the canonical ``iql+``'s cost, its cost (horizon, discount, limit weight) minimised by search, with
    the shipped bias estimator and the canonical offset-free cost's bias range when ``offset_free``."""
    root = data_root(root)
    seed = chosen_training_seed("iql", root)
    name = COST_MODEL_NAME if seed is None else seeded_name(COST_MODEL_NAME, seed)
    config = load_sidecar(root / weight_files(name)[0])["config"]
    dynamics = load_dynamics_model(root, name)
    estimator = None
    if offset_free:
        offset_free_name = (
            OFFSET_FREE_COST_MODEL_NAME if seed is None else seeded_name(OFFSET_FREE_COST_MODEL_NAME, seed)
        )
        bias_range = load_cost_model(root, offset_free_name).bias_range
        # the estimator runs its own float64 copy of the model
        estimator = BiasEstimator(load_offset_free_config(root), bias_range, dynamics)
    return ModelCostMinimiser(
        dynamics,
        horizon=config["horizon"],
        discount=config["discount"],
        limit_weight=config["limit_weight"],
        bias_estimator=estimator,
        name="narx-search-offset-free" if offset_free else "narx-search",
    )

"""The shipped cost models, the correction's settings, and the corrected controllers ``bc+`` and ``iql+``.

* ``weights/picnn<-seed s>``: the PICNN of each training seed (and its
  dynamics model, ``weights/picnn-dynamics<-seed s>``, for the ``"model"``
  target); ``weights/picnn`` is the one trained with the canonical IQL.
* ``correction.json``: the correction's settings (K, step size, trust
  region), chosen on validation seeds by ``python -m cstr
  select-cost-model``. They belong to the correction, not to any one cost
  model, so every cost model is deployed with them.
* :func:`load_corrected_controller`: a canonical policy with the cost model
  trained on the same training seed, the pair chapter 7 evaluates.

Every file is checked against the data manifest before it is read.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from cstr.agents.nn import Normaliser
from cstr.agents.policy import load_policy_controller
from cstr.agents.weights import chosen_training_seed, load_verified, save_weights, seeded_name, weight_files
from cstr.safety.correction import CorrectedController, CorrectionConfig
from cstr.safety.cost_model import CostModelResult
from cstr.safety.dynamics import DynamicsModel
from cstr.safety.picnn import PICNN
from cstr.storage import data_root, read_manifest, read_verified_json, update_manifest, write_json

COST_MODEL_NAME = "picnn"
CORRECTION_FILE = "correction.json"
"""The correction's settings, relative to the data folder."""


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
        asdict(result.config) | {"target_mean": result.target_mean, "target_std": result.target_std} | (extra or {})
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
    """The shipped PICNN, verified against the manifest: ``cost(obs[n, 6], actions[n, 2]) -> [n]``."""
    state, sidecar = load_verified(name, root)
    config = sidecar["config"]
    model = PICNN(
        Normaliser(np.zeros(6), np.ones(6)),
        hidden=config["hidden"],
        layers=config["layers"],
        state_hidden=config["state_hidden"],
    )
    model.load_state_dict(state)
    return model.eval()


def load_dynamics_model(root=None, name: str = COST_MODEL_NAME) -> DynamicsModel:
    """The dynamics model the shipped cost model (``name``) was distilled from, verified against the manifest."""
    state, sidecar = load_verified(dynamics_name(name), root)
    zeros = np.zeros(5)
    model = DynamicsModel(zeros, zeros + 1, zeros, zeros + 1, hidden=tuple(sidecar["config"]["hidden"]))
    model.load_state_dict(state)
    return model.eval()


def save_correction_config(config: CorrectionConfig, root=None) -> Path:
    """Write the correction's settings to ``correction.json`` and list it in the manifest."""
    root = data_root(root)
    write_json(root / CORRECTION_FILE, asdict(config))
    update_manifest(root, [CORRECTION_FILE])
    return root / CORRECTION_FILE


def load_correction_config(root=None) -> CorrectionConfig:
    """The shipped correction settings; the defaults of :class:`CorrectionConfig` where none are shipped."""
    root = data_root(root)
    if CORRECTION_FILE not in read_manifest(root):
        return CorrectionConfig()
    return CorrectionConfig(**read_verified_json(root, CORRECTION_FILE))


def load_corrected_controller(policy_name: str, root=None, seed: int | None = None) -> CorrectedController:
    """``policy_name`` (``"bc"`` or ``"iql"``) with its actions corrected on the cost model trained with it.

    ``seed=None``: the canonical policy, one training seed's (chosen on
    validation seeds), with the cost model trained on that same seed
    (``picnn-seed<s>``), the pair chapter 7 evaluates; without a selection
    record (a data folder trained by hand), the shipped ``picnn``. With a
    ``seed``: that training seed's policy and cost model.
    """
    root = data_root(root)
    chosen = chosen_training_seed(policy_name, root) if seed is None else seed
    policy_file = policy_name if seed is None else seeded_name(policy_name, seed)
    cost_name = COST_MODEL_NAME if chosen is None else seeded_name(COST_MODEL_NAME, chosen)
    if seed is None and not (root / weight_files(cost_name)[0]).exists():
        cost_name = COST_MODEL_NAME
    return CorrectedController(
        load_policy_controller(policy_file, root),
        load_cost_model(root, cost_name),
        load_correction_config(root),
        name=f"{policy_name}+",
    )

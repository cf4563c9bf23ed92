"""Shipped network weights: where they live, how they are written and read back.

Weights are saved as a plain ``state_dict`` of tensors (``weights/<name>.pt``)
and loaded with ``torch.load(weights_only=True)``; the hyperparameters and
the training history travel in a JSON sidecar beside them
(``weights/<name>.json``). Both are listed in the data manifest and
verified before loading. A training seed's weights are ``<name>-seed<s>``;
the canonical ``<name>`` is a copy of the seed chosen on validation seeds,
recorded in ``results/<algorithm>_selection.json`` (:func:`chosen_training_seed`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from torch import nn

from cstr.storage import data_root, verify_files

WEIGHTS_DIR = "weights"


def weight_files(name: str) -> list[str]:
    return [f"{WEIGHTS_DIR}/{name}.pt", f"{WEIGHTS_DIR}/{name}.json"]


def seeded_name(name: str, seed: int) -> str:
    """The weight-file name of a training seed, e.g. ``iql-seed2``."""
    return f"{name}-seed{seed}"


def copy_weights(root, source: str, target: str, missing_ok: bool = False) -> list[str]:
    """Copy weights ``source`` (``.pt`` and sidecar) to ``target`` in the data folder ``root``; the files written.

    Shipping a training seed or a candidate under the canonical name is such a copy;
    the caller refreshes the manifest. ``missing_ok``: copy nothing if ``source`` is absent.
    """
    root = data_root(root)
    if missing_ok and not (root / weight_files(source)[0]).exists():
        return []
    for source_file, target_file in zip(weight_files(source), weight_files(target)):
        shutil.copyfile(root / source_file, root / target_file)
    return weight_files(target)


def save_weights(module: nn.Module, config: dict, path: Path, history: dict | None = None) -> None:
    """``path`` (.pt, tensors only) plus ``path.with_suffix('.json')`` (config and training history)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(module.state_dict(), path)
    sidecar = {"config": config, "history": history or {}}
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def load_sidecar(path: Path) -> dict:
    return json.loads(Path(path).with_suffix(".json").read_text(encoding="utf-8"))


def load_state_dict(path: Path) -> dict:
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def load_verified(name: str, root=None) -> tuple[dict, dict]:
    """``(state_dict, sidecar)`` of the shipped weights ``name``, after checking both files against the manifest."""
    root = data_root(root)
    pt_name, json_name = weight_files(name)
    verify_files(root, [pt_name, json_name])
    state = load_state_dict(root / pt_name)
    # a checksum proves the file is the one trained, not that the training went well
    broken = [key for key, value in state.items() if value.is_floating_point() and not bool(value.isfinite().all())]
    if broken:
        named = ", ".join(broken[:3]) + (", ..." if len(broken) > 3 else "")
        raise ValueError(f"{pt_name} in {root} holds non-finite weights ({named}): its training diverged; retrain it")
    return state, load_sidecar(root / pt_name)


def selection_file(algorithm: str) -> str:
    """Where :func:`select_seed` records its choice, relative to the data folder."""
    return f"results/{algorithm}_selection.json"


def chosen_training_seed(algorithm: str, root=None) -> int | None:
    """The training seed shipped as the canonical ``algorithm`` (verified record), ``None`` without a record."""

    root = data_root(root)
    name = selection_file(algorithm)
    if not (root / name).exists():
        return None
    verify_files(root, [name])
    return int(json.loads((root / name).read_text(encoding="utf-8"))["chosen_seed"])

"""Training and shipping the offline agents (``python -m cstr train bc|iql``).

The shipped weights live in ``data/weights/`` (``<name>.pt``: a state dict of
tensors, loaded with ``torch.load(weights_only=True)``; ``<name>.json``: the
hyperparameters and the training history), both listed in
``data/MANIFEST.sha256`` and verified before loading. ``make book`` uses the
shipped weights; training runs only when asked.

Training seeds are below 1,000,000 (evaluation seeds start there).
"""

from __future__ import annotations

from pathlib import Path

from cstr.agents import bc, iql
from cstr.agents.weights import save_weights, weight_files
from cstr.data.dataset import training_arrays
from cstr.seeds import check_training_seed
from cstr.storage import data_root, update_manifest

ALGORITHMS = ("bc", "iql")
"""The offline agents :func:`train_agent` trains."""
INCREMENTS_SUFFIX = "-increments"
"""``bc-increments``, ``iql-increments``: the same algorithms on input increments (:mod:`cstr.agents.increments`)."""


def variant_algorithm(name: str) -> tuple[str, dict]:
    """``"bc"`` -> ``("bc", {})``; ``"iql-increments"`` -> ``("iql", {"action_parameterisation": "increments"})``:
    the algorithm behind a trained policy's name and the config fields that make the variant."""
    if name.endswith(INCREMENTS_SUFFIX):
        algorithm, overrides = name[: -len(INCREMENTS_SUFFIX)], {"action_parameterisation": "increments"}
    else:
        algorithm, overrides = name, {}
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"unknown policy {name!r}; choose one of {', '.join(ALGORITHMS)} (optionally{INCREMENTS_SUFFIX})"
        )
    return algorithm, overrides


def train_agent(
    algorithm: str, updates: int | None = None, seed: int = 0, data_root=None, progress: bool = True, **overrides
):
    """Train ``bc`` or ``iql`` on the three scenarios' datasets; returns the training result."""
    check_training_seed(seed)
    data = training_arrays(root=data_root)
    if algorithm == "bc":
        config = bc.BCConfig(seed=seed, **overrides)
        if updates is not None:
            config.num_updates = int(updates)
        return bc.train(data, config, progress=progress)
    if algorithm == "iql":
        config = iql.IQLConfig(seed=seed, **overrides)
        if updates is not None:
            config.num_updates = int(updates)
        return iql.train(data, config, progress=progress)
    raise ValueError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")


def save_agent(algorithm: str, result, root=None, name: str | None = None, manifest: bool = True) -> list[Path]:
    """Write the weights and sidecar of a training result and (unless ``manifest=False``,
    for parallel writers that leave it to their parent) refresh the manifest."""
    root = data_root(root)
    name = name or algorithm
    pt_name, json_name = weight_files(name)
    if algorithm == "bc":
        config = bc.config_to_dict(result.config) | {"training_inputs": list(bc.TRAINING_INPUTS)}
        save_weights(result.policy, config, root / pt_name, result.history)
    else:
        config = iql.config_to_dict(result.config) | {
            "reward_scale_used": result.reward_scale,
            "training_inputs": list(iql.TRAINING_INPUTS),
        }
        save_weights(result.agent, config, root / pt_name, result.history)
    if manifest:
        update_manifest(root, [pt_name, json_name])
    return [root / pt_name, root / json_name]

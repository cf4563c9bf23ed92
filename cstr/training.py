"""Training and shipping the offline agents: ``python -m cstr train {bc|iql}``.

The shipped weights live in ``data/weights/`` (``<name>.pt``: a state dict of
tensors, loaded with ``torch.load(weights_only=True)``; ``<name>.json``: the
hyperparameters and the training history), both listed in
``data/MANIFEST.sha256`` and verified before loading. ``make book`` uses the
shipped weights; training runs only when asked.

Training seeds are below 1,000,000 (evaluation seeds start there).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from cstr.agents import bc, iql
from cstr.agents.common import PolicyController, load_sidecar, load_state_dict, save_weights, training_arrays
from cstr.controllers import register_controller
from cstr.data import EVALUATION_SEED_START, default_root, update_manifest, verify_files

WEIGHTS_DIR = "weights"
ALGORITHMS = ("bc", "iql", "picnn")


def weight_files(name: str) -> list[str]:
    return [f"{WEIGHTS_DIR}/{name}.pt", f"{WEIGHTS_DIR}/{name}.json"]


def check_training_seed(seed: int) -> None:
    if not 0 <= int(seed) < EVALUATION_SEED_START:
        raise ValueError(f"training seed {seed} must lie in [0, {EVALUATION_SEED_START:,}); "
                         "seeds from there up are reserved for evaluation")


def train_agent(algorithm: str, updates: int | None = None, seed: int = 0, data_root=None, progress: bool = True,
                **overrides):
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
    root = default_root() if root is None else Path(root)
    name = name or algorithm
    pt_name, json_name = weight_files(name)
    if algorithm == "bc":
        config = bc.config_to_dict(result.config)
        save_weights(result.policy, config, root / pt_name, result.history)
    else:
        config = iql.config_to_dict(result.config) | {"reward_scale_used": result.reward_scale}
        save_weights(result.agent, config, root / pt_name, result.history)
    if manifest:
        update_manifest(root, [pt_name, json_name])
    return [root / pt_name, root / json_name]


def load_agent(name: str, root=None):
    """The shipped network of ``name`` ("bc" -> the BC policy, "iql" -> the whole IQL agent), verified."""
    root = default_root() if root is None else Path(root)
    pt_name, json_name = weight_files(name)
    verify_files(root, [pt_name, json_name])
    sidecar = load_sidecar(root / pt_name)
    algorithm = "bc" if name.startswith("bc") else "iql"
    module = bc.build_policy(sidecar["config"]) if algorithm == "bc" else iql.build_agent(sidecar["config"])
    module.load_state_dict(load_state_dict(root / pt_name))
    return module.eval()


def load_history(name: str, root=None) -> dict:
    root = default_root() if root is None else Path(root)
    return load_sidecar(root / weight_files(name)[0])["history"]


def load_policy_controller(name: str, root=None) -> PolicyController:
    module = load_agent(name, root)
    policy = module if name.startswith("bc") else module.policy
    return PolicyController(policy, name=name)


register_controller("bc", lambda root=None: load_policy_controller("bc", root))
register_controller("iql", lambda root=None: load_policy_controller("iql", root))


def train_cost_model(target: str = "model", updates: int | None = None, seed: int = 0, data_root=None,
                     iql_root=None, iql_name: str = "iql", progress: bool = True, iql_result=None,
                     dynamics_updates: int | None = None, policies=None):
    """Fit the PICNN cost model on the datasets (see :mod:`cstr.cost_model`). The critic targets
    read an IQL agent: ``iql_result`` (a fresh :class:`cstr.agents.iql.IQLResult`) or else the
    shipped ``iql_name``. The ``"model"`` target samples actions around the proposals of
    ``policies`` (controllers with ``act``; default: the shipped BC and IQL), the ones it will correct."""
    from cstr import cost_model

    check_training_seed(seed)
    agent, reward_scale = None, 1.0
    if target in cost_model.AGENT_TARGETS:
        if iql_result is not None:
            agent, reward_scale = iql_result.agent, iql_result.reward_scale
        else:
            agent = load_agent(iql_name, iql_root)
            reward_scale = load_sidecar((default_root() if iql_root is None else Path(iql_root))
                                        / weight_files(iql_name)[0])["config"]["reward_scale_used"]
    config = cost_model.CostModelConfig(target=target, seed=seed)
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
    return cost_model.train(agent, data, config, reward_scale=reward_scale, progress=progress, proposals=proposals)


def _train_command(args) -> int:
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    if args.algorithm == "picnn":
        from cstr import cost_model
        from cstr.correction import CorrectionConfig

        result = train_cost_model(args.target, updates=args.updates, seed=args.seed, iql_root=args.out)
        written = cost_model.save(result, CorrectionConfig(), root=args.out)
    else:
        result = train_agent(args.algorithm, updates=args.updates, seed=args.seed, progress=True)
        written = save_agent(args.algorithm, result, root=args.out)
    history = result.history
    last = {key: values[-1] for key, values in history.items() if key != "step" and values}
    print(f"trained {args.algorithm} in {time.perf_counter() - started:.1f} s; final logged losses: "
          + ", ".join(f"{key} {value:.4g}" for key, value in last.items()))
    for path in written:
        print(f"wrote {path}")
    return 0


def register(subparsers) -> None:
    from cstr.cost_model import TARGETS, CostModelConfig

    parser = subparsers.add_parser("train", help="train BC or IQL on the shipped datasets and ship the weights")
    parser.add_argument("algorithm", choices=ALGORITHMS)
    parser.add_argument("--updates", type=int, default=None, help="gradient updates (default: the config's)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (below 1,000,000)")
    parser.add_argument("--out", type=Path, default=None, help="data folder to write into (default: data/)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for these sizes)")
    parser.add_argument("--target", choices=TARGETS, default=CostModelConfig().target,
                        help="the PICNN's training target (picnn only; see cstr.cost_model)")
    parser.set_defaults(func=_train_command)


def selection_file(algorithm: str) -> str:
    """Where :func:`select_seed` records its choice, relative to the data folder."""
    return f"results/{algorithm}_selection.json"


def chosen_training_seed(algorithm: str, root=None) -> int | None:
    """The training seed shipped as the canonical ``algorithm`` (verified record), ``None`` without a record."""
    import json

    root = default_root() if root is None else Path(root)
    name = selection_file(algorithm)
    if not (root / name).exists():
        return None
    verify_files(root, [name])
    return int(json.loads((root / name).read_text(encoding="utf-8"))["chosen_seed"])


def select_seed(algorithm: str, seeds, root=None, episodes: int = 30, extra_files=()) -> dict:
    """Choose the training seed of ``algorithm`` on validation seeds and ship it as the canonical one.

    Evaluates the per-seed weights ``weights/<algorithm>-seed<s>`` (all three
    scenarios, ``episodes`` validation episodes each, seeds from
    :data:`cstr.cost_model.VALIDATION_SEED_START`, never evaluation seeds),
    copies the best (highest mean total reward over the scenarios) to
    ``weights/<algorithm>``, and records the comparison in
    ``results/<algorithm>_selection.json``. ``extra_files`` names further
    per-seed weights that follow the choice (``"picnn"``: the cost model
    trained on that seed's IQL).
    """
    import shutil

    import numpy as np

    from cstr.cost_model import VALIDATION_SEED_START, validation_returns
    from cstr.data import write_json

    root = default_root() if root is None else Path(root)
    seeds = [int(s) for s in seeds]
    controllers = {f"seed{s}": load_policy_controller(f"{algorithm}-seed{s}", root) for s in seeds}
    returns = validation_returns(controllers, episodes=episodes)
    best = max(seeds, key=lambda s: np.mean(list(returns[f"seed{s}"].values())))
    copied = []
    for name in (algorithm, *extra_files):
        for source, target in zip(weight_files(f"{name}-seed{best}"), weight_files(name)):
            shutil.copyfile(root / source, root / target)
            copied.append(target)
    (root / "results").mkdir(parents=True, exist_ok=True)
    record = {"algorithm": algorithm, "seeds": seeds, "chosen_seed": best, "episodes": episodes,
              "validation_seed_start": VALIDATION_SEED_START, "validation_returns": returns,
              "criterion": "highest mean total reward over the three scenarios on validation seeds"}
    write_json(root / selection_file(algorithm), record)
    update_manifest(root, copied + [selection_file(algorithm)])
    return record

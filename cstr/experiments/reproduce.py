"""The paper's comparison from scratch: ``python -m cstr reproduce`` (``make reproduce``).

Stages, each timed and printed:

1. **datasets**: regenerate the three scenarios' datasets (100 episodes each, seed 0);
2. **pi-tuned**: re-optimise the tuned PI baseline on its training seeds;
3. **training**: BC, IQL and the PICNN cost model (with the dynamics model
   it is distilled from), the full-state ablation's and the offset-free one
   (warm-started from the first, with the bias range chosen on validation
   seeds, :mod:`cstr.experiments.offset_free_selection`) for every training seed
   (saved as ``weights/<name>-seed<s>``), two seeds at a time on the two
   cores; then the seed of BC and of IQL (with its PICNN) that does best on
   validation seeds becomes the canonical one ``load_controller`` serves
   (:func:`cstr.experiments.selection.select_seed`);
4. **evaluation**: ``pi``, ``pi-tuned``, ``bc``, ``iql``, ``bc+``, ``iql+`` in
   all three scenarios on the same evaluation episodes (seeds from
   1,000,000), every learned controller once per training seed;
5. **results**: per-episode metrics (``data/results/evaluation.json``) and
   trajectories of the first evaluation episode (``trajectories.npz``),
   both listed in the manifest. Chapter 7 renders them.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import numpy as np
import torch

from cstr.agents.policy import PolicyController, load_policy_controller
from cstr.agents.training import save_agent, train_agent
from cstr.agents.weights import chosen_training_seed, copy_weights, load_sidecar, seeded_name, weight_files
from cstr.control.pi_tuning import PI_TUNED_FILE, tune_pi
from cstr.data.generation import generate
from cstr.experiments.evaluation import evaluate
from cstr.experiments.offset_free_selection import chosen_bias_range, train_offset_free_seed
from cstr.experiments.registry import FIXED_NAMES, TRAINED_NAMES, load_controller, training_seed_controller
from cstr.experiments.selection import select_seed
from cstr.experiments.train import train_in_processes
from cstr.plant.scenarios import ALL_SCENARIO_NAMES
from cstr.safety.cost_model import CostModelConfig, train_cost_model
from cstr.safety.shipped import (
    COST_MODEL_NAME,
    FULL_STATE_COST_MODEL_NAME,
    OFFSET_FREE_COST_MODEL_NAME,
    dynamics_name,
    save,
)
from cstr.seeds import EVALUATION_SEED_START
from cstr.storage import add_data_argument, data_root, update_manifest, write_json, write_npz

RESULTS_DIR = "results"


def chosen_target(root: Path) -> str:
    """The cost-model target chosen on validation seeds (``select-cost-model``), else the default."""
    try:
        return load_sidecar(Path(root) / weight_files(COST_MODEL_NAME)[0])["config"]["target"]
    except OSError:
        return CostModelConfig().target


def train_seed_cost_model(seed: int, root, target: str, name: str, updates: dict, policies=None, iql_result=None):
    """The cost model ``<name>-seed<s>`` of one training seed, sampled around that seed's BC and IQL proposals."""
    if policies is None:
        policies = [load_policy_controller(seeded_name(base, seed), root) for base in ("bc", "iql")]
    result = train_cost_model(
        target,
        updates=updates.get("picnn"),
        seed=seed,
        data_root=root,
        iql_root=root,
        iql_name=seeded_name("iql", seed),
        iql_result=iql_result,
        progress=False,
        dynamics_updates=updates.get("dynamics"),
        policies=policies,
    )
    # the workers leave the manifest to their parent: concurrent rewrites would lose entries
    return save(result, root=root, name=seeded_name(name, seed), manifest=False), result


def train_seed(args) -> dict:
    """Train BC, IQL and the PICNN cost models for one training seed (runs in a worker process)."""
    seed, root, updates = args
    torch.set_num_threads(1)
    times = {}
    trained = {}
    for algorithm in ("bc", "iql"):
        started = time.perf_counter()
        trained[algorithm] = train_agent(
            algorithm, updates=updates.get(algorithm), seed=seed, data_root=root, progress=False
        )
        save_agent(algorithm, trained[algorithm], root=root, name=seeded_name(algorithm, seed), manifest=False)
        times[algorithm] = time.perf_counter() - started
    policies = [PolicyController(trained["bc"].policy), PolicyController(trained["iql"].policy)]
    cost_models = {}
    for target, name in ((chosen_target(root), COST_MODEL_NAME), ("full-state-model", FULL_STATE_COST_MODEL_NAME)):
        started = time.perf_counter()
        _, cost_models[name] = train_seed_cost_model(seed, root, target, name, updates, policies, trained["iql"])
        times[name] = time.perf_counter() - started
    if cost_models[COST_MODEL_NAME].config.target == "narx":
        started = time.perf_counter()
        train_offset_free_seed(
            seed,
            root,
            chosen_bias_range(root),
            updates=updates.get("offset-free"),
            base=cost_models[COST_MODEL_NAME],
            policies=policies,
        )
        times[OFFSET_FREE_COST_MODEL_NAME] = time.perf_counter() - started
    return {"seed": seed, "seconds": times}


def cost_model_seed(args) -> dict:
    """One training seed's cost model ``name`` from the shipped per-seed BC and IQL (runs in a worker process)."""
    seed, root, target, name, updates = args
    torch.set_num_threads(1)
    started = time.perf_counter()
    written, _ = train_seed_cost_model(seed, root, target, name, updates)
    return {"seed": seed, "name": f"{name} ({target})", "seconds": time.perf_counter() - started, "written": written}


def train_cost_models(seeds, root=None, target: str | None = None, name: str = COST_MODEL_NAME, workers: int = 2):
    """Retrain cost model ``name`` for every training seed, from the shipped per-seed policies, in parallel."""
    root = data_root(root)
    target = target or chosen_target(root)
    written = train_in_processes(cost_model_seed, [(int(s), root, target, name, {}) for s in seeds], root, workers)
    if name == COST_MODEL_NAME:
        ship_canonical_cost_model(root)
    return written


def ship_canonical_cost_model(root) -> list[str]:
    """Copy the cost model of the canonical IQL's training seed (and its dynamics model) to ``weights/picnn``:
    the model behind ``iql+``, the one chapters 5 and 6 examine."""
    root = data_root(root)
    seed = chosen_training_seed("iql", root)
    if seed is None:
        return []
    copied = []
    for name in (COST_MODEL_NAME, dynamics_name(COST_MODEL_NAME)):
        copied += copy_weights(root, seeded_name(name, seed), name, missing_ok=True)
    update_manifest(root, copied)
    return copied


def evaluate_all(seeds, episodes: int, root: Path, progress: bool = True) -> dict:
    """Every controller in every scenario; learned ones once per training seed."""
    results = {
        "episodes": episodes,
        "first_seed": EVALUATION_SEED_START,
        "training_seeds": list(seeds),
        "controllers": {},
    }
    trajectories = {}
    # the stored trajectory of a learned controller is its canonical seed's, the one chapter 7 draws beside it
    canonical = {}
    for name in TRAINED_NAMES:
        chosen = chosen_training_seed(name.partition("+")[0], root)
        canonical[name] = chosen if chosen in seeds else seeds[0]
    jobs = [(name, None) for name in FIXED_NAMES] + [(name, s) for name in TRAINED_NAMES for s in seeds]
    for name, seed in jobs:
        entry = results["controllers"].setdefault(name, {})
        for scenario in ALL_SCENARIO_NAMES:
            controller = load_controller(name, root) if seed is None else training_seed_controller(name, seed, root)
            evaluation = evaluate(controller, scenario, episodes, EVALUATION_SEED_START, name=name)
            key = "all" if seed is None else f"seed{seed}"
            entry.setdefault(scenario, {})[key] = evaluation.to_record()
            if seed is None or seed == canonical[name]:
                rollout = evaluation.rollout
                length = int(rollout["lengths"][0])
                trajectories[f"{name}/{scenario}/states"] = rollout["next_states"][0, :length]
                trajectories[f"{name}/{scenario}/actions"] = rollout["actions"][0, :length].astype(np.float64)
            if progress:
                mean = np.mean([e["total_reward"] for e in evaluation.episodes])
                print(f"  {name:8s} {key:6s} {scenario:10s} mean total reward {mean:9.3f}", flush=True)
    return results, trajectories


def save_results(results: dict, trajectories: dict, root: Path, stages: dict) -> None:
    """``results/evaluation.json`` and ``results/trajectories.npz``, listed in the manifest."""
    (root / RESULTS_DIR).mkdir(parents=True, exist_ok=True)
    results["stage_seconds"] = dict(stages)
    write_json(root / RESULTS_DIR / "evaluation.json", results)
    write_npz(root / RESULTS_DIR / "trajectories.npz", trajectories)
    update_manifest(root, [f"{RESULTS_DIR}/evaluation.json", f"{RESULTS_DIR}/trajectories.npz"])


def evaluate_only(seeds=(0, 1, 2), episodes: int = 100, root=None) -> dict:
    """Only the evaluation and results stages, on the weights already in ``root`` (after retraining a cost model)."""
    root = data_root(root)
    started = time.perf_counter()
    results, trajectories = evaluate_all([int(s) for s in seeds], episodes, root)
    stages = {"evaluation": time.perf_counter() - started}
    save_results(results, trajectories, root, stages)
    print(f"[evaluation] {stages['evaluation']:.1f} s", flush=True)
    return stages


def run(
    seeds=(0, 1, 2),
    episodes: int = 100,
    root=None,
    workers: int = 2,
    data_episodes: int = 100,
    updates: dict | None = None,
    tune_evaluations: int = 160,
) -> dict:

    root = data_root(root)
    updates = updates or {}
    seeds = [int(s) for s in seeds]
    stages = {}
    total = time.perf_counter()

    def stage(name, started):
        stages[name] = time.perf_counter() - started
        print(f"[{name}] {stages[name]:.1f} s", flush=True)

    started = time.perf_counter()
    print("[datasets] generating", flush=True)
    generate(ALL_SCENARIO_NAMES, episodes=data_episodes, seed=0, out=root, progress=False)
    stage("datasets", started)

    started = time.perf_counter()
    print("[pi-tuned] optimising", flush=True)
    result = tune_pi(max_evaluations=tune_evaluations)
    result.pop("seconds")
    write_json(root / PI_TUNED_FILE, result)
    update_manifest(root, [PI_TUNED_FILE])
    stage("pi-tuned", started)

    started = time.perf_counter()
    print(f"[training] BC, IQL and the PICNN for training seeds {seeds}, {workers} at a time", flush=True)
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(workers, len(seeds))) as pool:
        for report in pool.imap_unordered(train_seed, [(s, root, updates) for s in seeds]):
            print(
                f"  seed {report['seed']}: " + ", ".join(f"{k} {v:.0f} s" for k, v in report["seconds"].items()),
                flush=True,
            )
    names = []
    for s in seeds:
        for base in ("bc", "iql"):
            names += weight_files(seeded_name(base, s))
        for cost_name in (COST_MODEL_NAME, FULL_STATE_COST_MODEL_NAME, OFFSET_FREE_COST_MODEL_NAME):
            names += [name for name in weight_files(seeded_name(cost_name, s)) if (root / name).exists()]
            dynamics_files = weight_files(dynamics_name(seeded_name(cost_name, s)))
            names += [name for name in dynamics_files if (root / name).exists()]
    update_manifest(root, names)
    select_seed("bc", seeds, root)
    # the cost models of the chosen seed follow IQL's choice, with their dynamics models
    follows = []
    for cost_name in (COST_MODEL_NAME, FULL_STATE_COST_MODEL_NAME):
        follows.append(cost_name)
        if (root / weight_files(dynamics_name(seeded_name(cost_name, seeds[0])))[0]).exists():
            follows.append(dynamics_name(cost_name))
    select_seed("iql", seeds, root, extra_files=tuple(follows))
    stage("training", started)

    started = time.perf_counter()
    print(
        f"[evaluation] {len(FIXED_NAMES + TRAINED_NAMES)} controllers x "
        f"{len(ALL_SCENARIO_NAMES)} scenarios x {episodes} episodes",
        flush=True,
    )
    results, trajectories = evaluate_all(seeds, episodes, root)
    stage("evaluation", started)

    started = time.perf_counter()
    save_results(results, trajectories, root, stages)
    stage("results", started)
    stages["total"] = time.perf_counter() - total
    print(f"[total] {stages['total']:.1f} s", flush=True)
    return stages


def register(subparsers) -> None:
    models = subparsers.add_parser(
        "train-cost-models", help="retrain a cost model for every training seed from the shipped per-seed BC and IQL"
    )
    models.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    models.add_argument("--target", default=None, help="cost-model target (default: the shipped picnn's)")
    models.add_argument("--name", default=COST_MODEL_NAME, help=f"weights name (default {COST_MODEL_NAME})")
    models.add_argument("--workers", type=int, default=2, help="processes in parallel (default 2)")
    add_data_argument(models)
    models.set_defaults(
        func=lambda args: train_cost_models(args.seeds, args.data, args.target, args.name, args.workers) and 0
    )

    parser = subparsers.add_parser("reproduce", help="datasets, training, evaluation and results from scratch")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes per scenario (default 100)")
    parser.add_argument("--workers", type=int, default=2, help="training processes in parallel (default 2)")
    parser.add_argument(
        "--evaluation-only", action="store_true", help="only evaluate the shipped weights; write the results"
    )
    add_data_argument(parser)

    def command(args):
        torch.set_num_threads(1)
        if args.evaluation_only:
            return evaluate_only(args.seeds, args.episodes, args.data) and 0
        return run(args.seeds, args.episodes, args.data, args.workers) and 0

    parser.set_defaults(func=command)

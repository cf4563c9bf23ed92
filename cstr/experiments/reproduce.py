"""This book's rebuild of the paper's comparison, from scratch: ``python -m cstr reproduce`` (``make reproduce``).

Stages, each timed and printed:

1. **datasets**: regenerate the three scenarios' datasets (100 episodes each, seed 0);
2. **pi-tuned**: re-optimise the tuned PI baseline on its training seeds;
3. **training**: BC, IQL and the PICNN cost model (with the dynamics model
   it is distilled from), the full-state ablation's and the offset-free one
   (warm-started from the first, with the bias range chosen on validation
   seeds, :mod:`cstr.experiments.offset_free_selection`) for every training seed
   (saved as ``weights/<name>-seed<s>``): a seed x stage grid of jobs
   (:data:`TRAINING_STAGES`) on ``--workers`` local processes or a Ray
   cluster (:mod:`cstr.experiments.parallel`); then the seed of BC and of IQL (with its PICNN) that does best on
   validation seeds becomes the canonical one ``load_controller`` serves
   (:func:`cstr.experiments.selection.select_seed`);
4. **evaluation**: ``pi``, ``pi-tuned``, ``bc``, ``iql``, ``bc+``, ``iql+`` in
   all three scenarios on the same evaluation episodes (seeds from
   1,000,000), every learned controller once per training seed, as a
   controller x seed x scenario grid of jobs on the same workers;
5. **results**: per-episode metrics (``data/results/evaluation.json``) and
   trajectories of the first evaluation episode (``trajectories.npz``),
   both listed in the manifest. Chapter 7 renders them.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from cstr.agents.policy import load_policy_controller
from cstr.agents.training import save_agent, train_agent, variant_algorithm
from cstr.agents.weights import chosen_training_seed, copy_weights, load_sidecar, seeded_name, weight_files
from cstr.control.pi_tuning import PI_TUNED_FILE, tune_pi
from cstr.data.dataset import training_arrays
from cstr.data.generation import generate
from cstr.experiments.evaluation import evaluate
from cstr.experiments.offset_free_selection import chosen_bias_range, train_offset_free_seed
from cstr.experiments.parallel import add_parallel_arguments, check_backend, run_jobs
from cstr.experiments.registry import (
    FIXED_NAMES,
    INCREMENT_NAMES,
    TRAINED_NAMES,
    load_controller,
    training_seed_controller,
)
from cstr.experiments.selection import select_seed
from cstr.experiments.train import train_in_processes
from cstr.plant.scenarios import ALL_SCENARIO_NAMES, SCENARIO_NAMES
from cstr.safety.cost_model import CostModelConfig, train_cost_model
from cstr.safety.shipped import (
    COST_MODEL_NAME,
    FULL_STATE_COST_MODEL_NAME,
    OFFSET_FREE_COST_MODEL_NAME,
    dynamics_name,
    save,
)
from cstr.seeds import EVALUATION_SEED_START, TRAINING_SEEDS, TRAINING_SEEDS_HELP
from cstr.storage import add_data_argument, data_root, update_manifest, write_json, write_npz

RESULTS_DIR = "results"


def chosen_target(root: Path) -> str:
    """The cost-model target chosen on validation seeds (``select-cost-model``), else the default."""
    try:
        return load_sidecar(Path(root) / weight_files(COST_MODEL_NAME)[0])["config"]["target"]
    except OSError:
        return CostModelConfig().target


def train_seed_cost_model(
    seed: int,
    root,
    target: str,
    name: str,
    updates: dict,
    scenarios: tuple[str, ...] = SCENARIO_NAMES,
    draw_offset: int = 0,
) -> list:
    """The cost model ``<name>-seed<s>`` of one training seed, sampled around that seed's BC and IQL proposals
    (read from ``root``), trained on the datasets of ``scenarios`` (recorded in its sidecar as
    ``"training_scenarios"``), its own random draw seeded by ``seed + draw_offset`` (recorded in its sidecar's
    ``"seed"``); returns the files written."""
    policies = [load_policy_controller(seeded_name(base, seed), root) for base in ("bc", "iql")]
    result = train_cost_model(
        target,
        updates=updates.get("picnn"),
        seed=seed + draw_offset,
        data_root=root,
        iql_root=root,
        iql_name=seeded_name("iql", seed),
        progress=False,
        dynamics_updates=updates.get("dynamics"),
        policies=policies,
        data=training_arrays(scenarios, root),
    )
    # the workers leave the manifest to their parent: concurrent rewrites would lose entries
    extra = {"training_scenarios": list(scenarios)}
    return save(result, root=root, name=seeded_name(name, seed), extra=extra, manifest=False)


POLICY_NAMES = ("bc", "iql", *INCREMENT_NAMES)
"""The policies trained straight from the datasets (the first stage of the grid)."""
TRAINING_STAGES = (POLICY_NAMES, (COST_MODEL_NAME, FULL_STATE_COST_MODEL_NAME), (OFFSET_FREE_COST_MODEL_NAME,))
"""The training grid's stages in dependency order: each tuple runs for every seed at once, after the one before
(the cost models read their seed's BC and IQL; the offset-free one is warm-started from the deployed one)."""


def train_stage(args) -> dict:
    """One cell of the seed x stage grid: train ``stage`` for training ``seed`` and save its weights
    (runs in a worker; every input is read from ``root``, so the cell's result does not depend on where it runs).
    """
    seed, stage, root, updates = args
    torch.set_num_threads(1)
    started = time.perf_counter()
    if stage in POLICY_NAMES:
        algorithm, variant = variant_algorithm(stage)
        trained = train_agent(
            algorithm, updates=updates.get(algorithm), seed=seed, data_root=root, progress=False, **variant
        )
        written = save_agent(algorithm, trained, root=root, name=seeded_name(stage, seed), manifest=False)
    elif stage == COST_MODEL_NAME:
        written = train_seed_cost_model(seed, root, chosen_target(root), stage, updates)
    elif stage == FULL_STATE_COST_MODEL_NAME:
        written = train_seed_cost_model(seed, root, "full-state-model", stage, updates)
    elif stage == OFFSET_FREE_COST_MODEL_NAME:
        # the offset-free cost is the NARX cost with an output bias: only where the deployed cost is a NARX one
        written = []
        if chosen_target(root) == "narx":
            bias_range = chosen_bias_range(root)
            written = train_offset_free_seed(seed, root, bias_range, updates=updates.get("offset-free"))
    else:
        raise ValueError(f"unknown training stage {stage!r}; stages: {', '.join(sum(TRAINING_STAGES, ()))}")
    return {"seed": seed, "name": stage, "seconds": time.perf_counter() - started, "written": written}


def train_all(
    seeds, root: Path, updates: dict, workers: int = 2, backend: str = "loky", address=None, choose_among=None
) -> dict:
    """Every stage of :data:`TRAINING_STAGES` for every seed (through :func:`run_jobs`), then the canonical
    seeds chosen on validation seeds among ``choose_among`` (default ``seeds``: a sweep grown by more seeds
    chooses among the old and the new); returns the seconds of every cell, ``{stage: {seed: s}}``."""
    choose_among = list(seeds) if choose_among is None else [int(s) for s in choose_among]
    missing = sorted(set(seeds) - set(choose_among))
    if missing:
        raise ValueError(f"the canonical seeds must be chosen among the trained ones too; add {missing}")
    seconds = {}
    for stages in TRAINING_STAGES:
        jobs = [(s, stage, root, updates) for stage in stages for s in seeds]
        for report in train_in_processes(train_stage, jobs, root, workers, backend, address):
            seconds.setdefault(report["name"], {})[str(report["seed"])] = report["seconds"]
    choose_canonical_seeds(choose_among, root)
    return seconds


def choose_canonical_seeds(seeds, root) -> None:
    """Choose the canonical seed of every policy among ``seeds`` on validation seeds and ship it; the cost models
    of IQL's chosen seed (with their dynamics models) follow its choice."""
    root = data_root(root)
    seeds = [int(s) for s in seeds]
    for name in ("bc", *INCREMENT_NAMES):
        select_seed(name, seeds, root)
    follows = []
    for cost_name in (COST_MODEL_NAME, FULL_STATE_COST_MODEL_NAME):
        follows.append(cost_name)
        if (root / weight_files(dynamics_name(seeded_name(cost_name, seeds[0])))[0]).exists():
            follows.append(dynamics_name(cost_name))
    select_seed("iql", seeds, root, extra_files=tuple(follows))


def cost_model_seed(args) -> dict:
    """One training seed's cost model ``name`` from the shipped per-seed BC and IQL (runs in a worker process)."""
    seed, root, target, name, updates = args
    torch.set_num_threads(1)
    started = time.perf_counter()
    written = train_seed_cost_model(seed, root, target, name, updates)
    return {"seed": seed, "name": f"{name} ({target})", "seconds": time.perf_counter() - started, "written": written}


def train_cost_models(
    seeds,
    root=None,
    target: str | None = None,
    name: str = COST_MODEL_NAME,
    workers: int = 2,
    backend: str = "loky",
    address: str | None = None,
):
    """Retrain cost model ``name`` for every training seed, from the shipped per-seed policies, in parallel."""
    root = data_root(root)
    target = target or chosen_target(root)
    jobs = [(int(s), root, target, name, {}) for s in seeds]
    reports = train_in_processes(cost_model_seed, jobs, root, workers, backend, address)
    written = [path for report in reports for path in report["written"]]
    if name == COST_MODEL_NAME:
        ship_canonical_cost_model(root)
    return written


def train_policies(names, seeds, root=None, updates=None, workers: int = 2, backend: str = "loky", address=None):
    """Train the policies ``names`` (of :data:`POLICY_NAMES`) for every training seed as jobs of the grid, then
    choose each one's canonical seed on validation seeds (``python -m cstr train-policies``)."""
    root = data_root(root)
    unknown = [name for name in names if name not in POLICY_NAMES]
    if unknown:
        raise ValueError(f"not a policy of the grid: {', '.join(unknown)}; policies: {', '.join(POLICY_NAMES)}")
    jobs = [(int(s), name, root, updates or {}) for name in names for s in seeds]
    reports = train_in_processes(train_stage, jobs, root, workers, backend, address)
    for name in names:
        select_seed(name, [int(s) for s in seeds], root)
    return [path for report in reports for path in report["written"]]


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


def evaluation_job(args) -> dict:
    """Evaluate one controller (a training seed's, or a fixed one with ``seed=None``) in one scenario
    (runs in a worker); returns its record and, if asked, its first episode's states and inputs."""
    name, seed, scenario, episodes, root, keep_trajectory, first_seed = args
    torch.set_num_threads(1)
    controller = load_controller(name, root) if seed is None else training_seed_controller(name, seed, root)
    evaluation = evaluate(controller, scenario, episodes, first_seed, name=name)
    result = {"name": name, "seed": seed, "scenario": scenario, "record": evaluation.to_record(), "trajectory": None}
    if keep_trajectory:
        rollout = evaluation.rollout
        length = int(rollout["lengths"][0])
        result["trajectory"] = (rollout["next_states"][0, :length], rollout["actions"][0, :length].astype(np.float64))
    return result


def evaluate_grid(
    controllers,
    episodes: int,
    root: Path,
    workers: int = 1,
    backend: str = "loky",
    address=None,
    keep=(),
    report=None,
    scenarios=ALL_SCENARIO_NAMES,
    first_seed: int = EVALUATION_SEED_START,
) -> tuple[dict, dict]:
    """Every ``(name, seed)`` of ``controllers`` (``seed`` ``None`` for a fixed controller) in every scenario of
    ``scenarios`` on the evaluation seeds from ``first_seed``, as one job each on ``workers`` workers.

    Returns the records keyed like ``evaluation.json``'s, ``{name: {scenario: {"seed<s>" or "all": record}}}``,
    and the first episode's states and inputs of the pairs in ``keep``, ``{"<name>/<scenario>/states": ...}``.
    ``report(result)`` is called as each job finishes.
    """
    jobs = [
        (name, seed, scenario, episodes, root, (name, seed) in keep, first_seed)
        for name, seed in controllers
        for scenario in scenarios
    ]
    records, trajectories = {}, {}
    for result in run_jobs(evaluation_job, jobs, workers, backend, address, report=report):
        name, scenario = result["name"], result["scenario"]
        key = "all" if result["seed"] is None else f"seed{result['seed']}"
        records.setdefault(name, {}).setdefault(scenario, {})[key] = result["record"]
        if result["trajectory"] is not None:
            trajectories[f"{name}/{scenario}/states"], trajectories[f"{name}/{scenario}/actions"] = result["trajectory"]
    return records, trajectories


def evaluate_all(
    seeds, episodes: int, root: Path, progress: bool = True, workers: int = 1, backend: str = "loky", address=None
) -> tuple[dict, dict]:
    """Every controller in every scenario, learned ones once per training seed, as jobs on ``workers`` workers."""
    # the stored trajectory of a learned controller is its canonical seed's, the one chapter 7 draws beside it
    keep = [(name, None) for name in FIXED_NAMES]
    for name in TRAINED_NAMES:
        chosen = chosen_training_seed(name.partition("+")[0], root)
        keep.append((name, chosen if chosen in seeds else seeds[0]))
    controllers = [(name, None) for name in FIXED_NAMES] + [(name, s) for name in TRAINED_NAMES for s in seeds]

    def report(result):
        if progress:
            key = "all" if result["seed"] is None else f"seed{result['seed']}"
            mean = np.mean([e["total_reward"] for e in result["record"]["episodes"]])
            print(f"  {result['name']:8s} {key:6s} {result['scenario']:10s} mean total reward {mean:9.3f}", flush=True)

    records, trajectories = evaluate_grid(controllers, episodes, root, workers, backend, address, keep, report)
    results = {
        "episodes": episodes,
        "first_seed": EVALUATION_SEED_START,
        "training_seeds": list(seeds),
        "controllers": records,
    }
    return results, trajectories


def save_results(results: dict, trajectories: dict, root: Path, stages: dict) -> None:
    """``results/evaluation.json`` and ``results/trajectories.npz``, listed in the manifest."""
    (root / RESULTS_DIR).mkdir(parents=True, exist_ok=True)
    results["stage_seconds"] = dict(stages)
    write_json(root / RESULTS_DIR / "evaluation.json", results)
    write_npz(root / RESULTS_DIR / "trajectories.npz", trajectories)
    update_manifest(root, [f"{RESULTS_DIR}/evaluation.json", f"{RESULTS_DIR}/trajectories.npz"])


def evaluate_only(seeds=TRAINING_SEEDS, episodes: int = 100, root=None, workers: int = 2, backend="loky", address=None):
    """Only the evaluation and results stages, on the weights already in ``root`` (after retraining a cost model)."""
    root = data_root(root)
    started = time.perf_counter()
    results, trajectories = evaluate_all(
        [int(s) for s in seeds], episodes, root, workers=workers, backend=backend, address=address
    )
    stages = {"evaluation": time.perf_counter() - started}
    save_results(results, trajectories, root, stages)
    print(f"[evaluation] {stages['evaluation']:.1f} s", flush=True)
    return stages


def run(
    seeds=TRAINING_SEEDS,
    episodes: int = 100,
    root=None,
    workers: int = 2,
    data_episodes: int = 100,
    updates: dict | None = None,
    tune_evaluations: int = 160,
    backend: str = "loky",
    address: str | None = None,
) -> dict:
    """The whole comparison from scratch into ``root``; returns the wall seconds of every stage.

    Training and evaluation run as grids of jobs on ``workers`` workers of ``backend``
    (:mod:`cstr.experiments.parallel`); every job seeds itself, so the results do not depend on the number of
    workers. The seconds of every training cell are stored beside the results (``training_cells``).
    """
    check_backend(backend, workers)
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
    print(
        f"[training] {len(seeds)} training seeds x {len(sum(TRAINING_STAGES, ()))} stages, {workers} at a time "
        f"({backend})",
        flush=True,
    )
    cells = train_all(seeds, root, updates, workers, backend, address)
    stage("training", started)

    started = time.perf_counter()
    print(
        f"[evaluation] {len(FIXED_NAMES + TRAINED_NAMES)} controllers x "
        f"{len(ALL_SCENARIO_NAMES)} scenarios x {episodes} episodes",
        flush=True,
    )
    results, trajectories = evaluate_all(seeds, episodes, root, workers=workers, backend=backend, address=address)
    stage("evaluation", started)

    started = time.perf_counter()
    results["training_cells"] = cells
    results["workers"] = {"count": int(workers), "backend": backend}
    save_results(results, trajectories, root, stages)
    stage("results", started)
    stages["total"] = time.perf_counter() - total
    print(f"[total] {stages['total']:.1f} s", flush=True)
    return stages


def train_seeds(seeds, choose_among, root=None, workers: int = 2, backend: str = "loky", address=None) -> dict:
    """``python -m cstr train-seeds``: the whole training grid for ``seeds`` only, into the data folder
    (datasets, ``pi-tuned`` and the validation choices already there), the canonical seeds then chosen among
    ``choose_among``: how a shipped sweep grows by more seeds without retraining the ones it has."""
    root = data_root(root)
    started = time.perf_counter()
    cells = train_all([int(s) for s in seeds], root, {}, workers, backend, address, choose_among=choose_among)
    print(f"[training] {time.perf_counter() - started:.1f} s", flush=True)
    return cells


def register(subparsers) -> None:
    grow = subparsers.add_parser(
        "train-seeds",
        help="train every stage of the grid for some training seeds; choose the canonical seeds among more",
    )
    grow.add_argument("--seeds", type=int, nargs="+", required=True, help="the training seeds to train")
    grow.add_argument(
        "--choose-among",
        type=int,
        nargs="+",
        default=list(TRAINING_SEEDS),
        help="the training seeds the canonical ones are chosen among (default: all of "
        + " ".join(map(str, TRAINING_SEEDS))
        + ")",
    )
    add_parallel_arguments(grow)
    add_data_argument(grow)
    grow.set_defaults(
        func=lambda args: (
            train_seeds(args.seeds, args.choose_among, args.data, args.workers, args.backend, args.address) and 0
        )
    )

    models = subparsers.add_parser(
        "train-cost-models", help="retrain a cost model for every training seed from the shipped per-seed BC and IQL"
    )
    models.add_argument("--seeds", type=int, nargs="+", default=list(TRAINING_SEEDS), help=TRAINING_SEEDS_HELP)
    models.add_argument("--target", default=None, help="cost-model target (default: the shipped picnn's)")
    models.add_argument("--name", default=COST_MODEL_NAME, help=f"weights name (default {COST_MODEL_NAME})")
    add_parallel_arguments(models)
    add_data_argument(models)
    models.set_defaults(
        func=lambda args: (
            train_cost_models(args.seeds, args.data, args.target, args.name, args.workers, args.backend, args.address)
            and 0
        )
    )

    policies = subparsers.add_parser(
        "train-policies", help="train policies (BC, IQL, their increments variants) for every training seed"
    )
    policies.add_argument("names", nargs="+", choices=POLICY_NAMES, help="the policies to train")
    policies.add_argument("--seeds", type=int, nargs="+", default=list(TRAINING_SEEDS), help=TRAINING_SEEDS_HELP)
    add_parallel_arguments(policies)
    add_data_argument(policies)
    policies.set_defaults(
        func=lambda args: (
            train_policies(
                args.names, args.seeds, args.data, workers=args.workers, backend=args.backend, address=args.address
            )
            and 0
        )
    )

    parser = subparsers.add_parser("reproduce", help="datasets, training, evaluation and results from scratch")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(TRAINING_SEEDS), help=TRAINING_SEEDS_HELP)
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes per scenario (default 100)")
    add_parallel_arguments(parser)
    parser.add_argument(
        "--evaluation-only", action="store_true", help="only evaluate the shipped weights; write the results"
    )
    add_data_argument(parser)

    def command(args):
        torch.set_num_threads(1)
        if args.evaluation_only:
            return evaluate_only(args.seeds, args.episodes, args.data, args.workers, args.backend, args.address) and 0
        return run(args.seeds, args.episodes, args.data, args.workers, backend=args.backend, address=args.address) and 0

    parser.set_defaults(func=command)

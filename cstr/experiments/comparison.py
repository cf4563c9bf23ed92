"""An extension of this book: every controller against the NMPC oracle, and under plant perturbations.

* :func:`gap_metric`: per scenario, ``(R - R_base) / (R_nmpc - R_base)``: the
  share of the gap between a baseline (by default ``pi``, the dataset's
  behaviour policy) and the NMPC oracle that a controller closes (0: no
  better than the behaviour policy, 1: as good as NMPC with full state and
  the true model; above 1 would beat the oracle).
* :data:`PERTURBATIONS`: the robustness cases, each a set of environment
  options (:class:`cstr.envs.polymer_cstr.PolymerCSTREnv`); the controllers,
  NMPC included, keep the nominal model.
* ``python -m cstr compare-nmpc`` evaluates every controller that loads
  (NMPC is expensive, so the results are shipped) and writes
  :data:`COMPARISON_FILE` and :data:`ROBUSTNESS_FILE` under ``data/``,
  listed in the manifest. ``--controllers NAME ... --merge`` adds
  controllers to existing results without rerunning NMPC. ``--parts stress``
  runs the NMPC oracles in the stress scenario (:data:`STRESS_FILE`), on the
  episodes ``reproduce`` evaluated every other controller on.
"""

from __future__ import annotations

import json
import time

import numpy as np

from cstr.control import nmpc
from cstr.experiments.evaluation import evaluate
from cstr.experiments.parallel import run_jobs
from cstr.experiments.registry import CONTROLLER_NAMES, ORACLE_NAMES, load_controller
from cstr.plant.scenarios import ALL_SCENARIO_NAMES, SCENARIO_NAMES, STRESS_SCENARIO_NAMES
from cstr.seeds import EVALUATION_SEED_START, evaluation_seed_argument
from cstr.storage import add_data_argument, data_root, read_manifest, read_verified_json, update_manifest, write_json

COMPARISON_FILE = "results/nmpc_comparison.json"
"""The nominal comparison, relative to the data folder."""
ROBUSTNESS_FILE = "results/robustness.json"
"""The robustness cases, relative to the data folder."""
STRESS_FILE = "results/nmpc_stress.json"
"""The NMPC oracles in the stress scenario, relative to the data folder."""
COMPARISON_EPISODES = 20
ROBUSTNESS_EPISODES = 20
STRESS_EPISODES = 100
"""Stress episodes per oracle: as many as ``reproduce`` evaluates every other controller on, from the same seed."""
GAP_BASELINE = "pi"

PERTURBATIONS = {
    "noise": {"measurement_noise": [1.0, 0.5]},
    "hot_plant": {"parameter_factors": {"jacket_ua": 0.8, "propagation_prefactor": 1.2}},
    "cold_plant": {"parameter_factors": {"jacket_ua": 1.2, "propagation_prefactor": 0.8}},
    "feed_step": {"feed_temperature_step": [20.0, 5.0]},
}
"""Robustness cases (environment options):

* ``noise``: Gaussian measurement noise, 1 kg/m3 on the polymer and 0.5 K on
  the temperature (every observation);
* ``hot_plant``: jacket UA -20 % and propagation pre-exponential factor
  +20 %: more heat released, less removed;
* ``cold_plant``: the opposite, UA +20 % and propagation factor -20 %;
* ``feed_step``: the feed temperature rises by 5 K from hour 20 on
  (an unmeasured disturbance).
"""


def gap_metric(reward, baseline_reward, nmpc_reward):
    """``(R - R_base) / (R_nmpc - R_base)``; NaN where the oracle is no better than the baseline."""
    reward = np.asarray(reward, dtype=float)
    span = np.asarray(nmpc_reward, dtype=float) - np.asarray(baseline_reward, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = (reward - np.asarray(baseline_reward, dtype=float)) / span
    gap = np.where(span > 0.0, gap, np.nan)
    return float(gap) if gap.ndim == 0 else gap


def gap_table(mean_rewards: dict, baseline: str = GAP_BASELINE, oracle: str = "nmpc") -> dict:
    """``{scenario: {controller: gap}}`` from ``{scenario: {controller: mean total reward}}``."""
    table = {}
    for scenario, rewards in mean_rewards.items():
        table[scenario] = {
            name: gap_metric(value, rewards[baseline], rewards[oracle]) for name, value in rewards.items()
        }
    return table


def available_controllers(names=CONTROLLER_NAMES, root=None) -> tuple[dict, dict]:
    """``({name: controller}, {name: reason})``: the controllers that load, and why the others did not."""

    loaded, missing = {}, {}
    for name in names:
        try:
            loaded[name] = load_controller(name, root=root)
        except Exception as error:  # a missing or unverified weights file, an unknown name
            missing[name] = f"{type(error).__name__}: {error}"
    return loaded, missing


def summarise_records(record: dict, episodes: int | None = None) -> dict:
    """Mean total reward, safety violations, mean offset, hottest moment of (the first ``episodes`` of) an
    evaluation record (:meth:`cstr.experiments.evaluation.Evaluation.to_record`)."""
    chosen = record["episodes"][: None if episodes is None else int(episodes)]

    def values(metric):
        return np.array([e[metric] for e in chosen], dtype=float)

    return {
        "mean_total_reward": float(np.mean(values("total_reward"))),
        "safety_violations": int(sum(bool(e["safety_violation"]) for e in chosen)),
        "mean_steady_state_offset": float(np.mean(values("steady_state_offset"))),
        "max_temperature": float(np.max(values("max_temperature"))),
        "episodes": len(chosen),
    }


def run_evaluations(
    names,
    scenarios=SCENARIO_NAMES,
    episodes: int = COMPARISON_EPISODES,
    seed: int = EVALUATION_SEED_START,
    env_options: dict | None = None,
    root=None,
    progress: bool = False,
) -> dict:
    """Evaluate each named controller (fresh) in each scenario: per-episode records, and the solve
    times ``{scenario: {name: summary}}`` of the controllers that record them (NMPC)."""

    loaded, missing = available_controllers(names, root)
    records, solve_times = {}, {}
    for scenario in scenarios:
        records[scenario] = {}
        solve_times[scenario] = {}
        for name in loaded:
            controller, _ = available_controllers([name], root)
            controller = controller[name]
            began = time.perf_counter()
            evaluation = evaluate(controller, scenario, episodes, seed, name=name, env_options=env_options)
            records[scenario][name] = evaluation.to_record()
            if hasattr(controller, "solve_time_summary"):
                solve_times[scenario][name] = controller.solve_time_summary()
            if progress:
                print(
                    f"  {scenario:10s} {name:8s} mean total reward "
                    f"{evaluation.summary['total_reward']['mean']:9.3f}  "
                    f"({time.perf_counter() - began:.0f} s)",
                    flush=True,
                )
    return {"controllers": list(loaded), "unavailable": missing, "records": records, "solve_times": solve_times}


def compare(
    names=CONTROLLER_NAMES,
    scenarios=SCENARIO_NAMES,
    episodes: int = COMPARISON_EPISODES,
    seed: int = EVALUATION_SEED_START,
    root=None,
    progress: bool = False,
) -> dict:
    """The nominal comparison: per-episode records, summaries, the gap table, NMPC solve times."""

    result = run_evaluations(names, scenarios, episodes, seed, root=root, progress=progress)
    result.update(
        {
            "seed": int(seed),
            "episodes": int(episodes),
            "scenarios": list(scenarios),
            "nmpc_settings": {
                "horizon_steps": nmpc.HORIZON_STEPS,
                "collocation_degree": nmpc.COLLOCATION_DEGREE,
                "elements": nmpc.ELEMENTS,
                "temperature_backoff": nmpc.TEMPERATURE_BACKOFF,
                "slack_l1": nmpc.SLACK_L1,
                "slack_l2": nmpc.SLACK_L2,
                "move_weight": nmpc.MOVE_WEIGHT,
                "disturbance_gain": nmpc.DISTURBANCE_GAIN,
            },
        }
    )
    return _finish_comparison(result)


def _finish_comparison(result: dict) -> dict:
    """Summaries and the gap table from the records (after a run or a merge)."""
    records = result["records"]
    means = {s: {n: summarise_records(r)["mean_total_reward"] for n, r in recs.items()} for s, recs in records.items()}
    result["summary"] = {s: {n: summarise_records(r) for n, r in recs.items()} for s, recs in records.items()}
    present = set(result["controllers"])
    result["gap"] = gap_table(means) if {GAP_BASELINE, "nmpc"} <= present else {}
    result["gap_baseline"] = GAP_BASELINE
    return result


def _order(names) -> list:
    known = [n for n in CONTROLLER_NAMES if n in names]
    return known + sorted(n for n in names if n not in CONTROLLER_NAMES)


def merge_comparison(old: dict, new: dict) -> dict:
    """``old`` with the controllers of ``new`` added or replaced (same seeds and episodes)."""
    if (old["seed"], old["episodes"]) != (new["seed"], new["episodes"]):
        raise ValueError(
            "can only merge results over the same seeds and episode count "
            f"(have seed {old['seed']}, {old['episodes']} episodes; got {new['seed']}, {new['episodes']})"
        )
    merged = dict(old)
    merged["controllers"] = _order(set(old["controllers"]) | set(new["controllers"]))
    merged["unavailable"] = {
        n: r for n, r in {**old["unavailable"], **new["unavailable"]}.items() if n not in merged["controllers"]
    }
    merged["records"] = {s: {**old["records"].get(s, {}), **new["records"].get(s, {})} for s in old["records"]}
    merged["solve_times"] = {
        s: {**old["solve_times"].get(s, {}), **new["solve_times"].get(s, {})} for s in old["records"]
    }
    return _finish_comparison(merged)


def merge_robustness(old: dict, new: dict) -> dict:
    """``old`` robustness results with the controllers (and the nominal column) of ``new`` merged in."""
    if (old["seed"], old["episodes"]) != (new["seed"], new["episodes"]):
        raise ValueError("can only merge robustness results over the same seeds and episode count")
    merged = dict(old)
    merged["controllers"] = _order(set(old["controllers"]) | set(new["controllers"]))
    merged["unavailable"] = {
        n: r for n, r in {**old["unavailable"], **new["unavailable"]}.items() if n not in merged["controllers"]
    }
    cases = {}
    for case in {**old["cases"], **new["cases"]}:
        a, b = old["cases"].get(case, {}), new["cases"].get(case, {})
        spec = {"options": b.get("options", a.get("options", {}))}
        for key in ("summary", "records", "solve_times"):
            if key in a or key in b:
                spec[key] = {
                    s: {**a.get(key, {}).get(s, {}), **b.get(key, {}).get(s, {})}
                    for s in set(a.get(key, {})) | set(b.get(key, {}))
                }
        cases[case] = spec
    merged["cases"] = cases
    return merged


def robustness(
    names=CONTROLLER_NAMES,
    scenarios=SCENARIO_NAMES,
    episodes: int = ROBUSTNESS_EPISODES,
    seed: int = EVALUATION_SEED_START,
    perturbations: dict | None = None,
    nominal: dict | None = None,
    root=None,
    progress: bool = False,
) -> dict:
    """Every controller under each perturbation; ``nominal`` (a :func:`compare` result on the same
    first seeds) supplies the unperturbed column without rerunning it."""
    perturbations = PERTURBATIONS if perturbations is None else perturbations
    cases = {}
    if nominal is not None:
        cases["nominal"] = {
            "options": {},
            "summary": {
                s: {n: summarise_records(r, episodes) for n, r in recs.items()}
                for s, recs in nominal["records"].items()
            },
        }
    controllers, missing = None, None
    for case, options in perturbations.items():
        if progress:
            print(f"{case}: {options}", flush=True)
        result = run_evaluations(names, scenarios, episodes, seed, env_options=options, root=root, progress=progress)
        controllers, missing = result["controllers"], result["unavailable"]
        cases[case] = {
            "options": options,
            "records": result["records"],
            "solve_times": result["solve_times"],
            "summary": {s: {n: summarise_records(r) for n, r in recs.items()} for s, recs in result["records"].items()},
        }
    return {
        "seed": int(seed),
        "episodes": int(episodes),
        "scenarios": list(scenarios),
        "controllers": controllers,
        "unavailable": missing,
        "cases": cases,
    }


def _stress_job(args) -> dict:
    """One oracle in the stress scenarios (runs in a worker): its records and solve times."""
    name, episodes, seed, root = args
    return run_evaluations([name], STRESS_SCENARIO_NAMES, episodes, seed, root=root)


def stress_oracles(
    names=ORACLE_NAMES, episodes: int = STRESS_EPISODES, seed: int = EVALUATION_SEED_START, root=None, workers=2
) -> dict:
    """The NMPC oracles in the stress scenarios, on the episodes every other controller met there (chapter 8):
    ``{"records": {scenario: {name: record}}, "solve_times": ...}``, one oracle per worker."""
    records, solve_times = {}, {}
    for result in run_jobs(_stress_job, [(name, episodes, seed, root) for name in names], workers):
        for scenario, by_name in result["records"].items():
            records.setdefault(scenario, {}).update(by_name)
            solve_times.setdefault(scenario, {}).update(result["solve_times"][scenario])
    return {
        "seed": int(seed),
        "episodes": int(episodes),
        "controllers": list(names),
        "records": records,
        "solve_times": solve_times,
    }


def _load_listed(root, name: str) -> dict | None:
    """The data folder's JSON file ``name``, verified against the manifest; ``None`` if the manifest lacks it."""
    return read_verified_json(root, name) if name in read_manifest(data_root(root)) else None


def load_stress_oracles(root=None) -> dict | None:
    """The shipped :data:`STRESS_FILE` (verified against the manifest), ``None`` if absent."""
    return _load_listed(root, STRESS_FILE)


def load_comparison(root=None) -> tuple[dict | None, dict | None]:
    """The shipped comparison and robustness results (verified against the manifest), ``None`` if absent."""

    return _load_listed(root, COMPARISON_FILE), _load_listed(root, ROBUSTNESS_FILE)


def _command(args) -> int:

    root = data_root(args.data)
    (root / "results").mkdir(parents=True, exist_ok=True)
    names = args.controllers or list(CONTROLLER_NAMES)
    written = []
    nominal = None
    if "nominal" in args.parts:
        began = time.perf_counter()
        # the controllers come from the same data folder the results go to
        nominal = compare(names, args.scenarios, args.episodes, args.seed, root=root, progress=True)
        nominal["seconds"] = time.perf_counter() - began
        nominal = _store(root / COMPARISON_FILE, nominal, merge_comparison if args.merge else None)
        written.append(COMPARISON_FILE)
    elif (root / COMPARISON_FILE).is_file():
        nominal = json.loads((root / COMPARISON_FILE).read_text(encoding="utf-8"))
    if "robustness" in args.parts:
        if nominal is not None and nominal["episodes"] < args.robustness_episodes:
            nominal = None
        began = time.perf_counter()
        result = robustness(
            names, args.scenarios, args.robustness_episodes, args.seed, nominal=nominal, root=root, progress=True
        )
        result["seconds"] = time.perf_counter() - began
        _store(root / ROBUSTNESS_FILE, result, merge_robustness if args.merge else None)
        written.append(ROBUSTNESS_FILE)
    if "stress" in args.parts:
        began = time.perf_counter()
        result = stress_oracles(args.controllers or ORACLE_NAMES, args.stress_episodes, args.seed, root)
        result["seconds"] = time.perf_counter() - began
        write_json(root / STRESS_FILE, result)
        written.append(STRESS_FILE)
    update_manifest(root, written)
    print(f"wrote {', '.join(str(root / name) for name in written)}")
    return 0


def _store(path, result: dict, merge=None) -> dict:
    """Write ``result`` to ``path``; with ``merge``, first fold it into what the file already holds
    (the run times add up). Returns what was written."""
    if merge is not None and path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        result["seconds"] += old.get("seconds", 0.0)
        result = merge(old, result)
    write_json(path, result)
    return result


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare-nmpc",
        help="evaluate every controller against NMPC and under plant perturbations; write data/results/*.json",
    )
    parser.add_argument(
        "--controllers", nargs="*", default=None, help=f"default: {' '.join(CONTROLLER_NAMES)} (those that load)"
    )
    parser.add_argument(
        "--scenarios",
        nargs="*",
        default=list(SCENARIO_NAMES),
        choices=list(ALL_SCENARIO_NAMES),
        help="default: the paper's three",
    )
    parser.add_argument("--episodes", type=int, default=COMPARISON_EPISODES, help="episodes per scenario (nominal)")
    parser.add_argument(
        "--robustness-episodes", type=int, default=ROBUSTNESS_EPISODES, help="episodes per scenario and perturbation"
    )
    parser.add_argument(
        "--stress-episodes", type=int, default=STRESS_EPISODES, help="episodes per oracle in the stress scenario"
    )
    parser.add_argument(
        "--seed", type=evaluation_seed_argument, default=EVALUATION_SEED_START, help="first evaluation seed"
    )
    parser.add_argument(
        "--parts",
        nargs="*",
        default=["nominal", "robustness"],
        choices=["nominal", "robustness", "stress"],
        help="the nominal comparison, the robustness cases (default: both), or the NMPC oracles in the stress "
        "scenario (--parts stress; two oracles at a time)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="add these controllers to the existing results (same seeds and episodes) instead of "
        "replacing them, e.g. `--controllers bc+ iql+ --merge` after training",
    )
    add_data_argument(parser)
    parser.set_defaults(func=_command)

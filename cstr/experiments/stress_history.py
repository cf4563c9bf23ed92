"""Chapter 8's control: does the correction stop crossing the limit once its cost model has seen runaways?

The shipped cost models are trained on the paper's three datasets, in which
no temperature comes within 5 K of the limit, so near the limit in the
stress scenario they extrapolate (chapter 8 replays one that predicts 350 K
where the plant reaches 360 K). The stress scenario's own dataset is plant
history of the kind a historian keeps: its randomised PI controllers cross
the limit in about a quarter of the episodes, after an unmeasured
feed-temperature step.

``python -m cstr stress-history`` trains, for every training seed, the
deployed recipe's cost model again (the NARX model and the PICNN distilled
from it, the target chosen by ``select-cost-model``) on the paper's three
datasets **and** the stress scenario's, sampled around the same seed's BC
and IQL, which stay as shipped (trained on the paper's data only). It saves
``weights/picnn-with-stress-seed<s>`` and evaluates each seed's BC and IQL
corrected with it, ``bc+with-stress`` and ``iql+with-stress``, on the
evaluation episodes of ``results/evaluation.json`` (the same seeds and
count) in all four scenarios, into ``results/stress_history.json``.

Against ``bc+`` and ``iql+`` this changes the cost model's training data,
with the same policies, recipe, training seed and evaluation episodes. New
data also mean a new random draw (other batches, so another network), so
the study has a second arm, the control for that: ``picnn-redrawn-seed<s>``,
the deployed recipe trained again on the paper's three datasets alone with
the draw seeded by ``s +`` :data:`cstr.seeds.REDRAW_SEED_OFFSET`, served as
``bc+redrawn`` and ``iql+redrawn``. What the redrawn controllers change
against their twins is what retraining alone changes; what the stress
history changes beyond that is the data's part (:data:`ARMS`).
``reproduce`` does not rebuild either (it is a study, like ``compare-nmpc``).

``python -m cstr stress-history --screen`` adds an acceptance test on validation seeds (:func:`screen`) and a
deployment procedure built on it: per training seed, the paper recipe's draw that passes and scores best on
validation (:func:`chosen_draws`, served by :func:`deployed_controller`); where neither of the first two passes,
``--redraw-refused`` trains :data:`FURTHER_DRAWS` for that seed and the same choice is made among them
(:func:`redraw_refused`); a seed where none passes is refused. :func:`deployment_outcome` compares it with the
shipped draws and with the same choice made without the test.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.stats import binomtest

from cstr.agents.weights import load_sidecar, seeded_name, weight_files
from cstr.control.rollout import rollout
from cstr.envs.core import TERMINATION_TEMPERATURE
from cstr.experiments.parallel import add_parallel_arguments, check_backend, run_jobs
from cstr.experiments.registry import REDRAWN_NAMES, STRESS_HISTORY_NAMES, training_seed_controller
from cstr.experiments.reproduce import RESULTS_DIR, chosen_target, evaluate_grid, train_seed_cost_model
from cstr.experiments.results import safety_summary
from cstr.experiments.seed_statistics import paired_outcome
from cstr.experiments.selection import SELECTION_EPISODES, validation_returns
from cstr.experiments.train import train_in_processes
from cstr.plant.scenarios import ALL_SCENARIO_NAMES, SCENARIO_NAMES
from cstr.safety.shipped import (
    COST_MODEL_NAME,
    REDRAWN_COST_MODEL_NAME,
    STRESS_HISTORY_COST_MODEL_NAME,
    dynamics_name,
    redrawn_cost_model_name,
)
from cstr.seeds import (
    EVALUATION_SEED_START,
    HELD_OUT_SEED_START,
    REDRAW_SEED_OFFSET,
    TRAINING_SEEDS,
    TRAINING_SEEDS_HELP,
    VALIDATION_SEED_START,
)
from cstr.storage import add_data_argument, data_root, read_manifest, read_verified_json, update_manifest, write_json

STRESS_HISTORY_FILE = f"{RESULTS_DIR}/stress_history.json"
"""The study's evaluation records, relative to the data folder."""


@dataclass(frozen=True)
class Arm:
    """One arm of the study: a cost model per training seed, trained like the deployed one but on
    ``scenarios``' datasets with its draw seeded by ``seed + draw_offset``, and the controllers it corrects."""

    cost_model: str
    scenarios: tuple[str, ...]
    draw_offset: int
    controllers: tuple[str, ...]


ARMS = {
    "with-stress": Arm(STRESS_HISTORY_COST_MODEL_NAME, ALL_SCENARIO_NAMES, 0, STRESS_HISTORY_NAMES),
    "redrawn": Arm(REDRAWN_COST_MODEL_NAME, SCENARIO_NAMES, REDRAW_SEED_OFFSET, REDRAWN_NAMES),
}
"""The study's arms by name: the stress history (the paper's three datasets and the stress scenario's) and its
control (the paper's datasets again, another draw)."""
TRAINING_SCENARIOS = ARMS["with-stress"].scenarios
"""The datasets the study's cost models are trained on: the paper's three and the stress scenario's."""


def _train_job(args) -> dict:
    """One cost model of the deployed recipe: ``cost_model`` for training ``seed`` on ``scenarios``' datasets, its
    draw seeded by ``seed + offset``; ``label`` (an arm, or a further draw) comes back with its seconds."""
    seed, root, target, updates, label, cost_model, scenarios, offset = args
    torch.set_num_threads(1)
    started = time.perf_counter()
    written = train_seed_cost_model(seed, root, target, cost_model, updates, scenarios, offset)
    return {
        "seed": seed,
        "name": cost_model,
        "label": label,
        "seconds": time.perf_counter() - started,
        "written": written,
    }


def train(
    seeds, root=None, workers: int = 2, updates: dict | None = None, backend="loky", address=None, arms=tuple(ARMS)
) -> dict:
    """Every arm's cost model for every seed of ``seeds``; returns the seconds of each, ``{arm: {seed: s}}``."""
    root = data_root(root)
    target = chosen_target(root)
    jobs = [
        (int(s), root, target, updates or {}, arm, ARMS[arm].cost_model, ARMS[arm].scenarios, ARMS[arm].draw_offset)
        for arm in arms
        for s in seeds
    ]
    seconds = {arm: {} for arm in arms}
    for report in train_in_processes(_train_job, jobs, root, workers, backend, address):
        seconds[report["label"]][str(report["seed"])] = report["seconds"]
    return seconds


def evaluate_seeds(
    seeds, episodes: int, root=None, workers: int = 2, backend="loky", address=None, arms=tuple(ARMS)
) -> dict:
    """The controllers of ``arms`` for every seed in every scenario, on the evaluation seeds, keyed like
    ``evaluation.json``'s records: ``{name: {scenario: {"seed<s>": record}}}``."""
    controllers = [(name, int(s)) for arm in arms for name in ARMS[arm].controllers for s in seeds]
    records, _ = evaluate_grid(controllers, episodes, data_root(root), workers, backend, address)
    return records


def run(
    seeds=TRAINING_SEEDS,
    episodes: int = 100,
    root=None,
    workers: int = 2,
    updates=None,
    backend="loky",
    address=None,
    skip_training: bool = False,
    arms=tuple(ARMS),
) -> dict:
    """Train (unless ``skip_training``) and evaluate the ``arms`` named; write :data:`STRESS_HISTORY_FILE` into
    the manifest. The arms not run keep their stored records, which must share the seeds and episodes; a stored
    acceptance screen (:func:`screen`) is dropped, since the draws it tested may have changed.

    The record: ``episodes``, ``first_seed``, ``training_seeds``, ``controllers`` (every arm's, keyed like
    ``evaluation.json``'s) and ``arms``: ``{arm: {"training_scenarios", "draw_offset", "training_seconds"}}``.
    """
    check_backend(backend, workers)
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        raise ValueError(f"unknown arms {unknown}; the study's arms: {', '.join(ARMS)}")
    root = data_root(root)
    record = {
        "episodes": episodes,
        "first_seed": EVALUATION_SEED_START,
        "training_seeds": [int(s) for s in seeds],
        "controllers": {},
        "arms": {},
    }
    stored = load_stress_history(root)
    kept = [arm for arm in ARMS if arm not in arms and stored is not None and arm in stored["arms"]]
    if kept and [stored[key] for key in ("episodes", "first_seed", "training_seeds")] != [
        record[key] for key in ("episodes", "first_seed", "training_seeds")
    ]:
        raise ValueError(
            f"the stored arms {kept} were run with other seeds or episodes; run every arm (--arms {' '.join(ARMS)})"
        )
    for arm in kept:
        record["arms"][arm] = stored["arms"][arm]
        record["controllers"].update({name: stored["controllers"][name] for name in ARMS[arm].controllers})
    seconds = {} if skip_training else train(seeds, root, workers, updates, backend, address, arms)
    record["controllers"].update(evaluate_seeds(seeds, episodes, root, workers, backend, address, arms))
    for arm in arms:
        previous = stored["arms"].get(arm, {}) if stored is not None else {}
        record["arms"][arm] = {
            "training_scenarios": list(ARMS[arm].scenarios),
            "draw_offset": ARMS[arm].draw_offset,
            "training_seconds": seconds.get(arm, previous.get("training_seconds", {})),
        }
    record["controllers"] = {
        name: record["controllers"][name]
        for arm in ARMS
        for name in ARMS[arm].controllers
        if name in record["controllers"]
    }
    write_json(root / STRESS_HISTORY_FILE, record)
    update_manifest(root, [STRESS_HISTORY_FILE])
    return record


def load_stress_history(root=None) -> dict | None:
    """The stored study (verified against the manifest), or ``None`` where it was never run."""
    root = data_root(root)
    if STRESS_HISTORY_FILE not in read_manifest(root):
        return None
    return read_verified_json(root, STRESS_HISTORY_FILE)


STRESS_TWINS = {"bc+with-stress": "bc+", "iql+with-stress": "iql+"}
"""Each stress-history controller's shipped twin: the same policy corrected with the cost model of the paper's
data."""
REDRAWN_TWINS = {"bc+redrawn": "bc+", "iql+redrawn": "iql+"}
"""Each redrawn controller's shipped twin: the same policy, the same recipe and data, the shipped draw."""
PLAIN_NAMES = STRESS_TWINS | REDRAWN_TWINS
"""Every study controller's shipped twin: the same policy corrected with the cost model of the paper's data."""
CONTROL_TWINS = {"bc+with-stress": "bc+redrawn", "iql+with-stress": "iql+redrawn"}
"""Each stress-history controller against its control, the same policy with the deployed recipe drawn again on
the paper's data alone: both are fresh draws, so what differs is the data (and how closely the budget fits it)."""


def study_episodes(history: dict, results, name: str, scenario: str, seed: int) -> list[dict]:
    """The evaluation episodes of controller ``name``'s training seed ``seed`` in ``scenario``: from the study
    where it is one of the study's controllers, else from ``results``
    (:class:`cstr.experiments.results.Results`)."""
    for controllers in (history["controllers"], history.get("further", {}).get("controllers", {})):
        if name in controllers:
            return controllers[name][scenario][f"seed{seed}"]["episodes"]
    return results.episodes_of(name, scenario, seed)


def paired_table(history: dict, results, twins: dict | None = None) -> pd.DataFrame:
    """Each study controller named in ``twins`` (default :data:`PLAIN_NAMES`: every one, against its shipped
    twin), training seed and scenario against its twin of the same seed on the same evaluation episodes; a twin
    is read from the study where it is one of the study's controllers (:data:`CONTROL_TWINS`), else from
    ``results`` (:class:`cstr.experiments.results.Results`).

    Columns: ``crossings`` and ``twin crossings`` (episodes above the limit), ``total_reward`` and
    ``twin total_reward`` (means), ``change`` (the relative change of the mean, positive when the study's is
    higher), ``polymer_offset`` and ``twin polymer_offset`` (as in :func:`cstr.experiments.results.safety_summary`)
    and the paired bootstrap of the per-episode differences (``low``, ``high``, ``outcome``).
    """
    twins = PLAIN_NAMES if twins is None else twins
    if (history["first_seed"], history["episodes"]) != (results.evaluation["first_seed"], results.episodes):
        raise ValueError(
            "the study and evaluation.json were evaluated on different episodes; rerun "
            "python -m cstr stress-history --evaluation-only with the evaluation's episode count"
        )

    rows = []
    for name, twin in twins.items():
        for scenario, seeds in history["controllers"].get(name, {}).items():  # an arm not run has no rows
            for key, record in seeds.items():
                seed = int(key.removeprefix("seed"))
                ours, theirs = record["episodes"], study_episodes(history, results, twin, scenario, seed)
                summary, twin_summary = safety_summary(ours), safety_summary(theirs)
                x = np.array([e["total_reward"] for e in ours])
                y = np.array([e["total_reward"] for e in theirs])
                rows.append(
                    {
                        "controller": name,
                        "seed": seed,
                        "scenario": scenario,
                        "crossings": summary["crossings"],
                        "twin crossings": twin_summary["crossings"],
                        "total_reward": summary["total_reward"],
                        "twin total_reward": twin_summary["total_reward"],
                        "change": (summary["total_reward"] - twin_summary["total_reward"])
                        / abs(twin_summary["total_reward"]),
                        "polymer_offset": summary["polymer_offset"],
                        "twin polymer_offset": twin_summary["polymer_offset"],
                        **{k: v for k, v in paired_outcome(x, y).items() if k != "mean difference"},
                    }
                )
    return pd.DataFrame(rows)


def crossing_seeds(table: pd.DataFrame, name: str, scenario: str = "stress") -> dict[str, list[int]]:
    """From :func:`paired_table`: the training seeds on which study controller ``name`` (``"ours"``) and its
    twin (``"twin"``) cross the limit in ``scenario`` at least once."""
    rows = table[(table["controller"] == name) & (table["scenario"] == scenario)]
    return {
        "ours": sorted(int(s) for s in rows.loc[rows["crossings"] > 0, "seed"]),
        "twin": sorted(int(s) for s in rows.loc[rows["twin crossings"] > 0, "seed"]),
    }


DRAWS = {
    "shipped": {"bc": "bc+", "iql": "iql+"},
    "redrawn": {"bc": "bc+redrawn", "iql": "iql+redrawn"},
    "with-stress": {"bc": "bc+with-stress", "iql": "iql+with-stress"},
}
"""The cost-model draws per training seed by kind, and the controller each policy makes with it: the shipped
draw and the redrawn one (the paper's data) and the stress history's."""
PLAIN_DRAWS = ("shipped", "redrawn")
"""The kinds of draw trained on the paper's data alone: two draws of the same recipe per training seed."""
FURTHER_DRAWS = ("redrawn-2", "redrawn-3")
"""Draws trained only for a training seed the acceptance screen refuses (:func:`redraw_refused`): the deployed
recipe on the paper's data again, the ``k``-th seeded by ``s + k *`` :data:`cstr.seeds.REDRAW_SEED_OFFSET`
(:func:`cstr.safety.shipped.redrawn_cost_model_name`), served as ``bc+redrawn-<k>`` and ``iql+redrawn-<k>``."""


def _redraw_number(draw: str) -> int:
    return int(draw.rsplit("-", 1)[1])


def draw_name(policy: str, draw: str) -> str:
    """The controller ``policy`` makes with a training seed's ``draw`` (:data:`DRAWS` or :data:`FURTHER_DRAWS`)."""
    if draw in DRAWS:
        return DRAWS[draw][policy]
    if draw in FURTHER_DRAWS:
        return f"{policy}+{draw}"
    raise ValueError(f"unknown draw {draw!r}; draws: {', '.join((*DRAWS, *FURTHER_DRAWS))}")


def draw_episodes(history: dict, results, policy: str, draw: str, scenario: str, seed: int) -> list[dict]:
    """The evaluation episodes of ``policy`` corrected with training seed ``seed``'s ``draw`` (:func:`draw_name`)
    in ``scenario`` (:func:`study_episodes`)."""
    return study_episodes(history, results, draw_name(policy, draw), scenario, seed)


def crossing_draws(history: dict, results, scenario: str = "stress", further: bool = False) -> pd.DataFrame:
    """Every cost-model draw of :data:`DRAWS` with each policy, per training seed, in ``scenario``: rows
    ``(policy, draw, seed)`` with ``crossings`` (episodes above the limit) and ``crossed`` (the indices of those
    evaluation episodes, in the order of the evaluation seeds). ``further``: with the further draws of the seeds
    the screen refused (:func:`redraw_refused`) too."""
    kinds = [(draw, history["training_seeds"]) for draw in DRAWS]
    if further and "further" in history:
        kinds += [(draw, history["further"]["seeds"]) for draw in history["further"]["draws"]]
    rows = []
    for draw, seeds in kinds:
        for policy in ("bc", "iql"):
            for seed in seeds:
                episodes = draw_episodes(history, results, policy, draw, scenario, seed)
                crossed = tuple(i for i, e in enumerate(episodes) if e["safety_violation"])
                rows.append(
                    {"policy": policy, "draw": draw, "seed": int(seed), "crossings": len(crossed), "crossed": crossed}
                )
    return pd.DataFrame(rows).set_index(["policy", "draw", "seed"])


def crossing_rates(draws: pd.DataFrame, kinds: dict | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """The share of cost-model draws that cross at least once, per policy and group of draw kinds (``kinds``:
    ``{label: (kind, ...)}``, default ``{"paper data": PLAIN_DRAWS, "with stress": ("with-stress",)}``), with
    its exact (Clopper-Pearson) interval. Columns ``draws``, ``crossing draws``, ``rate``, ``low``, ``high``.

    The interval treats the draws as independent; the two plain draws of one training seed share its policy,
    so it is optimistic where a policy matters as much as its cost model.
    """
    kinds = kinds or {"paper data": PLAIN_DRAWS, "with stress": ("with-stress",)}
    rows = {}
    for policy in draws.index.get_level_values("policy").unique():
        for label, members in kinds.items():
            crossed = draws.loc[policy].loc[list(members), "crossings"] > 0
            interval = binomtest(int(crossed.sum()), len(crossed)).proportion_ci(confidence, method="exact")
            rows[(policy, label)] = {
                "draws": len(crossed),
                "crossing draws": int(crossed.sum()),
                "rate": float(crossed.mean()),
                "low": float(interval.low),
                "high": float(interval.high),
            }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["policy", "draws of"]
    return table


SCREEN_EPISODES = 20
"""Validation episodes of the stress scenario in the acceptance screen (each draws its fault; the largest step
turns up in about a quarter of them)."""


def _screen_job(args) -> dict:
    kind, name, seed, root, episodes, first_seed = args
    torch.set_num_threads(1)
    controller = training_seed_controller(name, seed, root)
    result = {"kind": kind, "name": name, "seed": seed}
    if kind == "screen":
        reasons = rollout(controller, "stress", list(range(first_seed, first_seed + episodes)))["termination_reasons"]
        return result | {"crossings": int(sum(r == TERMINATION_TEMPERATURE for r in reasons))}
    return result | {"returns": validation_returns({name: controller}, SCENARIO_NAMES, episodes, first_seed)[name]}


def screen(
    seeds,
    root=None,
    episodes: int = SCREEN_EPISODES,
    first_seed: int = VALIDATION_SEED_START,
    workers: int = 2,
    backend="loky",
    address=None,
    validation_episodes: int = SELECTION_EPISODES,
) -> dict:
    """An acceptance test for every cost-model draw of :data:`DRAWS` (and the further draws of the seeds it refused,
    where :func:`redraw_refused` has trained them), and the validation that chooses among the paper recipe's draws
    (:data:`PLAIN_DRAWS` and the further ones), on validation seeds from ``first_seed`` (never evaluation seeds).

    * the screen: each policy corrected with each draw runs the stress scenario on ``episodes`` seeds, and the
      episodes above the limit are counted;
    * the validation: each policy corrected with each plain draw runs the paper's three scenarios on
      ``validation_episodes`` seeds (as :func:`cstr.experiments.selection.select_seed` chooses a canonical seed),
      and its mean total reward per scenario is kept.

    Stored in :data:`STRESS_HISTORY_FILE` under ``"screen"``: ``{"episodes", "first_seed", "crossings": {name:
    {"seed<s>": n}}, "validation": {"episodes", "first_seed", "returns": {name: {"seed<s>": {scenario:
    mean}}}}, "deployed": {policy: {"seed<s>": draw or None}}}``, the last the procedure's choice
    (:func:`chosen_draws`, which :func:`deployed_controller` serves); returns that record as stored."""
    check_backend(backend, workers)
    if first_seed + max(episodes, validation_episodes) > EVALUATION_SEED_START:
        raise ValueError(f"the screen's seeds must stay below the evaluation range ({EVALUATION_SEED_START:,})")
    root = data_root(root)
    history = load_stress_history(root)
    if history is None:
        raise ValueError("the study has not been run in this data folder; run python -m cstr stress-history first")
    seeds = [int(s) for s in seeds]
    further = history.get("further", {"draws": [], "seeds": []})
    further_seeds = [s for s in further["seeds"] if s in seeds]
    further_names = [(draw_name(p, d), further_seeds) for d in further["draws"] for p in ("bc", "iql")]
    screened = [(draw_name(p, d), seeds) for d in DRAWS for p in ("bc", "iql")] + further_names
    validated = [(draw_name(p, d), seeds) for d in PLAIN_DRAWS for p in ("bc", "iql")] + further_names
    jobs = [("screen", name, s, root, episodes, first_seed) for name, on in screened for s in on]
    jobs += [("validation", name, s, root, validation_episodes, first_seed) for name, on in validated for s in on]
    record = {
        "episodes": episodes,
        "first_seed": first_seed,
        "crossings": {},
        "validation": {"episodes": validation_episodes, "first_seed": first_seed, "returns": {}},
    }
    for result in run_jobs(_screen_job, jobs, workers, backend, address):
        key = f"seed{result['seed']}"
        if result["kind"] == "screen":
            record["crossings"].setdefault(result["name"], {})[key] = result["crossings"]
        else:
            record["validation"]["returns"].setdefault(result["name"], {})[key] = result["returns"]
    deployed = chosen_draws(screen_table(record))
    record["deployed"] = {policy: {f"seed{s}": draw for s, draw in seeds.items()} for policy, seeds in deployed.items()}
    history["screen"] = record
    write_json(root / STRESS_HISTORY_FILE, history)
    update_manifest(root, [STRESS_HISTORY_FILE])
    return load_stress_history(root)["screen"]  # as stored, to the digits it keeps


def screen_table(screen_record: dict) -> pd.DataFrame:
    """The screen's record as a table, rows ``(policy, draw, seed)`` for every draw it tested: ``screen
    crossings``, ``passes`` (none in the screen) and ``validation`` (the mean over the paper's scenarios of the
    validation returns; NaN for a draw not validated, the stress history's). Nothing in it is read from the
    evaluation episodes."""
    returns = screen_record["validation"]["returns"]
    rows = []
    for draw in (*DRAWS, *FURTHER_DRAWS):
        for policy in ("bc", "iql"):
            name = draw_name(policy, draw)
            for key, crossings in screen_record["crossings"].get(name, {}).items():
                validation = returns.get(name, {}).get(key)
                rows.append(
                    {
                        "policy": policy,
                        "draw": draw,
                        "seed": int(key.removeprefix("seed")),
                        "screen crossings": int(crossings),
                        "passes": crossings == 0,
                        "validation": np.nan if validation is None else float(np.mean(list(validation.values()))),
                    }
                )
    return pd.DataFrame(rows).set_index(["policy", "draw", "seed"])


def screened_draws(draws: pd.DataFrame, screen_record: dict) -> pd.DataFrame:
    """:func:`crossing_draws` (the evaluation's crossings) joined with :func:`screen_table` (the screen's)."""
    table = draws.join(screen_table(screen_record))
    untested = table.index[table["passes"].isna()]
    if len(untested):
        raise ValueError(
            f"the screen did not test the draws {list(untested)}; run python -m cstr stress-history --screen again"
        )
    table["passes"] = table["passes"].astype(bool)
    table["screen crossings"] = table["screen crossings"].astype(int)
    return table


def chosen_draws(
    screened: pd.DataFrame,
    screened_only: bool = True,
    candidates=PLAIN_DRAWS,
    further=FURTHER_DRAWS,
    incumbent: str | None = None,
    tolerance: float | None = None,
) -> dict:
    """Per policy and training seed, the draw of ``candidates`` with the highest validation return (the criterion
    that chooses a canonical seed), among those that pass the screen if ``screened_only``; where none passes, the
    same choice among the ``further`` draws the table has for that seed (:func:`redraw_refused` trains them for
    a refused seed); ``None`` where none of those passes either (the seed is refused: no corrected controller is
    deployed). ``{policy: {seed: draw or None}}``.

    With ``screened_only=False`` it is the same choice without the screen among the draws the procedure chooses
    among: ``candidates`` on every seed, and ``further`` on a seed where no candidate passes. It is the control
    with the procedure's draws, which separates what the screen costs from what choosing among draws on
    validation gains.

    With ``incumbent`` (a draw, e.g. ``"shipped"``), that draw is kept on every seed where it passes the screen,
    and the choice above is made only where it fails: the rule that replaces a draw only where the screen forces
    it, so that against the incumbent everywhere (:func:`fixed_choice`) it measures the screen's cost. With
    ``tolerance`` as well (a share, e.g. :data:`REWARD_LOSS_TARGET`), a replacement must also score on validation
    no more than that share below the incumbent, among the candidates or else the further draws; ``None`` where
    none does (:func:`redraw_refused` with ``gated=True`` trains further draws for those seeds)."""
    if incumbent is None and tolerance is not None:
        raise ValueError("a tolerance is a bound below an incumbent's validation return: pass incumbent too")
    if incumbent is not None and not screened_only:
        raise ValueError("an incumbent is kept where it passes the screen, so it needs screened_only=True")
    choice = {}
    for policy in screened.index.get_level_values("policy").unique():
        rows = screened.loc[policy]
        choice[policy] = {}
        for seed in sorted(rows.loc[list(candidates)].index.get_level_values("seed").unique()):
            floor = None
            if incumbent is not None and tolerance is not None:
                kept = rows.loc[(incumbent, seed), "validation"]
                floor = kept - tolerance * abs(kept)
            if incumbent is not None and _best_draw(rows, (incumbent,), seed, True):
                chosen = incumbent
            elif screened_only:
                chosen = _best_draw(rows, candidates, seed, True, floor) or _best_draw(rows, further, seed, True, floor)
            elif _best_draw(rows, candidates, seed, True):
                chosen = _best_draw(rows, candidates, seed, False)
            else:
                chosen = _best_draw(rows, (*candidates, *further), seed, False)
            choice[policy][int(seed)] = chosen
    return choice


def gated_draws(screened: pd.DataFrame) -> dict:
    """The gated rule's choice (:func:`chosen_draws` with ``incumbent="shipped"`` and :data:`REWARD_LOSS_TARGET`):
    each shipped draw kept where it passes the screen; where it fails, a passing draw that scores on validation no
    more than the target below it, else a further draw that does, else ``None``."""
    return chosen_draws(screened, incumbent="shipped", tolerance=REWARD_LOSS_TARGET)


def _best_draw(rows: pd.DataFrame, kinds, seed: int, screened_only: bool, floor: float | None = None) -> str | None:
    """The draw of ``kinds`` (rows ``(draw, seed)`` of one policy) with the highest validation return, among the
    passing ones if ``screened_only``, and among those scoring at least ``floor`` on validation if given."""
    allowed = [
        draw
        for draw in kinds
        if (draw, seed) in rows.index
        and (rows.loc[(draw, seed), "passes"] or not screened_only)
        and (floor is None or rows.loc[(draw, seed), "validation"] >= floor)
    ]
    return max(allowed, key=lambda d: rows.loc[(d, seed), "validation"], default=None)


def validation_ranking(screened: pd.DataFrame, history: dict, results) -> pd.DataFrame:
    """Does validation rank each seed's two plain draws as the evaluation does? Rows ``(policy, seed)`` of
    :func:`screened_draws`'s table: ``validation gap`` (the shipped draw's validation return minus the redrawn
    one's), ``evaluation gap`` (the same of their evaluation returns, each the mean over the paper's scenarios of
    the scenario means) and ``agrees`` (both gaps favour the same draw)."""

    def evaluation_return(policy, draw, seed):
        return np.mean(
            [
                np.mean([e["total_reward"] for e in draw_episodes(history, results, policy, draw, scenario, seed)])
                for scenario in SCENARIO_NAMES
            ]
        )

    rows = []
    for policy in screened.index.get_level_values("policy").unique():
        for seed in history["training_seeds"]:
            shipped, redrawn = (screened.loc[(policy, draw, seed), "validation"] for draw in PLAIN_DRAWS)
            gap = evaluation_return(policy, "shipped", seed) - evaluation_return(policy, "redrawn", seed)
            rows.append(
                {
                    "policy": policy,
                    "seed": int(seed),
                    "validation gap": shipped - redrawn,
                    "evaluation gap": gap,
                    "agrees": (shipped > redrawn) == (gap > 0),
                }
            )
    return pd.DataFrame(rows).set_index(["policy", "seed"])


def fixed_choice(choice: dict, draw: str = "shipped") -> dict:
    """``choice``'s policies and seeds with ``draw`` everywhere: deploying one kind of draw, unscreened."""
    return {policy: dict.fromkeys(seeds, draw) for policy, seeds in choice.items()}


def deployment_outcome(
    choice: dict, baseline: dict, history: dict, results, scenarios=ALL_SCENARIO_NAMES, episodes=None
) -> pd.DataFrame:
    """Deploying ``choice`` (:func:`chosen_draws`) against deploying ``baseline`` (another choice, e.g.
    :func:`fixed_choice`) per policy and scenario (of ``scenarios``, default all four), on the training seeds where
    both deploy a draw and on the same evaluation episodes: :func:`draw_episodes`'s, or those ``episodes(policy,
    draw, scenario, seed)`` returns (:func:`held_out_reward` reads a held-out check's that way).

    Columns: ``seeds`` (deployed by both), ``refused`` (seeds where ``choice`` deploys none), ``changed`` (seeds
    whose draw differs from the baseline's), ``crossings`` and ``baseline crossings`` (episodes above the
    limit), ``total_reward`` and ``baseline total_reward`` (means over the seeds' episodes), ``change``
    (relative, positive when ``choice`` scores higher), ``polymer_offset`` and ``baseline polymer_offset`` (as
    in :func:`cstr.experiments.results.safety_summary`), and, with the seeds as the units, ``crossing seeds``
    and ``baseline crossing seeds`` (seeds with an episode above the limit), ``seeds better`` and ``seeds worse``
    (a changed seed's mean total reward above or below the baseline's), ``seed changes`` (``{seed: mean
    difference}`` of the changed seeds) and ``seed relative changes`` (``{seed: relative change of the seed's
    mean}`` of every seed, 0 where unchanged).
    """
    if episodes is None:

        def episodes(policy, draw, scenario, seed):
            return draw_episodes(history, results, policy, draw, scenario, seed)

    rows = {}
    for policy, chosen in choice.items():
        seeds = [s for s, d in chosen.items() if d is not None and baseline[policy][s] is not None]
        changed = [s for s in seeds if chosen[s] != baseline[policy][s]]
        for scenario in scenarios:
            per_seed = {s: [episodes(policy, c[policy][s], scenario, s) for c in (choice, baseline)] for s in seeds}
            ours = [e for pair in per_seed.values() for e in pair[0]]
            theirs = [e for pair in per_seed.values() for e in pair[1]]
            summary, base = safety_summary(ours), safety_summary(theirs)
            means = {
                s: [float(np.mean([e["total_reward"] for e in episodes])) for episodes in pair]
                for s, pair in per_seed.items()
            }
            differences = {s: means[s][0] - means[s][1] for s in changed}
            crossing = [
                [any(e["safety_violation"] for e in episodes) for episodes in pair] for pair in per_seed.values()
            ]
            rows[(policy, scenario)] = {
                "seeds": len(seeds),
                "refused": sum(draw is None for draw in chosen.values()),
                "changed": len(changed),
                "crossings": summary["crossings"],
                "baseline crossings": base["crossings"],
                "total_reward": summary["total_reward"],
                "baseline total_reward": base["total_reward"],
                "change": (summary["total_reward"] - base["total_reward"]) / abs(base["total_reward"]),
                "polymer_offset": summary["polymer_offset"],
                "baseline polymer_offset": base["polymer_offset"],
                "crossing seeds": sum(flags[0] for flags in crossing),
                "baseline crossing seeds": sum(flags[1] for flags in crossing),
                "seeds better": sum(d > 0 for d in differences.values()),
                "seeds worse": sum(d < 0 for d in differences.values()),
                "seed changes": differences,
                "seed relative changes": {s: (m[0] - m[1]) / abs(m[1]) for s, m in means.items()},
            }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["policy", "scenario"]
    return table


def without_each_seed(choice: dict, baseline: dict, history: dict, results, policy: str, scenario: str) -> dict:
    """:func:`deployment_outcome`'s pooled ``change`` for ``policy`` in ``scenario`` with each seed both deploy left
    out in turn: ``{seed: change without it}``, to show whether a pooled result rests on one seed."""
    seeds = [s for s, d in choice[policy].items() if d is not None and baseline[policy][s] is not None]
    changes = {}
    for left_out in seeds:
        kept, base = ({policy: {s: c[policy][s] for s in seeds if s != left_out}} for c in (choice, baseline))
        outcome = deployment_outcome(kept, base, history, results, scenarios=(scenario,))
        changes[left_out] = float(outcome.loc[(policy, scenario), "change"])
    return changes


REWARD_LOSS_TARGET = 0.05
"""This book's target for the deployable correction, not the paper's: a safer choice of draw loses no more than this
share of the shipped draws' mean total reward in the paper's three scenarios."""


def seed_losses(outcome: pd.DataFrame, tolerance: float, scenarios=SCENARIO_NAMES) -> pd.DataFrame:
    """From :func:`deployment_outcome`: seed by seed, where the choice loses more than ``tolerance`` (a share of the
    baseline's mean total reward) in ``scenarios`` (default the paper's three).

    Rows ``(policy, seed)`` for every seed both deploy. Columns: ``changed`` (the seed's draw differs from the
    baseline's), ``scenarios lost`` (how many of ``scenarios`` the seed's relative change
    falls below ``-tolerance`` in), ``worst change`` (its lowest relative change over ``scenarios``) and ``worst
    scenario``."""
    rows = []
    for policy in outcome.index.get_level_values("policy").unique():
        changes = {scenario: outcome.loc[(policy, scenario), "seed relative changes"] for scenario in scenarios}
        changed = outcome.loc[(policy, scenarios[0]), "seed changes"]
        for seed in sorted(next(iter(changes.values()))):
            per_scenario = {scenario: changes[scenario][seed] for scenario in scenarios}
            worst = min(per_scenario, key=per_scenario.get)
            rows.append(
                {
                    "policy": policy,
                    "seed": int(seed),
                    "changed": seed in changed,
                    "scenarios lost": sum(change < -tolerance for change in per_scenario.values()),
                    "worst change": per_scenario[worst],
                    "worst scenario": worst,
                }
            )
    return pd.DataFrame(rows).set_index(["policy", "seed"])


def _screened_history(root) -> dict:
    """The stored study with its screen's deployment choice, or a clear error where either is missing."""
    history = load_stress_history(root)
    if history is None or "deployed" not in history.get("screen", {}):
        raise ValueError(
            "no deployment has been chosen in this data folder; run python -m cstr stress-history, then "
            "python -m cstr stress-history --screen"
        )
    return history


HELD_OUT_RECORDS = {"procedure": "held_out", "gated": "held_out_gated"}
"""Where each rule's held-out check is stored in the study's record: the deployment procedure's, and the gated
rule's (:func:`gated_draws`)."""


def rule_choice(history: dict, rule: str = "procedure") -> dict:
    """What ``rule`` deploys per policy and training seed, ``{policy: {"seed<s>": draw or None}}``: the procedure's
    choice as the screen stored it, or the gated rule's from the screen's record."""
    if rule not in HELD_OUT_RECORDS:
        raise ValueError(f"unknown rule {rule!r}; the rules: {', '.join(HELD_OUT_RECORDS)}")
    if rule == "procedure":
        return history["screen"]["deployed"]
    choice = gated_draws(screen_table(history["screen"]))
    return {policy: {f"seed{s}": draw for s, draw in seeds.items()} for policy, seeds in choice.items()}


def held_out_blocks(history: dict) -> list[tuple[int, int]]:
    """``(first_seed, episodes)`` of every block any rule's held-out check has drawn, sorted."""
    return sorted(
        {tuple(block) for key in HELD_OUT_RECORDS.values() for block in history.get(key, {}).get("drawn", [])}
    )


def held_out_check(
    root=None,
    episodes: int = 100,
    first_seed: int = HELD_OUT_SEED_START,
    workers: int = 2,
    backend="loky",
    address=None,
    rule: str = "procedure",
    scenarios=("stress",),
) -> dict:
    """A deployment rule's safety on stress episodes it was not designed on: each policy corrected with the draw
    ``rule`` deploys on each training seed (:func:`rule_choice`), and with its shipped draw beside it, in the stress
    scenario (and any further ``scenarios``: the paper's, for the rule's reward, :func:`held_out_reward`) on
    ``episodes`` evaluation seeds from ``first_seed`` (:data:`cstr.seeds.HELD_OUT_SEED_START`: episodes
    no study had drawn when the rule was made, after the evaluation's episodes had shown what to guard against).

    Stored under ``HELD_OUT_RECORDS[rule]``: ``{"episodes", "first_seed", "scenario", "scenarios", "deployed"``
    (the choice it tested)``, "controllers": {name: {scenario: {"seed<s>": record}}}, "drawn": [[first_seed,
    episodes], ...]}``
    (every block any rule's check has drawn: a later check refuses to draw them again, since they are not held out
    any more); returns it as stored (:func:`held_out_table` reads it)."""
    check_backend(backend, workers)
    if "stress" not in scenarios or any(sc not in ALL_SCENARIO_NAMES for sc in scenarios):
        raise ValueError(f"a held-out check runs the stress scenario and any of {ALL_SCENARIO_NAMES}; got {scenarios}")
    if first_seed < HELD_OUT_SEED_START:
        raise ValueError(
            f"the held-out check draws seeds from {HELD_OUT_SEED_START:,} up, which no study had used when the "
            f"procedure was designed; {first_seed:,} is below them"
        )
    root = data_root(root)
    history = _screened_history(root)
    deployed = rule_choice(history, rule)
    # episodes an earlier check of any rule drew are no longer held out: a rerun needs a fresh block
    drawn = held_out_blocks(history)
    if any(first_seed < start + count and start < first_seed + episodes for start, count in drawn):
        fresh = max(start + count for start, count in drawn)
        raise ValueError(
            f"seeds {first_seed:,}..{first_seed + episodes - 1:,} overlap episodes an earlier held-out check drew "
            f"({', '.join(f'{a:,}..{a + n - 1:,}' for a, n in drawn)}), so they are not held out any more; "
            f"pass --held-out-seed {fresh} or above"
        )
    controllers = set()
    for policy, seeds in deployed.items():
        for key, draw in seeds.items():
            seed = int(key.removeprefix("seed"))
            controllers.add((draw_name(policy, "shipped"), seed))
            if draw is not None:
                controllers.add((draw_name(policy, draw), seed))
    records, _ = evaluate_grid(
        sorted(controllers),
        episodes,
        root,
        workers,
        backend,
        address,
        scenarios=tuple(scenarios),
        first_seed=first_seed,
    )
    history[HELD_OUT_RECORDS[rule]] = {
        "episodes": episodes,
        "first_seed": first_seed,
        "scenario": "stress",
        "scenarios": list(scenarios),
        "deployed": deployed,
        "controllers": records,
        "drawn": [*map(list, drawn), [first_seed, episodes]],
    }
    write_json(root / STRESS_HISTORY_FILE, history)
    update_manifest(root, [STRESS_HISTORY_FILE])
    return load_stress_history(root)[HELD_OUT_RECORDS[rule]]


def _held_out_episodes(record: dict, policy: str, draw: str, scenario: str, seed: int) -> list[dict]:
    """The episodes of ``policy`` corrected with ``draw`` on training seed ``seed`` in ``scenario`` of a held-out
    check's ``record``."""
    return record["controllers"][draw_name(policy, draw)][scenario][f"seed{seed}"]["episodes"]


def held_out_table(history: dict, rule: str = "procedure") -> pd.DataFrame:
    """``rule``'s held-out check (:func:`held_out_check`) per ``(policy, seed)``: the ``draw`` deployed (``None``:
    refused), its ``crossings``, ``smallest_margin`` [K] and ``polymer_offset`` [kg/m3], and the same of the seed's
    shipped draw (``shipped ...``). Raises where the check was not run, or tested another choice than the rule's
    now."""
    held_out = history.get(HELD_OUT_RECORDS[rule]) if rule in HELD_OUT_RECORDS else None
    flag = "" if rule == "procedure" else f" --held-out-rule {rule}"
    if held_out is None:
        raise ValueError(
            f"the held-out check of the {rule} rule has not been run here; run python -m cstr stress-history "
            f"--held-out{flag}"
        )
    if held_out["deployed"] != rule_choice(history, rule):
        raise ValueError(
            f"the held-out check tested another deployment than the {rule} rule's now (the screen was run again); "
            f"run python -m cstr stress-history --held-out{flag} --held-out-seed N again, N past the episodes drawn"
        )
    rows = {}
    for policy, seeds in held_out["deployed"].items():
        for key, draw in seeds.items():
            seed = int(key.removeprefix("seed"))
            shipped = safety_summary(_held_out_episodes(held_out, policy, "shipped", "stress", seed))
            chosen = safety_summary(_held_out_episodes(held_out, policy, draw, "stress", seed)) if draw else {}
            row = {"draw": draw}
            for column in ("crossings", "smallest_margin", "polymer_offset"):
                row[column] = chosen.get(column, np.nan)
                row[f"shipped {column}"] = shipped[column]
            rows[(policy, seed)] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["policy", "seed"])
    return table.sort_index()


def held_out_counts(history: dict, rule: str = "procedure") -> pd.DataFrame:
    """``rule``'s held-out check (:func:`held_out_table`) counted per policy: ``crossings`` in ``episodes`` of the
    deployed draws (refused seeds have none) and ``crossing seeds``, and the same of the shipped draws
    (``shipped ...``, every seed)."""
    table = held_out_table(history, rule)
    per_seed = history[HELD_OUT_RECORDS[rule]]["episodes"]
    rows = {}
    for policy, seeds in table.groupby(level="policy"):
        seeds = seeds.droplevel("policy")
        deployed = seeds[seeds["draw"].notna()]
        rows[policy] = {
            "crossings": int(deployed["crossings"].sum()),
            "episodes": per_seed * len(deployed),
            "crossing seeds": [int(s) for s in deployed.index[deployed["crossings"] > 0]],
            "shipped crossings": int(seeds["shipped crossings"].sum()),
            "shipped episodes": per_seed * len(seeds),
            "shipped crossing seeds": [int(s) for s in seeds.index[seeds["shipped crossings"] > 0]],
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("policy")


def held_out_reward(history: dict, rule: str = "procedure") -> pd.DataFrame:
    """``rule``'s held-out check in the paper's scenarios it ran (``held_out_check(..., scenarios=...)``): per
    ``(policy, scenario)``, the deployed draws against the shipped ones on the seeds the rule deploys, as
    :func:`deployment_outcome` reports them on the evaluation: ``seeds``, ``total_reward`` and ``baseline
    total_reward`` (means over the seeds' episodes), ``change`` (relative, positive when the rule's is higher) and
    ``seed relative changes`` (``{seed: relative change of the seed's mean}``, 0 where the draw is the shipped
    one)."""
    held_out_table(history, rule)  # raises where the check is missing or tested another choice
    record = history[HELD_OUT_RECORDS[rule]]
    paper = [scenario for scenario in record.get("scenarios", ["stress"]) if scenario in SCENARIO_NAMES]
    if not paper:
        raise ValueError(
            f"the {rule} rule's held-out check ran no paper scenario; run python -m cstr stress-history --held-out "
            f"--held-out-rule {rule} --held-out-paper --held-out-seed N, N past the episodes drawn"
        )
    deployed = {
        policy: {int(key.removeprefix("seed")): draw for key, draw in seeds.items()}
        for policy, seeds in record["deployed"].items()
    }

    def episodes(policy, draw, scenario, seed):
        return _held_out_episodes(record, policy, draw, scenario, seed)

    outcome = deployment_outcome(deployed, fixed_choice(deployed), None, None, scenarios=paper, episodes=episodes)
    return outcome[["seeds", "total_reward", "baseline total_reward", "change", "seed relative changes"]]


def seeds_to_redraw(history: dict, gated: bool = False) -> list[int]:
    """The training seeds :func:`redraw_refused` trains further draws for: those the procedure refused for either
    policy, or with ``gated`` those where the gated rule (:func:`gated_draws`) finds no replacement for either
    policy (:func:`rule_choice`)."""
    choice = rule_choice(history, "gated" if gated else "procedure")
    return sorted(
        {int(key.removeprefix("seed")) for seeds in choice.values() for key, draw in seeds.items() if draw is None}
    )


def redraw_refused(
    root=None,
    workers: int = 2,
    updates: dict | None = None,
    backend="loky",
    address=None,
    draws=FURTHER_DRAWS,
    gated: bool = False,
) -> dict:
    """The procedure's second round: for every training seed the screen refused (for either policy), train the
    ``draws`` (:data:`FURTHER_DRAWS`) of the deployed recipe on the paper's data, evaluate both policies corrected
    with each on the study's evaluation episodes in every scenario, then screen and validate them with the others
    (:func:`screen`), which chooses among them where the first two draws failed (:func:`chosen_draws`).

    With ``gated``, the seeds are instead those where the gated rule finds no replacement: the shipped draw
    fails the screen and no passing draw scores within :data:`REWARD_LOSS_TARGET` of it on validation
    (:func:`gated_draws`). The procedure's own choice does not
    change: it takes further draws only where no plain draw passes.

    Stored in :data:`STRESS_HISTORY_FILE` under ``"further"``: ``{"draws", "seeds", "draw_offsets",
    "training_seconds": {draw: {seed: s}}, "controllers": {name: {scenario: {"seed<s>": record}}}}``; returns
    the study's record. Nothing to do (and nothing written) where no seed was refused."""
    check_backend(backend, workers)
    root = data_root(root)
    history = _screened_history(root)
    unknown = [d for d in draws if d not in FURTHER_DRAWS]
    if unknown:
        raise ValueError(f"unknown further draws {unknown}; the further draws: {', '.join(FURTHER_DRAWS)}")
    refused = seeds_to_redraw(history, gated)
    if not refused:
        return history
    further = history.get("further", {"draws": [], "seeds": [], "training_seconds": {}, "controllers": {}})
    kinds = [d for d in FURTHER_DRAWS if d in draws or d in further["draws"]]
    seeds = sorted(set(further["seeds"]) | set(refused))

    def evaluated(d, s):
        return f"seed{s}" in further["controllers"].get(draw_name("iql", d), {}).get("stress", {})

    # the record is a full grid (every further draw for every seed that has any); what is done is kept
    todo = [(d, s) for d in kinds for s in seeds if not evaluated(d, s)]
    if not todo:
        raise ValueError(
            f"the further draws {kinds} of seeds {refused} were already tried and none "
            + ("passes the gate" if gated else "passes")
            + ": those seeds stay refused"
        )
    target = chosen_target(root)
    jobs = [
        (
            s,
            root,
            target,
            updates or {},
            d,
            redrawn_cost_model_name(_redraw_number(d)),
            SCENARIO_NAMES,
            _redraw_number(d) * REDRAW_SEED_OFFSET,
        )
        for d, s in todo
    ]
    seconds = {d: dict(further["training_seconds"].get(d, {})) for d in kinds}
    for report in train_in_processes(_train_job, jobs, root, workers, backend, address):
        seconds[report["label"]][str(report["seed"])] = report["seconds"]
    evaluated_now, _ = evaluate_grid(
        [(draw_name(policy, d), s) for d, s in todo for policy in ("bc", "iql")],
        history["episodes"],
        root,
        workers,
        backend,
        address,
    )
    controllers = further["controllers"]
    for name, scenarios in evaluated_now.items():
        for scenario, records in scenarios.items():
            controllers.setdefault(name, {}).setdefault(scenario, {}).update(records)
    history["further"] = {
        "draws": kinds,
        "seeds": seeds,
        "draw_offsets": {d: _redraw_number(d) * REDRAW_SEED_OFFSET for d in kinds},
        "training_seconds": seconds,
        "controllers": controllers,
    }
    screen_record = history["screen"]
    write_json(root / STRESS_HISTORY_FILE, history)
    update_manifest(root, [STRESS_HISTORY_FILE])
    screen(
        history["training_seeds"],
        root,
        screen_record["episodes"],
        screen_record["first_seed"],
        workers,
        backend,
        address,
        screen_record["validation"]["episodes"],
    )
    return load_stress_history(root)


def deployed_controller(policy: str, seed: int, root=None):
    """What the deployment procedure runs for ``policy`` (``"bc"`` or ``"iql"``) on training seed ``seed``: the
    policy corrected with the draw the screen and the validation chose (stored by :func:`screen`). A refused seed
    (no draw passed) has none: the plant keeps the controller it has, and this raises."""
    history = _screened_history(root)
    deployed = history["screen"]["deployed"]
    if policy not in deployed or f"seed{seed}" not in deployed[policy]:
        raise ValueError(
            f"the screen chose no deployment for policy {policy!r} on training seed {seed}; it chose for "
            f"{', '.join(f'{p} seeds {sorted(int(k[4:]) for k in seeds)}' for p, seeds in deployed.items())}"
        )
    draw = deployed[policy][f"seed{seed}"]
    if draw is None:
        tried = seed in history.get("further", {}).get("seeds", [])
        raise ValueError(
            f"training seed {seed} of {policy!r} was refused: none of its draws passed the acceptance screen, so no "
            "corrected controller is deployed on it; "
            + (
                "its further draws failed too: choose another training seed"
                if tried
                else "python -m cstr stress-history --redraw-refused trains further draws for it"
            )
        )
    return training_seed_controller(draw_name(policy, draw), seed, root)


def fit_table(seeds, root=None, arms=tuple(ARMS)) -> pd.DataFrame:
    """How closely each seed's cost models fit what they were trained on, the shipped one's and each arm's:
    the PICNN's final logged distillation ``loss`` and its NARX model's final ``validation_loss`` (held-out
    stretches of its own training data), read from the sidecars; rows ``(name, seed)``."""
    root = data_root(root)
    rows = []
    for name in (COST_MODEL_NAME, *(ARMS[arm].cost_model for arm in arms)):
        for seed in seeds:
            cost = seeded_name(name, int(seed))
            rows.append(
                {
                    "name": name,
                    "seed": int(seed),
                    "loss": float(load_sidecar(root / weight_files(cost)[0])["history"]["loss"][-1]),
                    "validation_loss": float(
                        load_sidecar(root / weight_files(dynamics_name(cost))[0])["history"]["validation_loss"][-1]
                    ),
                }
            )
    return pd.DataFrame(rows).set_index(["name", "seed"])


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "stress-history",
        help="train the deployed cost model on the stress scenario's dataset too (and, as the control, draw it "
        "again on the paper's data), for every training seed, and evaluate BC and IQL corrected with each "
        "(chapter 8's control)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=list(TRAINING_SEEDS), help=TRAINING_SEEDS_HELP)
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes per scenario (default 100)")
    parser.add_argument("--updates", type=int, default=None, help="PICNN updates (default: the recipe's)")
    parser.add_argument("--dynamics-updates", type=int, default=None, help="NARX updates (default: the recipe's)")
    parser.add_argument("--evaluation-only", action="store_true", help="evaluate the cost models already trained")
    parser.add_argument(
        "--arms",
        nargs="+",
        choices=tuple(ARMS),
        default=list(ARMS),
        help="the arms to (re)run; the others keep their stored records (default: all)",
    )
    parser.add_argument(
        "--screen",
        action="store_true",
        help=f"only the acceptance screen: every draw in the stress scenario on {SCREEN_EPISODES} validation "
        f"episodes, and the paper recipe's draws in the paper's scenarios on {SELECTION_EPISODES} (after the arms "
        "have run)",
    )
    parser.add_argument(
        "--held-out",
        action="store_true",
        help="only the procedure's held-out check: the deployed and the shipped draws in the stress scenario on "
        f"--episodes evaluation seeds from {HELD_OUT_SEED_START:,}, which no study had drawn (after --screen)",
    )
    parser.add_argument(
        "--held-out-seed",
        type=int,
        default=HELD_OUT_SEED_START,
        help=f"the held-out check's first stress seed (default {HELD_OUT_SEED_START:,}; a rerun needs seeds past "
        "those an earlier check drew)",
    )
    parser.add_argument(
        "--held-out-rule",
        choices=tuple(HELD_OUT_RECORDS),
        default="procedure",
        help="with --held-out: the rule whose deployments it checks (default: the procedure; 'gated': the gated rule)",
    )
    parser.add_argument(
        "--held-out-paper",
        action="store_true",
        help="with --held-out: run the paper's three scenarios too, for the rule's reward on held-out episodes",
    )
    parser.add_argument(
        "--redraw-refused",
        action="store_true",
        help=f"only the procedure's second round: train the further draws ({', '.join(FURTHER_DRAWS)}) for the seeds "
        "the screen refused, evaluate them and screen them (after --screen)",
    )
    parser.add_argument(
        "--gated",
        action="store_true",
        help="with --redraw-refused: the seeds where the gated rule finds no replacement instead (the shipped draw "
        f"fails the screen and no passing draw scores within {100 * REWARD_LOSS_TARGET:.0f} %% of it on validation)",
    )
    add_parallel_arguments(parser)
    add_data_argument(parser)

    def command(args):
        if args.redraw_refused:
            started = time.perf_counter()
            updates = {"picnn": args.updates, "dynamics": args.dynamics_updates}
            updates = {key: value for key, value in updates.items() if value is not None}
            record = redraw_refused(args.data, args.workers, updates, args.backend, args.address, gated=args.gated)
            further = record.get("further")
            if further is None:
                print("  the screen refused no seed: nothing to redraw")
            else:
                print(f"  further draws {further['draws']} for seeds {further['seeds']}")
                for policy, seeds in record["screen"]["deployed"].items():
                    print(f"  {policy:4s} deployed {seeds}")
            print(f"[stress-history --redraw-refused] {time.perf_counter() - started:.1f} s", flush=True)
            return 0
        if args.held_out:
            started = time.perf_counter()
            record = held_out_check(
                args.data,
                args.episodes,
                first_seed=args.held_out_seed,
                workers=args.workers,
                backend=args.backend,
                address=args.address,
                rule=args.held_out_rule,
                scenarios=("stress", *SCENARIO_NAMES) if args.held_out_paper else ("stress",),
            )
            history = load_stress_history(args.data)
            print(held_out_table(history, args.held_out_rule).to_string())
            if args.held_out_paper:
                reward = held_out_reward(history, args.held_out_rule)
                print(reward[["seeds", "total_reward", "baseline total_reward", "change"]].to_string())
            print(f"[stress-history --held-out] {time.perf_counter() - started:.1f} s, {record['episodes']} episodes")
            return 0
        if args.screen:
            started = time.perf_counter()
            record = screen(args.seeds, args.data, workers=args.workers, backend=args.backend, address=args.address)
            for name, seeds in record["crossings"].items():
                print(f"  {name:16s} screen crossings per seed {list(seeds.values())}")
            for name, seeds in record["validation"]["returns"].items():
                means = [f"{np.mean(list(returns.values())):.2f}" for returns in seeds.values()]
                print(f"  {name:16s} validation return per seed {means}")
            print(f"[stress-history --screen] {time.perf_counter() - started:.1f} s", flush=True)
            return 0
        updates = {
            key: value
            for key, value in (("picnn", args.updates), ("dynamics", args.dynamics_updates))
            if value is not None
        }
        started = time.perf_counter()
        record = run(
            args.seeds,
            args.episodes,
            args.data,
            args.workers,
            updates,
            args.backend,
            args.address,
            skip_training=args.evaluation_only,
            arms=tuple(args.arms),
        )
        for name, scenarios in record["controllers"].items():
            for scenario, seeds in scenarios.items():
                crossings = [safety_summary(entry["episodes"])["crossings"] for entry in seeds.values()]
                print(f"  {name:16s} {scenario:10s} crossings per seed {crossings}")
        print(f"[stress-history] {time.perf_counter() - started:.1f} s", flush=True)
        return 0

    parser.set_defaults(func=command)

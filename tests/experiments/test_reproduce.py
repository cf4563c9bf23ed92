"""The reproduce pipeline end to end, at toy scale, into a temporary data folder."""

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cstr.agents.weights import load_sidecar
from cstr.experiments import stress_history
from cstr.experiments.registry import (
    FIXED_NAMES,
    REDRAWN_NAMES,
    STRESS_HISTORY_NAMES,
    TRAINED_NAMES,
    training_seed_controller,
)
from cstr.experiments.reproduce import TRAINING_STAGES, evaluate_only, run, train_all
from cstr.experiments.results import load_results, safety_summary
from cstr.plant.scenarios import ALL_SCENARIO_NAMES, SCENARIO_NAMES
from cstr.safety.cost_model import FULL_STATE_FIELDS
from cstr.safety.shipped import load_cost_model
from cstr.seeds import HELD_OUT_SEED_START, REDRAW_SEED_OFFSET
from cstr.storage import read_manifest, update_manifest, verify_files, write_json

TOY = {
    "seeds": [0, 1],
    "episodes": 2,
    "data_episodes": 3,
    "updates": {"bc": 20, "iql": 20, "picnn": 20, "dynamics": 20, "offset-free": 20},
    "tune_evaluations": 3,
}


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """A toy-scale reproduction on two local worker processes: its data folder and stage times."""
    root = tmp_path_factory.mktemp("two-workers")
    return root, run(root=root, workers=2, **TOY)


UNTIMED = ("evaluation.json", "MANIFEST.sha256")
"""The files that hold the wall times (the results, and the manifest with their checksum), compared apart."""


def _outputs(root: Path) -> dict:
    """Every file a reproduction wrote, with its bytes, except the ones that hold wall times."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name not in UNTIMED
    }


def _without_timings(results: dict) -> dict:
    return {key: value for key, value in results.items() if key not in ("stage_seconds", "training_cells", "workers")}


def test_one_worker_reproduces_two_workers_exactly(two_workers, tmp_path):
    """The seed x stage grid gives the same weights, selections and per-episode results on 1 worker as on 2
    (bit for bit: the same machine, the same jobs, each seeded by its own arguments)."""
    root, _ = two_workers
    run(root=tmp_path, workers=1, **TOY)
    ours, theirs = _outputs(tmp_path), _outputs(root)
    assert set(ours) == set(theirs)
    assert [name for name in ours if ours[name] != theirs[name]] == []
    one = json.loads((tmp_path / "results" / "evaluation.json").read_text())
    two = json.loads((root / "results" / "evaluation.json").read_text())
    assert one["workers"] == {"count": 1, "backend": "loky"} and two["workers"] == {"count": 2, "backend": "loky"}
    assert _without_timings(one) == _without_timings(two)
    listed = [read_manifest(folder) for folder in (tmp_path, root)]
    assert [{k: v for k, v in m.items() if not k.endswith("evaluation.json")} for m in listed] == [
        {k: v for k, v in listed[1].items() if not k.endswith("evaluation.json")}
    ] * 2


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is an extra: pip install -e '.[ray]'")
def test_a_local_ray_instance_reproduces_local_processes_exactly(two_workers, tmp_path):
    """The same grid through joblib's Ray backend (a local instance of two CPUs): the same bytes and results."""
    root, _ = two_workers
    run(root=tmp_path, workers=2, backend="ray", **TOY)
    ours, theirs = _outputs(tmp_path), _outputs(root)
    assert set(ours) == set(theirs)
    assert [name for name in ours if ours[name] != theirs[name]] == []
    on_ray = json.loads((tmp_path / "results" / "evaluation.json").read_text())
    assert on_ray["workers"] == {"count": 2, "backend": "ray"}
    assert _without_timings(on_ray) == _without_timings(json.loads((root / "results" / "evaluation.json").read_text()))


def test_a_sweep_grown_by_a_seed_equals_the_sweep_trained_at_once(two_workers, tmp_path):
    """``train-seeds``: seed 0 reproduced, then seed 1's grid trained alone and the canonical seeds chosen among
    both, then both evaluated, gives the same bytes as reproducing seeds 0 and 1 at once."""
    root, _ = two_workers
    run(root=tmp_path, workers=1, **(TOY | {"seeds": [0]}))
    train_all([1], tmp_path, TOY["updates"], workers=1, choose_among=[0, 1])
    evaluate_only([0, 1], TOY["episodes"], tmp_path, workers=1)
    ours, theirs = _outputs(tmp_path), _outputs(root)
    assert set(ours) == set(theirs)
    assert [name for name in ours if ours[name] != theirs[name]] == []
    grown = json.loads((tmp_path / "results" / "evaluation.json").read_text())
    assert _without_timings(grown) == _without_timings(json.loads((root / "results" / "evaluation.json").read_text()))


def test_growing_a_sweep_refuses_to_choose_among_fewer_seeds_than_it_trains(tmp_path):
    with pytest.raises(ValueError, match=r"add \[2\]"):
        train_all([1, 2], tmp_path, TOY["updates"], workers=1, choose_among=[0, 1])


def test_reproduce_runs_every_stage_and_records_verified_results(two_workers):
    tmp_path, stages = two_workers
    assert set(stages) == {"datasets", "pi-tuned", "training", "evaluation", "results", "total"}
    manifest = read_manifest(tmp_path)
    for name in (
        "weights/iql.pt",
        "weights/iql-seed0.pt",
        "weights/iql-seed1.pt",
        "weights/picnn-seed1.json",
        "weights/picnn.pt",
        "weights/picnn-dynamics.pt",
        "weights/picnn-dynamics-seed0.json",
        "weights/picnn-full-state.pt",
        "weights/picnn-full-state-seed0.json",
        "weights/picnn-full-state-dynamics-seed1.pt",
        "weights/picnn-offset-free-seed0.pt",
        "weights/picnn-offset-free-dynamics-seed1.json",
        "results/iql_selection.json",
        "results/evaluation.json",
        "results/trajectories.npz",
        "pi_tuned.json",
        "startup.npz",
    ):
        assert name in manifest, name
    verify_files(tmp_path, list(manifest))
    results = json.loads((tmp_path / "results" / "evaluation.json").read_text())
    assert set(results["controllers"]) == set(FIXED_NAMES + TRAINED_NAMES)
    sidecar = json.loads((tmp_path / "weights" / "picnn.json").read_text())
    assert sidecar["config"]["target"] == "narx" and "states" not in sidecar["config"]["training_inputs"]
    assert set(results["controllers"]["iql+"]["grade_up"]) == {"seed0", "seed1"}
    selection = json.loads((tmp_path / "results" / "iql_selection.json").read_text())
    assert selection["chosen_seed"] in (0, 1)
    assert (tmp_path / "weights" / "iql.pt").read_bytes() == (
        tmp_path / "weights" / f"iql-seed{selection['chosen_seed']}.pt"
    ).read_bytes()
    record = results["controllers"]["bc"]["startup"]["seed1"]
    assert record["controller"] == "bc" and record["scenario"] == "startup"
    episode = record["episodes"][0]
    assert np.isfinite(episode["total_reward"]) and "steady_state_offset" in episode
    # the stored trajectory of a learned controller is its canonical seed's first episode
    chosen = selection["chosen_seed"]
    with np.load(tmp_path / "results" / "trajectories.npz") as stored:
        states = stored["iql+/grade_up/states"]
    first = results["controllers"]["iql+"]["grade_up"][f"seed{chosen}"]["episodes"][0]
    assert states.shape[0] == first["length"]
    assert np.isclose(np.max(states[:, 4]), first["peak_temperature"], rtol=1e-9, atol=0.0)
    assert "stress" in results["controllers"]["iql+"]  # the stress scenario is evaluated too
    # every cell of the seed x stage grid is timed
    assert set(results["training_cells"]) == set(sum(TRAINING_STAGES, ()))
    assert all(set(cells) == {"0", "1"} for cells in results["training_cells"].values())


def test_stress_history_study_trains_on_the_stress_data_too_and_evaluates_on_the_same_episodes(two_workers, tmp_path):
    """``stress-history`` on a copy of the toy reproduction: one cost model per seed trained on all four datasets,
    deployable, differing from the shipped recipe's only in its data; BC and IQL corrected with it evaluated on
    evaluation.json's episodes in every scenario, the record verified through the manifest."""
    source, _ = two_workers
    root = tmp_path / "data"
    shutil.copytree(source, root)
    stress_history.run(
        seeds=[0, 1], episodes=TOY["episodes"], root=root, workers=1, updates=TOY["updates"], arms=("with-stress",)
    )
    sidecar = load_sidecar(root / "weights" / "picnn-with-stress-seed0.json")
    assert sidecar["config"]["training_scenarios"] == list(ALL_SCENARIO_NAMES)
    assert not set(FULL_STATE_FIELDS) & set(sidecar["config"]["training_inputs"])
    assert load_sidecar(root / "weights" / "picnn-seed0.json")["config"]["training_scenarios"] == list(SCENARIO_NAMES)
    # the same recipe on more data: another input normalisation (the stress grade's rows are in it)
    with_stress = load_cost_model(root, "picnn-with-stress-seed0")
    shipped = load_cost_model(root, "picnn-seed0")
    assert not torch.equal(with_stress.normaliser.observation_mean, shipped.normaliser.observation_mean)
    record = stress_history.load_stress_history(root)
    evaluation = json.loads((root / "results" / "evaluation.json").read_text())
    assert record["first_seed"] == evaluation["first_seed"] and record["episodes"] == evaluation["episodes"]
    assert set(record["controllers"]) == {"bc+with-stress", "iql+with-stress"}
    for scenarios in record["controllers"].values():
        assert set(scenarios) == set(ALL_SCENARIO_NAMES)
        assert all(set(seeds) == {"seed0", "seed1"} for seeds in scenarios.values())
    assert training_seed_controller("iql+with-stress", 1, root).name == "iql+with-stress"
    table = stress_history.paired_table(record, load_results(root)).set_index(["controller", "seed", "scenario"])
    assert len(table) == 2 * 2 * len(ALL_SCENARIO_NAMES)
    twin = evaluation["controllers"]["iql+"]["stress"]["seed1"]["episodes"]
    assert table.loc[("iql+with-stress", 1, "stress"), "twin crossings"] == sum(e["safety_violation"] for e in twin)
    assert table.loc[("iql+with-stress", 1, "stress"), "twin total_reward"] == pytest.approx(
        np.mean([e["total_reward"] for e in twin])
    )
    assert set(table["outcome"]) <= {"better", "tie", "worse"}
    crossed = stress_history.crossing_seeds(table.reset_index(), "iql+with-stress")
    rows = table.loc["iql+with-stress"].xs("stress", level="scenario")
    assert crossed == {
        "ours": [s for s in (0, 1) if rows.loc[s, "crossings"] > 0],
        "twin": [s for s in (0, 1) if rows.loc[s, "twin crossings"] > 0],
    }
    twin_offset = table.loc[("iql+with-stress", 1, "stress"), "twin polymer_offset"]
    assert twin_offset == pytest.approx(safety_summary(twin)["polymer_offset"], nan_ok=True)
    fits = stress_history.fit_table([0, 1], root, arms=("with-stress",))
    assert list(fits.index) == [(name, s) for name in ("picnn", "picnn-with-stress") for s in (0, 1)]
    assert (
        fits.loc[("picnn-with-stress", 1), "loss"]
        == load_sidecar(root / "weights" / "picnn-with-stress-seed1.json")["history"]["loss"][-1]
    )
    assert bool(np.isfinite(fits.to_numpy()).all())
    assert stress_history.load_stress_history(source) is None  # a data folder where the study was never run


def test_the_redrawn_arm_is_the_same_recipe_on_the_same_data_drawn_again_and_keeps_the_other_arm(two_workers, tmp_path):
    """The control arm: the deployed recipe on the paper's data with the draw seeded ``s + REDRAW_SEED_OFFSET``;
    running it alone keeps the stored with-stress arm's records, and a mismatched episode count is refused."""
    source, _ = two_workers
    root = tmp_path / "data"
    shutil.copytree(source, root)
    kwargs = {"seeds": [0, 1], "episodes": TOY["episodes"], "root": root, "workers": 1, "updates": TOY["updates"]}
    first = stress_history.run(**kwargs, arms=("with-stress",))
    assert set(first["controllers"]) == set(STRESS_HISTORY_NAMES) and set(first["arms"]) == {"with-stress"}
    first = stress_history.load_stress_history(root)  # as stored (12 significant digits)
    both = stress_history.run(**kwargs, arms=("redrawn",))
    assert list(both["controllers"]) == list(STRESS_HISTORY_NAMES + REDRAWN_NAMES)
    assert both["controllers"]["iql+with-stress"] == first["controllers"]["iql+with-stress"]
    assert both["arms"]["with-stress"] == first["arms"]["with-stress"]
    assert both["arms"]["redrawn"]["training_scenarios"] == list(SCENARIO_NAMES)
    assert set(both["arms"]["redrawn"]["training_seconds"]) == {"0", "1"}
    sidecar = load_sidecar(root / "weights" / "picnn-redrawn-seed1.json")["config"]
    assert sidecar["training_scenarios"] == list(SCENARIO_NAMES) and sidecar["seed"] == 1 + REDRAW_SEED_OFFSET
    # the same data and recipe, another draw: another network, the same input normalisation
    redrawn, shipped = load_cost_model(root, "picnn-redrawn-seed1"), load_cost_model(root, "picnn-seed1")
    assert torch.equal(redrawn.normaliser.observation_mean, shipped.normaliser.observation_mean)
    assert not torch.equal(next(redrawn.parameters()), next(shipped.parameters()))
    assert training_seed_controller("bc+redrawn", 0, root).name == "bc+redrawn"
    results = load_results(root)
    table = stress_history.paired_table(both, results)
    assert set(table["controller"]) == set(STRESS_HISTORY_NAMES + REDRAWN_NAMES)
    # against the control: the twin's episodes are the redrawn controller's, read from the study
    control = stress_history.paired_table(both, results, stress_history.CONTROL_TWINS).set_index(
        ["controller", "seed", "scenario"]
    )
    redrawn_episodes = both["controllers"]["bc+redrawn"]["stress"]["seed1"]["episodes"]
    assert control.loc[("bc+with-stress", 1, "stress"), "twin total_reward"] == pytest.approx(
        np.mean([e["total_reward"] for e in redrawn_episodes])
    )
    assert set(control.index.get_level_values("controller")) == set(STRESS_HISTORY_NAMES)
    draws = stress_history.crossing_draws(both, results)
    assert len(draws) == 2 * len(stress_history.DRAWS) * 2  # policies x kinds of draw x seeds
    for (policy, draw, seed), row in draws.iterrows():
        name = stress_history.DRAWS[draw][policy]
        episodes = both["controllers"][name] if name in both["controllers"] else results.evaluation["controllers"][name]
        flags = [e["safety_violation"] for e in episodes["stress"][f"seed{seed}"]["episodes"]]
        assert row["crossed"] == tuple(i for i, flag in enumerate(flags) if flag) and row["crossings"] == sum(flags)
    assert list(stress_history.fit_table([0, 1], root).index.get_level_values("name").unique()) == [
        "picnn",
        "picnn-with-stress",
        "picnn-redrawn",
    ]
    # the acceptance screen: every draw on validation episodes of the stress scenario, and the plain draws on
    # validation episodes of the paper's, stored beside the study
    screened = stress_history.screen([0, 1], root, episodes=2, workers=1, validation_episodes=2)
    assert stress_history.load_stress_history(root)["screen"] == screened
    assert set(screened["crossings"]) == {name for names in stress_history.DRAWS.values() for name in names.values()}
    plain = {stress_history.DRAWS[draw][p] for draw in stress_history.PLAIN_DRAWS for p in ("bc", "iql")}
    assert set(screened["validation"]["returns"]) == plain
    assert set(screened["validation"]["returns"]["bc+"]["seed1"]) == set(SCENARIO_NAMES)
    table = stress_history.screened_draws(draws, screened)
    procedure = stress_history.chosen_draws(table)
    ranking = stress_history.validation_ranking(table, both, results)
    assert list(ranking.index) == [(p, s) for p in ("bc", "iql") for s in (0, 1)]
    assert (ranking["agrees"] == ((ranking["validation gap"] > 0) == (ranking["evaluation gap"] > 0))).all()
    gap = table.loc[("bc", "shipped", 1), "validation"] - table.loc[("bc", "redrawn", 1), "validation"]
    assert ranking.loc[("bc", 1), "validation gap"] == pytest.approx(gap)
    # the procedure's choice is stored with the screen, and deployed_controller serves it; a refused seed has none
    assert screened["deployed"] == {p: {f"seed{s}": d for s, d in seeds.items()} for p, seeds in procedure.items()}
    for policy, seeds in procedure.items():
        for seed, draw in seeds.items():
            if draw is None:
                with pytest.raises(ValueError, match=f"training seed {seed} of '{policy}' was refused"):
                    stress_history.deployed_controller(policy, seed, root)
            else:
                assert type(stress_history.deployed_controller(policy, seed, root)).__name__ == "CorrectedController"
    with pytest.raises(ValueError, match="no deployment for policy 'bc' on training seed 7"):
        stress_history.deployed_controller("bc", 7, root)
    with pytest.raises(ValueError, match="no deployment has been chosen"):
        stress_history.deployed_controller("bc", 0, source)
    shipped = stress_history.fixed_choice(procedure)
    outcome = stress_history.deployment_outcome(procedure, shipped, both, results)
    assert list(outcome.index) == [(p, s) for p in ("bc", "iql") for s in ALL_SCENARIO_NAMES]
    for policy in ("bc", "iql"):
        refused = sum(draw is None for draw in procedure[policy].values())
        assert outcome.loc[(policy, "stress"), "refused"] == refused
        assert outcome.loc[(policy, "stress"), "seeds"] == 2 - refused
    # against itself nothing changes
    same = stress_history.deployment_outcome(shipped, shipped, both, results)
    assert (same["change"] == 0.0).all() and (same["changed"] == 0).all() and (same["seeds"] == 2).all()
    # the redrawn draw everywhere against the shipped: every seed changed, the per-seed differences add up
    redrawn = stress_history.deployment_outcome(
        stress_history.fixed_choice(procedure, "redrawn"), shipped, both, results
    )
    row = redrawn.loc[("iql", "startup")]
    assert row["changed"] == 2 and row["seeds better"] + row["seeds worse"] <= 2
    assert np.mean(list(row["seed changes"].values())) == pytest.approx(
        row["total_reward"] - row["baseline total_reward"]
    )
    for seed, difference in row["seed changes"].items():  # the relative change is the difference over the baseline
        baseline_mean = np.mean([e["total_reward"] for e in results.episodes_of("iql+", "startup", seed)])
        assert row["seed relative changes"][seed] == pytest.approx(difference / abs(baseline_mean))
    # each seed left out in turn: the pooled change of the other seed alone
    left_out = stress_history.without_each_seed(
        stress_history.fixed_choice(procedure, "redrawn"), shipped, both, results, "iql", "startup"
    )
    assert set(left_out) == {0, 1}
    for seed, change in left_out.items():
        assert change == pytest.approx(row["seed relative changes"][1 - seed])
    # seed by seed: the paper's scenarios where a seed's draw loses more than the tolerance
    losses = stress_history.seed_losses(redrawn, 0.05)
    assert list(losses.index) == [(p, s) for p in ("bc", "iql") for s in (0, 1)] and losses["changed"].all()
    for (policy, seed), row in losses.iterrows():
        changes = {sc: redrawn.loc[(policy, sc), "seed relative changes"][seed] for sc in SCENARIO_NAMES}
        assert row["scenarios lost"] == sum(change < -0.05 for change in changes.values())
        assert row["worst change"] == min(changes.values()) == changes[row["worst scenario"]]
    assert (stress_history.seed_losses(redrawn, -np.inf)["scenarios lost"] == len(SCENARIO_NAMES)).all()
    unchanged = stress_history.seed_losses(same, 0.0)
    assert not unchanged["changed"].any() and (unchanged["scenarios lost"] == 0).all()
    assert (same["crossing seeds"] == same["baseline crossing seeds"]).all()
    assert all(set(r["seed relative changes"].values()) <= {0.0} for _, r in same.iterrows())
    for policy in ("bc", "iql"):  # a seed crosses where any of its episodes does
        crossed = sum(
            any(e["safety_violation"] for e in results.episodes_of(f"{policy}+", "stress", s)) for s in (0, 1)
        )
        assert redrawn.loc[(policy, "stress"), "baseline crossing seeds"] == crossed
    # a refused seed is left out of both sides
    one_refused = {p: {0: "shipped", 1: None} for p in ("bc", "iql")}
    left = stress_history.deployment_outcome(one_refused, shipped, both, results)
    assert (left["seeds"] == 1).all() and (left["refused"] == 1).all()
    assert left.loc[("bc", "startup"), "baseline total_reward"] == pytest.approx(
        np.mean([e["total_reward"] for e in results.episodes_of("bc+", "startup", 0)])
    )
    # the procedure's second round: nothing to do where the screen refused no seed
    history = stress_history.load_stress_history(root)
    history["screen"]["deployed"] = {p: {"seed0": "shipped", "seed1": "shipped"} for p in ("bc", "iql")}
    write_json(root / stress_history.STRESS_HISTORY_FILE, history)
    update_manifest(root, [stress_history.STRESS_HISTORY_FILE])
    assert "further" not in stress_history.redraw_refused(root, workers=1, updates=TOY["updates"])
    # a refused seed gets further draws, evaluated on the study's episodes, screened and validated with the others
    history["screen"]["deployed"]["bc"]["seed1"] = None
    write_json(root / stress_history.STRESS_HISTORY_FILE, history)
    update_manifest(root, [stress_history.STRESS_HISTORY_FILE])
    redrawn_again = stress_history.redraw_refused(root, workers=1, updates=TOY["updates"], draws=("redrawn-2",))
    further = redrawn_again["further"]
    assert further["seeds"] == [1] and further["draws"] == ["redrawn-2"]
    assert load_sidecar(root / "weights" / "picnn-redrawn-2-seed1.json")["config"]["seed"] == 1 + 2 * REDRAW_SEED_OFFSET
    record = further["controllers"]["iql+redrawn-2"]["stress"]["seed1"]
    assert len(record["episodes"]) == TOY["episodes"]
    assert set(redrawn_again["screen"]["crossings"]["bc+redrawn-2"]) == {"seed1"}
    assert set(redrawn_again["screen"]["validation"]["returns"]["iql+redrawn-2"]) == {"seed1"}
    rows = stress_history.crossing_draws(redrawn_again, results, further=True)
    assert ("bc", "redrawn-2", 1) in rows.index and ("bc", "redrawn-2", 0) not in rows.index
    assert len(stress_history.crossing_draws(redrawn_again, results)) == len(draws)  # without them by default
    assert training_seed_controller("iql+redrawn-2", 1, root).name == "iql+redrawn-2"
    table = stress_history.screened_draws(rows, redrawn_again["screen"])
    stored = redrawn_again["screen"]["deployed"]
    assert stored == {p: {f"seed{s}": d for s, d in c.items()} for p, c in stress_history.chosen_draws(table).items()}
    # refused again: the same further draw is not trained twice; another one is added beside it
    history = stress_history.load_stress_history(root)
    history["screen"]["deployed"]["bc"]["seed1"] = None
    write_json(root / stress_history.STRESS_HISTORY_FILE, history)
    update_manifest(root, [stress_history.STRESS_HISTORY_FILE])
    with pytest.raises(ValueError, match="already tried"):
        stress_history.redraw_refused(root, workers=1, updates=TOY["updates"], draws=("redrawn-2",))
    with pytest.raises(ValueError, match="its further draws failed too"):
        stress_history.deployed_controller("bc", 1, root)
    history["screen"]["deployed"]["bc"]["seed0"] = None  # a seed without further draws yet
    write_json(root / stress_history.STRESS_HISTORY_FILE, history)
    update_manifest(root, [stress_history.STRESS_HISTORY_FILE])
    with pytest.raises(ValueError, match="--redraw-refused trains further draws"):
        stress_history.deployed_controller("bc", 0, root)
    history["screen"]["deployed"]["bc"]["seed0"] = "shipped"
    write_json(root / stress_history.STRESS_HISTORY_FILE, history)
    update_manifest(root, [stress_history.STRESS_HISTORY_FILE])
    grown = stress_history.redraw_refused(root, workers=1, updates=TOY["updates"], draws=("redrawn-3",))["further"]
    assert grown["draws"] == ["redrawn-2", "redrawn-3"] and grown["seeds"] == [1]
    assert grown["controllers"]["bc+redrawn-2"] == further["controllers"]["bc+redrawn-2"]  # kept, not retrained
    assert set(grown["training_seconds"]["redrawn-3"]) == {"1"}
    with pytest.raises(ValueError, match="unknown further draws"):
        stress_history.redraw_refused(root, workers=1, draws=("redrawn-7",))
    with pytest.raises(ValueError, match="below the evaluation range"):
        stress_history.screen([0], root, episodes=2, first_seed=999_999, workers=1)
    with pytest.raises(ValueError, match="other seeds or episodes"):
        stress_history.run(**{**kwargs, "episodes": TOY["episodes"] + 1}, arms=("redrawn",))
    with pytest.raises(ValueError, match="unknown arms"):
        stress_history.run(**kwargs, arms=("nope",))
    # the held-out check: the deployed and the shipped draws on stress episodes from HELD_OUT_SEED_START
    with pytest.raises(ValueError, match="has not been run"):
        stress_history.held_out_table(stress_history.load_stress_history(root))
    with pytest.raises(ValueError, match="no study had used"):
        stress_history.held_out_check(root, episodes=2, first_seed=HELD_OUT_SEED_START - 1, workers=1)
    held_out = stress_history.held_out_check(root, episodes=2, workers=1)
    assert held_out["first_seed"] == HELD_OUT_SEED_START and held_out["scenario"] == "stress"
    history = stress_history.load_stress_history(root)
    assert held_out == history["held_out"] and held_out["deployed"] == history["screen"]["deployed"]
    record = held_out["controllers"]["iql+"]["stress"]["seed0"]
    assert record["first_seed"] == HELD_OUT_SEED_START and len(record["episodes"]) == 2
    checked = stress_history.held_out_table(history)
    assert list(checked.index) == [(p, s) for p in ("bc", "iql") for s in (0, 1)]
    for (policy, seed), row in checked.iterrows():
        draw = history["screen"]["deployed"][policy][f"seed{seed}"]
        assert row["draw"] == draw
        shipped = held_out["controllers"][stress_history.draw_name(policy, "shipped")]["stress"][f"seed{seed}"]
        assert row["shipped crossings"] == safety_summary(shipped["episodes"])["crossings"]
        assert np.isnan(row["crossings"]) == (draw is None)
    counts = stress_history.held_out_counts(history)
    for policy, row in counts.iterrows():
        seeds = checked.loc[policy]
        assert row["shipped crossings"] == seeds["shipped crossings"].sum() and row["shipped episodes"] == 2 * 2
        assert row["episodes"] == 2 * int(seeds["draw"].notna().sum())
        assert row["crossing seeds"] == [s for s in seeds.index if seeds.loc[s, "crossings"] > 0]
    assert held_out["drawn"] == [[HELD_OUT_SEED_START, 2]]
    with pytest.raises(ValueError, match="not held out any more; pass --held-out-seed 2000002"):
        stress_history.held_out_check(root, episodes=2, first_seed=HELD_OUT_SEED_START + 1, workers=1)
    again = stress_history.held_out_check(root, episodes=2, first_seed=HELD_OUT_SEED_START + 2, workers=1)
    assert again["drawn"] == [[HELD_OUT_SEED_START, 2], [HELD_OUT_SEED_START + 2, 2]]
    # the gated rule's check is stored apart, tests the gated rule's choice and shares the guard on drawn blocks
    with pytest.raises(ValueError, match="the gated rule has not been run"):
        stress_history.held_out_table(stress_history.load_stress_history(root), "gated")
    with pytest.raises(ValueError, match="not held out any more; pass --held-out-seed 2000004"):
        stress_history.held_out_check(root, episodes=2, first_seed=HELD_OUT_SEED_START + 2, workers=1, rule="gated")
    gated = stress_history.held_out_check(root, episodes=2, first_seed=HELD_OUT_SEED_START + 4, workers=1, rule="gated")
    history = stress_history.load_stress_history(root)
    assert history["held_out_gated"] == gated and history["held_out"] == again
    assert gated["deployed"] == stress_history.rule_choice(history, "gated")
    assert gated["drawn"][-1] == [HELD_OUT_SEED_START + 4, 2]
    gated_table = stress_history.held_out_table(history, "gated")
    assert list(gated_table["draw"]) == [d for p in ("bc", "iql") for d in gated["deployed"][p].values()]
    with pytest.raises(ValueError, match="unknown rule 'nope'"):
        stress_history.rule_choice(history, "nope")
    # the reward on held-out episodes needs the paper's scenarios in the check
    with pytest.raises(ValueError, match="ran no paper scenario"):
        stress_history.held_out_reward(history, "gated")
    with pytest.raises(ValueError, match="runs the stress scenario"):
        stress_history.held_out_check(
            root, episodes=2, first_seed=HELD_OUT_SEED_START + 6, workers=1, scenarios=("startup",)
        )
    paper = stress_history.held_out_check(
        root, episodes=2, first_seed=HELD_OUT_SEED_START + 6, workers=1, rule="gated", scenarios=("stress", "startup")
    )
    assert paper["scenarios"] == ["stress", "startup"]
    reward = stress_history.held_out_reward(stress_history.load_stress_history(root), "gated")
    assert list(reward.index) == [(p, "startup") for p in ("bc", "iql")]
    for policy in ("bc", "iql"):
        deployed = {int(k[4:]): d for k, d in paper["deployed"][policy].items() if d is not None}
        means = {
            d: np.mean(
                [
                    e["total_reward"]
                    for s in deployed
                    for e in paper["controllers"][
                        stress_history.draw_name(policy, d if d == "shipped" else deployed[s])
                    ]["startup"][f"seed{s}"]["episodes"]
                ]
            )
            for d in ("deployed", "shipped")
        }
        row = reward.loc[(policy, "startup")]
        assert row["total_reward"] == pytest.approx(means["deployed"])
        assert row["baseline total_reward"] == pytest.approx(means["shipped"])
        assert all(row["seed relative changes"][s] == 0.0 for s, d in deployed.items() if d == "shipped")
    current = history["screen"]["deployed"]["iql"]["seed0"]
    history["screen"]["deployed"]["iql"]["seed0"] = "redrawn" if current != "redrawn" else "shipped"
    with pytest.raises(ValueError, match="another deployment"):
        stress_history.held_out_table(history)

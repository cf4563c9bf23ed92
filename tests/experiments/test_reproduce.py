"""The reproduce pipeline end to end, at toy scale, into a temporary data folder."""

import json

import numpy as np

from cstr.experiments.registry import FIXED_NAMES, TRAINED_NAMES
from cstr.experiments.reproduce import run
from cstr.storage import read_manifest, verify_files


def test_reproduce_runs_every_stage_and_records_verified_results(tmp_path):
    stages = run(
        seeds=[0, 1],
        episodes=2,
        root=tmp_path,
        workers=2,
        data_episodes=3,
        updates={"bc": 20, "iql": 20, "picnn": 20, "dynamics": 20, "offset-free": 20},
        tune_evaluations=3,
    )
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

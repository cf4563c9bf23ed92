"""The synthetic results folder the tests of chapter 7's statistics read (no training, no simulation)."""

import numpy as np
import pytest
from helpers import synthetic_episodes, synthetic_record

from cstr.agents.weights import selection_file
from cstr.experiments import results as R
from cstr.plant.scenarios import SCENARIO_NAMES
from cstr.storage import update_manifest, write_json, write_npz

# mean total reward per (controller, training seed); scenario-independent except where noted
MEANS = {
    "pi": -20.0,
    "pi-tuned": -10.0,
    "steady-inputs": -15.0,
    "bc": {0: -30.0, 1: -40.0},
    "iql": {0: -8.0, 1: -12.0},
    "bc+": {0: -25.0, 1: -35.0},
    "iql+": {0: -9.0, 1: -5.0},
}


@pytest.fixture
def root(tmp_path):
    controllers = {}
    trajectories = {}
    for name, mean in MEANS.items():
        for scenario in SCENARIO_NAMES:
            if isinstance(mean, dict):
                entry = {
                    f"seed{s}": synthetic_record(
                        name,
                        scenario,
                        synthetic_episodes(m, violate=(name == "bc" and scenario == "grade_up" and s == 1)),
                    )
                    for s, m in mean.items()
                }
            else:
                entry = {"all": synthetic_record(name, scenario, synthetic_episodes(mean))}
            controllers.setdefault(name, {})[scenario] = entry
            trajectories[f"{name}/{scenario}/states"] = np.ones((5, 5))
            trajectories[f"{name}/{scenario}/actions"] = np.ones((5, 2))
    (tmp_path / "results").mkdir()
    write_json(
        tmp_path / R.EVALUATION_FILE,
        {
            "episodes": 4,
            "first_seed": 1_000_000,
            "training_seeds": [0, 1],
            "controllers": controllers,
            "stage_seconds": {"training": 3.0, "datasets": 1.0, "evaluation": 2.0},
        },
    )
    write_npz(tmp_path / R.TRAJECTORIES_FILE, trajectories)
    write_json(tmp_path / selection_file("iql"), {"chosen_seed": 1})
    update_manifest(tmp_path, [R.EVALUATION_FILE, R.TRAJECTORIES_FILE, selection_file("iql")])
    return tmp_path

"""The training benchmark times every cell of one seed's grid (at toy scale here) and projects the stage."""

import shutil

import pytest

from cstr.experiments.benchmark_training import (
    VALIDATED,
    paired_summary,
    projection,
    scaled_updates,
    time_one_seed,
    validation_table,
)
from cstr.experiments.reproduce import TRAINING_STAGES
from cstr.safety.cost_model import CostModelConfig
from cstr.seeds import TRAINING_SEEDS
from cstr.storage import data_root

UNSHIPPED_SEED = max(TRAINING_SEEDS) + 1
"""A training seed the shipped folder has no weights for, so that the test can see it stay untouched."""


def test_every_cell_of_one_seed_is_timed_in_a_copy(tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_root(), root)
    seconds = time_one_seed(UNSHIPPED_SEED, root, {"bc": 5, "iql": 5, "picnn": 5, "dynamics": 5, "offset-free": 5})
    assert list(seconds) == [stage for stages in TRAINING_STAGES for stage in stages]
    assert all(value > 0 for value in seconds.values())
    trained = f"iql-increments-seed{UNSHIPPED_SEED}.pt"
    assert (root / "weights" / trained).is_file()
    assert not (data_root() / "weights" / trained).exists()  # the shipped folder untouched
    # what the networks so trained score on validation seeds, beside another folder's (here the same one)
    table = validation_table(UNSHIPPED_SEED, {"a": root, "b": root}, episodes=1)
    assert list(table["a"]) == list(VALIDATED) and table["a"] == table["b"]
    assert all(value < 0 for value in table["a"].values())  # rewards are negative squared errors


def test_a_scaled_recipe_scales_every_stage_and_keeps_one_update_at_least():
    full, third = scaled_updates(1.0), scaled_updates(1 / 3)
    assert set(full) == {"bc", "iql", "picnn", "dynamics", "offset-free"}
    assert full["picnn"] == CostModelConfig().num_updates and full["dynamics"] == CostModelConfig().dynamics_updates
    assert all(third[key] == round(full[key] / 3) for key in full)
    assert scaled_updates(1e-9) == dict.fromkeys(full, 1)
    with pytest.raises(ValueError, match="must be positive"):
        scaled_updates(0.0)


def test_projection_spreads_the_seeds_over_the_workers():
    assert projection(1000.0, 10, 2) == pytest.approx(5000.0)
    with pytest.raises(ValueError, match="at least 1"):
        projection(1000.0, 10, 0)


def test_the_paired_summary_counts_the_seeds_a_cheaper_recipe_loses():
    def table(shipped, trained):
        return {"shipped": dict.fromkeys(VALIDATED, shipped), "trained": dict.fromkeys(VALIDATED, trained)}

    summary = paired_summary({3: table(-6.0, -12.0), 4: table(-8.0, -7.0), 5: table(-5.0, -11.0)})
    assert set(summary) == set(VALIDATED)
    row = summary["iql+"]
    assert row["worse"] == 2 and row["seeds"] == 3
    assert row["shipped median"] == -6.0 and row["trained median"] == -11.0
    assert row["shipped lowest"] == -8.0 and row["trained lowest"] == -12.0
    with pytest.raises(ValueError, match="--validate"):
        paired_summary({})

"""The training benchmark times every cell of one seed's grid (at toy scale here) and projects the stage."""

import shutil

import pytest

from cstr.experiments.benchmark_training import projection, time_one_seed
from cstr.experiments.reproduce import TRAINING_STAGES
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


def test_projection_spreads_the_seeds_over_the_workers():
    assert projection(1000.0, 10, 2) == pytest.approx(5000.0)
    with pytest.raises(ValueError, match="at least 1"):
        projection(1000.0, 10, 0)

"""The seed policy: which seeds belong to what, in one place.

=====================  ================================================
seeds                  used for
=====================  ================================================
0 - 99 (per scenario)  dataset episodes (``generate-data``)
training seeds 0 - 9   BC, IQL, cost models (``train``, ``reproduce``)
100,000 + training     a cost model's second draw (``stress-history``'s
seed                   redrawn control; the policies keep their seed)
900,000 - 900,015      optimising ``pi-tuned``
990,000 onwards        validation: choosing seeds, cost models, settings
1,000,000 onwards      evaluation only; nothing is ever trained there
2,000,000 onwards      held-out evaluation: episodes drawn only after a
                       procedure was designed on the ones above
=====================  ================================================

Every command checks its seeds against this table and refuses a seed on the
wrong side of :data:`EVALUATION_SEED_START`.
"""

from __future__ import annotations

EVALUATION_SEED_START = 1_000_000
"""Seeds from here up are reserved for evaluation; datasets and training use lower ones."""
HELD_OUT_SEED_START = 2_000_000
"""Evaluation seeds that no study had drawn when chapter 8's deployment procedure was designed (its rules came
after the evaluation from :data:`EVALUATION_SEED_START` had shown what to guard against): the procedure's
held-out check (:func:`cstr.experiments.stress_history.held_out_check`). Inside the evaluation range."""
VALIDATION_SEED_START = 990_000
"""Seeds for choosing the cost model and the correction's settings: below the
evaluation range, apart from the dataset (0 onwards) and pi-tuned (900,000 onwards) seeds."""
TRAINING_SEEDS = tuple(range(10))
"""The training seeds every learned controller is trained and evaluated with (``reproduce``'s default);
the canonical one of each is chosen among them on validation seeds."""
REDRAW_SEED_OFFSET = 100_000
"""Added to a training seed to draw its cost model again (new initialisation and batches, same data and
policies): ``stress-history``'s control for what retraining alone changes. Clear of the training seeds of a
100-seed sweep and of the tuning, validation and evaluation ranges."""
TRAINING_SEEDS_HELP = f"training seeds (default {' '.join(map(str, TRAINING_SEEDS))})"
"""The ``--seeds`` help of every command that trains or evaluates per training seed."""
TUNING_SEED_START = 900_000
"""Training seeds of the optimisation: 900000 onwards (below the evaluation range, apart from the
dataset seeds that start at 0)."""


def check_seed(seed: int, episodes: int) -> None:
    """Refuse any seed in ``[seed, seed + episodes)`` that is negative or reserved for evaluation."""
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    last = seed + episodes - 1
    if last >= EVALUATION_SEED_START:
        raise ValueError(
            f"seeds {seed}..{last} reach into the evaluation range (>= {EVALUATION_SEED_START:,}): "
            f"dataset and training seeds must stay below {EVALUATION_SEED_START:,} so that "
            "evaluation episodes never overlap the data"
        )


def check_training_seed(seed: int) -> None:
    """Refuse a training seed outside ``[0, EVALUATION_SEED_START)``."""
    if not 0 <= int(seed) < EVALUATION_SEED_START:
        raise ValueError(
            f"training seed {seed} must lie in [0, {EVALUATION_SEED_START:,}); "
            "seeds from there up are reserved for evaluation"
        )


class SeedError(ValueError):
    """An evaluation was asked to run on dataset or training seeds."""


def evaluation_seed_argument(text: str) -> int:
    """An argparse ``type`` for a command's first evaluation seed: the integer, or argparse's usage error."""
    import argparse  # the command-line layer's type; the checks above need no argparse

    try:
        seed = int(text)
        check_evaluation_seed(seed)
    except ValueError as error:  # SeedError is a ValueError
        raise argparse.ArgumentTypeError(str(error)) from None
    return seed


def check_evaluation_seed(seed: int) -> None:
    """Refuse an evaluation seed below :data:`EVALUATION_SEED_START`."""
    if int(seed) < EVALUATION_SEED_START:
        raise SeedError(
            f"evaluation seed {seed} is below {EVALUATION_SEED_START:,}: seeds below that are reserved for "
            f"datasets and training, so evaluating on them could reuse an episode a controller learned from. "
            f"Use --seed {EVALUATION_SEED_START} or higher."
        )

"""Export the datasets to Minari: ``python -m cstr export-minari``.

One Minari dataset per scenario, id ``cstr/<scenario>/pi-v0``, written where
``MINARI_DATASETS_PATH`` points (Minari's default: ``~/.minari/datasets``).
Each carries the environment spec (``cstr/PolymerCSTR-v0`` with the
scenario's keyword) so ``dataset.recover_environment()`` rebuilds the
environment. Needs the optional extra ``cstr[minari]`` (``minari[hdf5]``);
built with ``minari.create_dataset_from_buffers`` from hand-built
``EpisodeBuffer`` lists (no jax).

Minari stores ``T + 1`` observations per episode; they are the dataset's
``observations`` of the episode followed by its last ``next_observations``.

``reference_scores`` (``(min, max)`` per scenario) become Minari's
``ref_min_score``/``ref_max_score``, so that ``minari.get_normalized_score``
means something: ``python -m cstr export-minari``
(:mod:`cstr.experiments.export`) sets them from the shipped evaluation,
``random`` at 0 and the best evaluated controller at 1.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium
import minari
import numpy as np
from minari.data_collector import EpisodeBuffer

from cstr.data.dataset import load_dataset
from cstr.envs import ENV_ID
from cstr.plant.scenarios import ALL_SCENARIO_NAMES


def dataset_id(scenario: str) -> str:
    return f"cstr/{scenario}/pi-v0"


def export_scenario(
    scenario: str, root: Path | str | None = None, overwrite: bool = True, reference_scores: tuple | None = None
):
    """Write one scenario's dataset to Minari; return the ``MinariDataset``.

    ``reference_scores``: ``(ref_min_score, ref_max_score)``, mean total rewards that a normalised score maps
    to 0 and 1; without them the dataset has none (Minari would otherwise simulate a random policy itself).
    """

    data = load_dataset(scenario, root)
    name = dataset_id(scenario)
    if name in minari.list_local_datasets():
        if not overwrite:
            raise FileExistsError(f"Minari dataset {name} exists already")
        minari.delete_dataset(name)
    buffers = []
    for episode_id, meta in enumerate(data.episodes):
        episode = data.episode(episode_id)
        observations = np.concatenate([episode["observations"], episode["next_observations"][-1:]], axis=0)
        buffers.append(
            EpisodeBuffer(
                id=episode_id,
                seed=int(meta["seed"]),
                observations=observations.astype(np.float32),
                actions=episode["actions"].astype(np.float32),
                rewards=episode["rewards"].tolist(),
                terminations=episode["terminations"].tolist(),
                truncations=episode["truncations"].tolist(),
                infos={},
            )
        )
    env = gymnasium.make(ENV_ID, scenario=scenario)
    try:
        with warnings.catch_warnings():
            # the project publishes no contact address; Minari only recommends one
            warnings.filterwarnings("ignore", message=".*author_email.*")
            return minari.create_dataset_from_buffers(
                dataset_id=name,
                buffer=buffers,
                env=env.spec,
                eval_env=env.spec,
                algorithm_name="PI controllers with randomised tunings (cstr.control.pi)",
                author="The cstr book contributors",
                code_permalink="https://github.com/cstr-book/cstr-book",
                description=(
                    f"Polymerisation CSTR, scenario {scenario}: {len(buffers)} episodes of two-loop PI "
                    "control with per-episode randomised tunings (the cstr book's rebuild of the Durkin et al. "
                    "2025 benchmark)."
                ),
                requirements=["cstr"],
                **(
                    {}
                    if reference_scores is None
                    else {"ref_min_score": float(reference_scores[0]), "ref_max_score": float(reference_scores[1])}
                ),
            )
    finally:
        env.close()


def export_all(scenarios=ALL_SCENARIO_NAMES, root=None, reference_scores: dict | None = None) -> list:
    """Every scenario's dataset; ``reference_scores``: ``{scenario: (min, max)}``, see :func:`export_scenario`."""
    scores = reference_scores or {}
    return [export_scenario(scenario, root, reference_scores=scores.get(scenario)) for scenario in scenarios]

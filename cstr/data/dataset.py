"""Reading the offline datasets: the verified loader, the dataset object, minibatches, summaries.

:func:`load_dataset` checks a scenario's files against the manifest before
it reads them; :func:`training_arrays` concatenates the three scenarios, the
data every offline agent trains on.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cstr.data.generation import TRANSITION_KEYS, scenario_files
from cstr.envs.core import WORST_STEP_REWARD
from cstr.plant.scenarios import SCENARIO_NAMES, TEMPERATURE_LIMIT, get_scenario
from cstr.storage import DataIntegrityError, data_root, verify_files


@dataclass
class OfflineDataset:
    """One scenario's transitions as numpy arrays (one row per transition)."""

    scenario: str
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    episode_ids: np.ndarray
    states: np.ndarray
    next_states: np.ndarray
    metadata: dict = field(repr=False)

    @property
    def episodes(self) -> list[dict]:
        """The per-episode metadata (seed, tuning, termination reason, length, return) as a list of dicts."""
        return self.metadata["episodes"]

    def __len__(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def episode_count(self) -> int:
        return len(self.episodes)

    def episode(self, episode_id: int) -> dict:
        """The arrays of one episode (views)."""
        rows = np.flatnonzero(self.episode_ids == episode_id)
        return {key: getattr(self, key)[rows] for key in TRAINING_KEYS}

    def episode_returns(self) -> np.ndarray:
        return np.bincount(self.episode_ids, weights=self.rewards, minlength=self.episode_count)

    def sampler(self, batch_size: int = 256, seed: int = 0, torch: bool = True, device=None):
        return MinibatchSampler(self, batch_size=batch_size, seed=seed, torch=torch, device=device)


def load_dataset(scenario: str, root: Path | str | None = None) -> OfflineDataset:
    """Load a scenario's dataset after verifying its files against ``MANIFEST.sha256``.

    ``root`` defaults to the shipped ``data/`` folder (or ``$CSTR_DATA_DIR``).
    Raises :class:`DataIntegrityError` (a ``ValueError``) naming the file when a
    file is missing, altered or truncated.
    """
    get_scenario(scenario)
    root = data_root(root)
    npz_name, json_name = scenario_files(scenario)
    verify_files(root, [npz_name, json_name])
    try:
        with np.load(root / npz_name, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        metadata = json.loads((root / json_name).read_text(encoding="utf-8"))
    except (OSError, ValueError, zipfile.BadZipFile) as error:  # listed and hashed, but unreadable
        raise DataIntegrityError(f"could not read {root / npz_name}: {error}", root / npz_name) from error
    return OfflineDataset(
        scenario=scenario,
        metadata=metadata,
        **{key: arrays[key] for key in TRANSITION_KEYS + ("states", "next_states")},
    )


class MinibatchSampler:
    """Uniform minibatches of transitions, reproducible from ``seed``.

    Iterating yields dicts with keys ``observations``, ``actions``,
    ``rewards``, ``next_observations``, ``terminations`` (and ``dones`` =
    terminations; a truncation is not a terminal state for bootstrapping),
    as float32 torch tensors (``torch=True``) or numpy arrays. ``sample()``
    returns one batch; iteration goes on forever (draw with replacement).
    """

    def __init__(self, dataset: OfflineDataset, batch_size: int = 256, seed: int = 0, torch: bool = True, device=None):
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.rng = np.random.default_rng(seed)
        self.torch = torch
        self.device = device
        self._arrays = {
            "observations": dataset.observations.astype(np.float32),
            "actions": dataset.actions.astype(np.float32),
            "rewards": dataset.rewards.astype(np.float32),
            "next_observations": dataset.next_observations.astype(np.float32),
            "terminations": dataset.terminations.astype(np.float32),
        }

    def sample(self) -> dict:
        rows = self.rng.integers(0, len(self.dataset), size=self.batch_size)
        batch = {key: value[rows] for key, value in self._arrays.items()}
        batch["dones"] = batch["terminations"]
        if self.torch:
            batch = {key: torch.as_tensor(value, device=self.device) for key, value in batch.items()}
        return batch

    def __iter__(self):
        while True:
            yield self.sample()


TRAINING_KEYS = tuple(key for key in TRANSITION_KEYS if key != "episode_ids") + ("states", "next_states")


def training_arrays(scenarios=SCENARIO_NAMES, root=None) -> dict[str, np.ndarray]:
    """The verified offline datasets of ``scenarios``, concatenated (one policy serves all three).

    Every transition field of ``TRAINING_KEYS``, plus ``episode_ids``
    numbered across the scenarios (scenario k's episodes follow scenario
    k-1's), rows of each episode contiguous and in time order.
    """
    parts = [load_dataset(name, root) for name in scenarios]
    arrays = {key: np.concatenate([getattr(part, key) for part in parts]) for key in TRAINING_KEYS}
    # episode ids unique across the scenarios, so that every episode boundary shows as a change of id
    offsets = np.cumsum([0] + [part.episode_count for part in parts[:-1]])
    arrays["episode_ids"] = np.concatenate([part.episode_ids + offset for part, offset in zip(parts, offsets)])
    return arrays


NEAR_LIMIT_MARGIN = 5.0
"""An episode 'comes close to the limit' when its temperature gets within this many kelvin of it."""


def dataset_summary(data) -> dict:
    """Numbers the chapter quotes about one scenario's dataset."""
    returns = data.episode_returns()
    max_temperature = np.array([data.next_states[data.episode_ids == e, 4].max() for e in range(data.episode_count)])
    reasons = [episode["termination_reason"] for episode in data.episodes]
    return {
        "episodes": data.episode_count,
        "transitions": len(data),
        "mean_return": float(returns.mean()),
        "median_return": float(np.median(returns)),
        "best_return": float(returns.max()),
        "worst_return": float(returns.min()),
        "terminated": int(sum(reason != "horizon" for reason in reasons)),
        "near_limit": int(np.sum(max_temperature >= TEMPERATURE_LIMIT - NEAR_LIMIT_MARGIN)),
        "max_temperature": float(max_temperature.max()),
        "closest_margin": float(TEMPERATURE_LIMIT - max_temperature.max()),
        "feed_range": (float(data.actions[:, 0].min()), float(data.actions[:, 0].max())),
        "coolant_range": (float(data.actions[:, 1].min()), float(data.actions[:, 1].max())),
        "worst_step_reward": WORST_STEP_REWARD,
    }


def percentile_of(value: float, data) -> float:
    """Share of the dataset's episodes (percent) whose return is below ``value``."""
    return float(100.0 * np.mean(data.episode_returns() < value))

"""The offline datasets: generation, byte-reproducible storage, the manifest, the loader, a sampler.

Generation (``python -m cstr generate-data``) runs the randomised-tuning PI
controllers of :mod:`cstr.control` on the batched environment. Episode ``e``
of a scenario uses the seed ``S + e``: the environment's initial-state
generator is seeded with it (``reset(seed=S + e)`` of the single
environment), and the tuning is drawn from an independent generator seeded
with ``(S + e, TUNING_STREAM)`` (:func:`cstr.control.tuning_for_seed`). The
same seeds are used for every scenario.

Seeds below :data:`EVALUATION_SEED_START` are for datasets and training;
seeds from it up are reserved for evaluation and generation refuses them.

Files, per scenario, in the data folder:

* ``<scenario>.npz``: transitions, episode after episode; written with fixed
  zip timestamps so that the same command gives the same bytes;
* ``<scenario>.json``: per-episode metadata (seed, tuning, termination
  reason, length, return), sorted keys, fixed float formatting;
* ``MANIFEST.sha256``: ``sha256sum`` format, paths relative to the folder,
  so ``cd data && sha256sum -c MANIFEST.sha256`` verifies everything.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cstr.control import PIController, rollout, tuning_for_seed
from cstr.scenarios import SCENARIO_NAMES, get_scenario

EVALUATION_SEED_START = 1_000_000
"""Seeds from here up are reserved for evaluation; datasets and training use lower ones."""

DEFAULT_EPISODES = 100
DEFAULT_SEED = 0
MANIFEST_NAME = "MANIFEST.sha256"
FORMAT_VERSION = 1
DATA_ROOT = Path(__file__).resolve().parent.parent / "data"
"""The shipped data folder of a source checkout (``CSTR_DATA_DIR`` overrides it)."""

TRANSITION_KEYS = ("observations", "actions", "rewards", "next_observations", "terminations", "truncations",
                   "episode_ids")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class DataIntegrityError(ValueError):
    """A data file is missing, altered or truncated; ``path`` names it."""

    def __init__(self, message: str, path: Path | str | None = None):
        super().__init__(message)
        self.path = path


def default_root() -> Path:
    return Path(os.environ.get("CSTR_DATA_DIR", DATA_ROOT))


def check_seed(seed: int, episodes: int) -> None:
    """Refuse any seed in ``[seed, seed + episodes)`` that is negative or reserved for evaluation."""
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    last = seed + episodes - 1
    if last >= EVALUATION_SEED_START:
        raise ValueError(f"seeds {seed}..{last} reach into the evaluation range (>= {EVALUATION_SEED_START:,}): "
                         f"dataset and training seeds must stay below {EVALUATION_SEED_START:,} so that "
                         "evaluation episodes never overlap the data")


# --------------------------------------------------------------------------
# Generation

def generate_scenario(scenario: str, episodes: int = DEFAULT_EPISODES, seed: int = DEFAULT_SEED,
                      horizon: int | None = None, progress: bool = False) -> tuple[dict, list[dict]]:
    """Run the randomised PI controllers; return ``(arrays, episode_metadata)``.

    ``arrays`` holds the transitions of every episode concatenated (float32
    observations/actions, float64 rewards, float32 physical states, bool flags,
    int32 episode ids).
    """
    get_scenario(scenario)
    check_seed(int(seed), int(episodes))
    seeds = [int(seed) + e for e in range(int(episodes))]
    tunings = [tuning_for_seed(s) for s in seeds]
    result = rollout(PIController(tunings), scenario, seeds, horizon=horizon, progress=progress)
    lengths = result["lengths"]
    mask = np.arange(result["rewards"].shape[1])[None, :] < lengths[:, None]
    arrays = {
        "observations": result["observations"][mask].astype(np.float32),
        "actions": result["actions"][mask].astype(np.float32),
        "rewards": result["rewards"][mask].astype(np.float64),
        "next_observations": result["next_observations"][mask].astype(np.float32),
        "terminations": result["terminations"][mask],
        "truncations": result["truncations"][mask],
        "episode_ids": np.repeat(np.arange(len(seeds), dtype=np.int32), lengths),
        "states": result["states"][mask].astype(np.float32),
        "next_states": result["next_states"][mask].astype(np.float32),
    }
    metadata = []
    for e, s in enumerate(seeds):
        metadata.append({
            "episode_id": e,
            "seed": s,
            "scenario": scenario,
            "tuning": tunings[e].to_dict(),
            "termination_reason": str(result["termination_reasons"][e]),
            "length": int(lengths[e]),
            "return": float(result["returns"][e]),
        })
    return arrays, metadata


# --------------------------------------------------------------------------
# Deterministic storage

def write_npz(path: Path, arrays: dict) -> None:
    """Like ``np.savez_compressed`` but byte-reproducible: fixed member order and timestamps."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue(), compresslevel=9)
    Path(path).write_bytes(buffer.getvalue())


def _round_floats(value):
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _round_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round_floats(v) for v in value]
    return value


def write_json(path: Path, value) -> None:
    """JSON with sorted keys, floats to 12 significant digits, a final newline."""
    Path(path).write_text(json.dumps(_round_floats(value), sort_keys=True, indent=1) + "\n", encoding="utf-8")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` from ``root/MANIFEST.sha256``."""
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        raise DataIntegrityError(f"data manifest missing: {path}", path)
    entries = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise DataIntegrityError(f"{path}, line {number}: not in sha256sum format: {line!r}", path)
        entries[name.lstrip("*")] = digest
    return entries


def update_manifest(root: Path, names) -> None:
    """Add or refresh the hashes of ``names`` (relative to ``root``); entries stay sorted."""
    root = Path(root)
    path = root / MANIFEST_NAME
    entries = read_manifest(root) if path.is_file() else {}
    for name in names:
        entries[str(name)] = sha256_file(root / name)
    # write beside and rename: a reader never sees a half-written manifest
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(f"{entries[name]}  {name}\n" for name in sorted(entries)), encoding="utf-8")
    os.replace(partial, path)


def verify_files(root: Path, names) -> None:
    """Check ``names`` against the manifest; raise :class:`DataIntegrityError` naming the first bad file."""
    root = Path(root)
    entries = read_manifest(root)
    for name in names:
        path = root / name
        if name not in entries:
            raise DataIntegrityError(f"{path} is not listed in {root / MANIFEST_NAME}", path)
        if not path.is_file():
            raise DataIntegrityError(f"data file missing: {path} (listed in {root / MANIFEST_NAME}); "
                                     "regenerate it with `python -m cstr generate-data`", path)
        actual = sha256_file(path)
        if actual != entries[name]:
            raise DataIntegrityError(
                f"data file altered or truncated: {path} ({path.stat().st_size} bytes) has sha256 {actual}, "
                f"the manifest expects {entries[name]}", path)


def scenario_files(scenario: str) -> tuple[str, str]:
    return f"{scenario}.npz", f"{scenario}.json"


def generate(scenarios, episodes: int = DEFAULT_EPISODES, seed: int = DEFAULT_SEED, out: Path | str | None = None,
             horizon: int | None = None, progress: bool = True) -> list[Path]:
    """Generate and store the datasets of ``scenarios``; update the manifest. Returns the files written."""
    out = default_root() if out is None else Path(out)
    check_seed(int(seed), int(episodes))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for scenario in scenarios:
        arrays, metadata = generate_scenario(scenario, episodes, seed, horizon=horizon, progress=progress)
        npz_name, json_name = scenario_files(scenario)
        write_npz(out / npz_name, arrays)
        write_json(out / json_name, {
            "format_version": FORMAT_VERSION,
            "scenario": scenario,
            "generator": "cstr.data.generate (randomised-tuning PI, cstr.control.TUNING_RANGES)",
            "seed": int(seed),
            "episode_count": int(episodes),
            "transitions": int(arrays["rewards"].shape[0]),
            "episodes": metadata,
        })
        update_manifest(out, [npz_name, json_name])
        written += [out / npz_name, out / json_name]
    return written


# --------------------------------------------------------------------------
# Loading

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
        keys = ("observations", "actions", "rewards", "next_observations", "terminations", "truncations",
                "states", "next_states")
        return {key: getattr(self, key)[rows] for key in keys}

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
    root = default_root() if root is None else Path(root)
    npz_name, json_name = scenario_files(scenario)
    verify_files(root, [npz_name, json_name])
    try:
        with np.load(root / npz_name, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        metadata = json.loads((root / json_name).read_text(encoding="utf-8"))
    except (OSError, ValueError, zipfile.BadZipFile) as error:  # listed and hashed, but unreadable
        raise DataIntegrityError(f"could not read {root / npz_name}: {error}", root / npz_name) from error
    return OfflineDataset(scenario=scenario, metadata=metadata,
                          **{key: arrays[key] for key in TRANSITION_KEYS + ("states", "next_states")})


class MinibatchSampler:
    """Uniform minibatches of transitions, reproducible from ``seed``.

    Iterating yields dicts with keys ``observations``, ``actions``,
    ``rewards``, ``next_observations``, ``terminations`` (and ``dones`` =
    terminations; a truncation is not a terminal state for bootstrapping),
    as float32 torch tensors (``torch=True``) or numpy arrays. ``sample()``
    returns one batch; iteration goes on forever (draw with replacement).
    """

    def __init__(self, dataset: OfflineDataset, batch_size: int = 256, seed: int = 0, torch: bool = True,
                 device=None):
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
            import torch
            batch = {key: torch.as_tensor(value, device=self.device) for key, value in batch.items()}
        return batch

    def __iter__(self):
        while True:
            yield self.sample()


# --------------------------------------------------------------------------
# Command line

def _generate_command(args) -> int:
    scenarios = SCENARIO_NAMES if args.scenario == "all" else (args.scenario,)
    try:
        check_seed(args.seed, args.episodes)
    except ValueError as error:
        raise SystemExit(f"generate-data: {error}")
    written = generate(scenarios, args.episodes, args.seed, args.out, horizon=args.horizon, progress=not args.quiet)
    for path in written:
        print(f"{sha256_file(path)}  {path}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate-data", help="generate the randomised-PI offline datasets into a data folder",
        description="Run randomised-tuning PI controllers on the batched reactor and store the transitions, "
                    "per-episode metadata and a sha256 manifest. Episode e uses seed SEED + e.")
    parser.add_argument("--scenario", choices=SCENARIO_NAMES + ("all",), default="all")
    parser.add_argument("--episodes", type=int, default=DEFAULT_EPISODES,
                        help=f"episodes per scenario (default {DEFAULT_EPISODES})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"first episode seed (default {DEFAULT_SEED}); must stay below {EVALUATION_SEED_START:,}")
    parser.add_argument("--out", type=Path, default=None, help="data folder (default: the repository's data/)")
    parser.add_argument("--horizon", type=int, default=None, help="steps per episode (default: the environment's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_generate_command)

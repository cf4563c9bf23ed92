"""Datasets: seed policy, byte-reproducible generation, manifest checks, loader, sampler, Minari."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from cstr.data.dataset import load_dataset
from cstr.data.generation import generate
from cstr.seeds import EVALUATION_SEED_START
from cstr.storage import MANIFEST_NAME, DataIntegrityError, read_manifest, sha256_file

EPISODES = 4
HORIZON = 25
SEED = 123


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    generate(("startup", "grade_up"), EPISODES, SEED, root, horizon=HORIZON, progress=False)
    return root


def hashes(root):
    return {path.name: sha256_file(path) for path in sorted(root.iterdir())}


def test_generation_refuses_evaluation_seeds(tmp_path):
    with pytest.raises(ValueError, match="evaluation"):
        generate(("startup",), 2, EVALUATION_SEED_START, tmp_path, progress=False)
    with pytest.raises(ValueError, match="evaluation"):
        generate(("startup",), 10, EVALUATION_SEED_START - 5, tmp_path, progress=False)
    assert not any(tmp_path.iterdir())


def test_cli_refuses_evaluation_seeds(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cstr",
            "generate-data",
            "--scenario",
            "startup",
            "--episodes",
            "1",
            "--seed",
            str(EVALUATION_SEED_START),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "evaluation" in result.stderr and "1,000,000" in result.stderr


def test_regeneration_is_byte_identical(small_data, tmp_path):
    generate(("startup", "grade_up"), EPISODES, SEED, tmp_path, horizon=HORIZON, progress=False)
    assert hashes(tmp_path) == hashes(small_data)
    # the manifest is sha256sum-compatible
    if shutil.which("sha256sum"):
        check = subprocess.run(["sha256sum", "-c", MANIFEST_NAME], cwd=tmp_path, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_loader_arrays_are_consistent(small_data):
    data = load_dataset("grade_up", small_data)
    n = len(data)
    assert data.observations.shape == (n, 6) and data.next_observations.shape == (n, 6)
    assert data.actions.shape == (n, 2) and data.rewards.shape == (n,)
    assert data.terminations.dtype == bool and data.truncations.dtype == bool
    assert data.episode_count == EPISODES
    assert np.array_equal(np.unique(data.episode_ids), np.arange(EPISODES))
    for e, meta in enumerate(data.episodes):
        rows = np.flatnonzero(data.episode_ids == e)
        assert len(rows) == meta["length"]
        assert np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows)))  # contiguous
        # within an episode the next observation is the following observation
        assert np.array_equal(data.next_observations[rows[:-1]], data.observations[rows[1:]])
        # exactly one end per episode, at its last transition
        ends = data.terminations[rows] | data.truncations[rows]
        assert ends[-1] and not ends[:-1].any()
        assert meta["seed"] == SEED + e
        assert meta["return"] == pytest.approx(data.rewards[rows].sum())
        # the actions are what the PI applied: they become the next observation's previous inputs
        np.testing.assert_allclose(data.next_observations[rows, 4:6], data.actions[rows], rtol=1e-6)
    assert np.all(np.isfinite(data.observations)) and np.all(np.isfinite(data.rewards))


def test_first_observation_matches_single_env_reset(small_data):
    import gymnasium as gym

    import cstr

    data = load_dataset("startup", small_data)
    env = gym.make(cstr.ENV_ID, scenario="startup")
    obs, _ = env.reset(seed=SEED + 2)
    np.testing.assert_array_equal(data.episode(2)["observations"][0], obs)


@pytest.mark.parametrize("damage", ["missing", "altered", "truncated"])
@pytest.mark.parametrize("name", ["startup.npz", "startup.json"])
def test_damaged_file_raises_error_naming_it(small_data, tmp_path, damage, name):
    root = tmp_path / "copy"
    shutil.copytree(small_data, root)
    path = root / name
    if damage == "missing":
        path.unlink()
    elif damage == "altered":
        content = bytearray(path.read_bytes())
        content[len(content) // 2] ^= 0x01
        path.write_bytes(bytes(content))
    else:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataIntegrityError, match=name.replace(".", r"\.")) as info:
        load_dataset("startup", root)
    assert info.value.path == path
    assert isinstance(info.value, ValueError)
    load_dataset("grade_up", root)  # the other scenario's files are untouched


def test_missing_manifest_is_named(small_data, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(small_data, root)
    (root / MANIFEST_NAME).unlink()
    with pytest.raises(DataIntegrityError, match=MANIFEST_NAME):
        load_dataset("startup", root)


def test_shipped_manifest_lists_the_canonical_files():
    from cstr.storage import DATA_ROOT

    entries = read_manifest(DATA_ROOT)
    for scenario in ("startup", "grade_down", "grade_up", "stress"):
        assert f"{scenario}.npz" in entries and f"{scenario}.json" in entries
    assert "pi_tuned.json" in entries
    data = load_dataset("grade_down")  # verifies the shipped files
    assert data.episode_count == 100


def test_the_stress_dataset_holds_safe_and_unsafe_episodes():
    """The stress scenario's criterion: the randomised PI controllers cross the limit in 10-50 % of episodes."""
    data = load_dataset("stress")  # verifies the shipped files
    crossed = [e["termination_reason"] == "temperature_limit" for e in data.metadata["episodes"]]
    assert len(crossed) == 100
    assert 0.10 <= np.mean(crossed) <= 0.50


def test_sampler_is_seeded_and_torch_friendly(small_data):
    torch = pytest.importorskip("torch")
    data = load_dataset("startup", small_data)
    a = data.sampler(batch_size=32, seed=5).sample()
    b = data.sampler(batch_size=32, seed=5).sample()
    assert set(a) >= {"observations", "actions", "rewards", "next_observations", "terminations"}
    assert isinstance(a["observations"], torch.Tensor) and a["observations"].shape == (32, 6)
    assert a["observations"].dtype == torch.float32
    for key in a:
        assert torch.equal(a[key], b[key])
    batch = next(iter(data.sampler(batch_size=8, seed=1, torch=False)))
    assert isinstance(batch["actions"], np.ndarray) and batch["actions"].shape == (8, 2)


def test_minari_round_trip(small_data, tmp_path, monkeypatch):
    minari = pytest.importorskip("minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    from cstr.data.minari_export import dataset_id, export_scenario

    export_scenario("grade_up", small_data)
    dataset = minari.load_dataset(dataset_id("grade_up"))
    data = load_dataset("grade_up", small_data)
    assert dataset.total_episodes == EPISODES and dataset.total_steps == len(data)
    for episode in dataset.iterate_episodes():
        ours = data.episode(episode.id)
        assert np.array_equal(episode.observations[:-1], ours["observations"])
        assert np.array_equal(episode.observations[1:], ours["next_observations"])
        assert np.array_equal(episode.actions, ours["actions"])
        assert np.array_equal(episode.rewards, ours["rewards"])
        assert np.array_equal(episode.terminations, ours["terminations"])
        assert np.array_equal(episode.truncations, ours["truncations"])
    env = dataset.recover_environment()
    assert env.spec.id == "cstr/PolymerCSTR-v0" and env.spec.kwargs["scenario"] == "grade_up"
    obs, _ = env.reset(seed=SEED)
    np.testing.assert_array_equal(obs, data.episode(0)["observations"][0])
    env.close()


def test_minari_export_carries_reference_scores_from_the_shipped_evaluation(small_data, tmp_path, monkeypatch):
    minari = pytest.importorskip("minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    from cstr.data.minari_export import dataset_id, export_scenario
    from cstr.experiments.export import reference_scores
    from cstr.experiments.results import load_results

    scores = reference_scores(load_results(), ["grade_up"])["grade_up"]
    assert scores[0] < scores[1] < 0  # random below the best, both costs
    export_scenario("grade_up", small_data, reference_scores=scores)
    dataset = minari.load_dataset(dataset_id("grade_up"))
    assert minari.get_normalized_score(dataset, np.array(scores)) == pytest.approx([0.0, 1.0])

"""The offline datasets: generation by randomised PI controllers, and ``python -m cstr generate-data``.

Generation (``python -m cstr generate-data``) runs the randomised-tuning PI
controllers of :mod:`cstr.control.pi` on the batched environment. Episode ``e``
of a scenario uses the seed ``S + e``: the environment's initial-state
generator is seeded with it (``reset(seed=S + e)`` of the single
environment), and the tuning is drawn from an independent generator seeded
with ``(S + e, TUNING_STREAM)`` (:func:`cstr.control.pi.tuning_for_seed`). The
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

from pathlib import Path

import numpy as np

from cstr.control.pi import PIController, tuning_for_seed
from cstr.control.rollout import rollout
from cstr.plant.scenarios import ALL_SCENARIO_NAMES, get_scenario
from cstr.seeds import EVALUATION_SEED_START, check_seed
from cstr.storage import add_data_argument, data_root, sha256_file, update_manifest, write_json, write_npz

DEFAULT_EPISODES = 100
DEFAULT_SEED = 0
FORMAT_VERSION = 1
TRANSITION_KEYS = (
    "observations",
    "actions",
    "rewards",
    "next_observations",
    "terminations",
    "truncations",
    "episode_ids",
)


def generate_scenario(
    scenario: str,
    episodes: int = DEFAULT_EPISODES,
    seed: int = DEFAULT_SEED,
    horizon: int | None = None,
    progress: bool = False,
) -> tuple[dict, list[dict]]:
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
        metadata.append(
            {
                "episode_id": e,
                "seed": s,
                "scenario": scenario,
                "tuning": tunings[e].to_dict(),
                "termination_reason": str(result["termination_reasons"][e]),
                "length": int(lengths[e]),
                "return": float(result["returns"][e]),
            }
        )
    return arrays, metadata


def scenario_files(scenario: str) -> tuple[str, str]:
    return f"{scenario}.npz", f"{scenario}.json"


def generate(
    scenarios,
    episodes: int = DEFAULT_EPISODES,
    seed: int = DEFAULT_SEED,
    out: Path | str | None = None,
    horizon: int | None = None,
    progress: bool = True,
) -> list[Path]:
    """Generate and store the datasets of ``scenarios``; update the manifest. Returns the files written."""
    out = data_root() if out is None else Path(out)
    check_seed(int(seed), int(episodes))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for scenario in scenarios:
        arrays, metadata = generate_scenario(scenario, episodes, seed, horizon=horizon, progress=progress)
        npz_name, json_name = scenario_files(scenario)
        write_npz(out / npz_name, arrays)
        write_json(
            out / json_name,
            {
                "format_version": FORMAT_VERSION,
                "scenario": scenario,
                "generator": "cstr.data.generation.generate (randomised-tuning PI, cstr.control.pi.TUNING_RANGES)",
                "seed": int(seed),
                "episode_count": int(episodes),
                "transitions": int(arrays["rewards"].shape[0]),
                "episodes": metadata,
            },
        )
        update_manifest(out, [npz_name, json_name])
        written += [out / npz_name, out / json_name]
    return written


def _generate_command(args) -> int:
    scenarios = ALL_SCENARIO_NAMES if args.scenario == "all" else (args.scenario,)
    try:
        check_seed(args.seed, args.episodes)
    except ValueError as error:
        raise SystemExit(f"generate-data: {error}") from None
    written = generate(scenarios, args.episodes, args.seed, args.data, horizon=args.horizon, progress=not args.quiet)
    for path in written:
        print(f"{sha256_file(path)}  {path}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate-data",
        help="generate the randomised-PI offline datasets into a data folder",
        description="Run randomised-tuning PI controllers on the batched reactor and store the transitions, "
        "per-episode metadata and a sha256 manifest. Episode e uses seed SEED + e.",
    )
    parser.add_argument(
        "--scenario",
        choices=ALL_SCENARIO_NAMES + ("all",),
        default="all",
        help="one scenario or all (the stress scenario included)",
    )
    parser.add_argument(
        "--episodes", type=int, default=DEFAULT_EPISODES, help=f"episodes per scenario (default {DEFAULT_EPISODES})"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"first episode seed (default {DEFAULT_SEED}); must stay below {EVALUATION_SEED_START:,}",
    )
    add_data_argument(parser)
    parser.add_argument("--horizon", type=int, default=None, help="steps per episode (default: the environment's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_generate_command)

"""``python -m cstr export-minari``: the datasets as Minari datasets, with reference scores from the shipped results.

The reference scores make Minari's normalised score (``minari.get_normalized_score``)
mean something: 0 is ``random`` (inputs uniform in the box) and 1 the best
mean total reward of the shipped evaluation (:func:`reference_scores`), both
on the evaluation seeds from 1,000,000.
"""

from __future__ import annotations

from cstr.data.minari_export import export_all
from cstr.experiments.registry import COMPARED_NAMES, FIXED_NAMES
from cstr.experiments.results import load_results
from cstr.plant.scenarios import ALL_SCENARIO_NAMES
from cstr.storage import add_data_argument

FLOOR = "random"
"""The controller whose mean total reward a normalised score maps to 0."""


def reference_scores(results, scenarios=ALL_SCENARIO_NAMES) -> dict:
    """``{scenario: (min, max)}``: ``random``'s mean total reward, and the best mean of the deployable shipped
    controllers and ``pi-tuned`` (canonical seeds), on the shipped evaluation episodes."""
    candidates = [name for name in dict.fromkeys(FIXED_NAMES + COMPARED_NAMES) if name in results.controllers]
    if FLOOR not in results.controllers:
        raise ValueError(f"the shipped evaluation has no {FLOOR!r} controller; run python -m cstr reproduce")
    scores = {}
    for scenario in scenarios:
        means = {name: float(results.metric(name, scenario, "total_reward").mean()) for name in candidates}
        scores[scenario] = (means[FLOOR], max(means.values()))
    return scores


def _command(args) -> int:
    scenarios = ALL_SCENARIO_NAMES if args.scenario == "all" else (args.scenario,)
    scores = reference_scores(load_results(args.data), scenarios)
    for dataset in export_all(scenarios, args.data, scores):
        low, high = scores[dataset.spec.dataset_id.split("/")[1]]
        print(
            f"{dataset.spec.dataset_id}: {dataset.total_episodes} episodes, {dataset.total_steps} steps; "
            f"reference scores {low:.2f} (random) to {high:.2f} (best shipped)"
        )
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-minari",
        help="write the datasets as Minari datasets cstr/<scenario>/pi-v0, with reference scores",
        description="Writes under MINARI_DATASETS_PATH (default ~/.minari/datasets).",
    )
    parser.add_argument(
        "--scenario", choices=ALL_SCENARIO_NAMES + ("all",), default="all", help="one scenario or all (stress included)"
    )
    add_data_argument(parser)
    parser.set_defaults(func=_command)

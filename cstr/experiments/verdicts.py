"""Comparisons that the chapters state in words, computed: wins counted on means, and the correction's effect by a
paired test on shared episodes."""

from __future__ import annotations

from cstr.experiments.seed_statistics import paired_outcome
from cstr.plant.scenarios import SCENARIO_NAMES


def count_wins(table, better: str, worse: str, metric: str = "total_reward", scenarios=SCENARIO_NAMES) -> int:
    """In how many scenarios ``better`` has a higher ``metric`` than ``worse`` in an
    :func:`evaluation_table`."""
    return int(sum(table.loc[(s, better), metric] > table.loc[(s, worse), metric] for s in scenarios))


def higher_or_lower(value: float, reference: float) -> str:
    return "higher" if value > reference else "lower"


def correction_verdict(evaluations: dict, corrected: str, base: str, scenario: str) -> str:
    """What the correction did to the total reward on the same episodes, in words, with the mean per-episode
    difference and its bootstrap 95 % CI: "improves" when the CI lies above zero, "worsens" when below, else
    "no significant change" (a paired test: the two controllers met the same initial states).

    ``evaluations``: ``{(name, scenario): Evaluation}`` (:func:`cstr.experiments.evaluation.evaluate_controllers`).
    """
    rewards = [[e["total_reward"] for e in evaluations[(name, scenario)].episodes] for name in (corrected, base)]
    outcome = paired_outcome(*rewards)
    word = {"better": "improves", "worse": "worsens", "tie": "no significant change"}[outcome["outcome"]]
    return f"{word} ({outcome['mean difference']:+.2f} [{outcome['low']:+.2f}, {outcome['high']:+.2f}])"

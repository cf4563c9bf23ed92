"""Comparisons that the chapters state in words, computed: wins counted by non-overlapping intervals."""

from __future__ import annotations

from cstr.plant.scenarios import SCENARIO_NAMES


def count_wins(table, better: str, worse: str, metric: str = "total_reward", scenarios=SCENARIO_NAMES) -> int:
    """In how many scenarios ``better`` has a higher ``metric`` than ``worse`` in an
    :func:`evaluation_table`."""
    return int(sum(table.loc[(s, better), metric] > table.loc[(s, worse), metric] for s in scenarios))


def higher_or_lower(value: float, reference: float) -> str:
    return "higher" if value > reference else "lower"


def correction_verdict(table, corrected: str, base: str, scenario: str) -> str:
    """What the correction did to the mean total reward, in words: "improves" only when the
    corrected mean is higher and the 95 % confidence intervals do not overlap."""
    plus, plain = table.loc[(scenario, corrected)], table.loc[(scenario, base)]
    if plus["total_reward"] > plain["total_reward"]:
        return "improves" if plus["ci95_low"] > plain["ci95_high"] else "raises the mean of (CIs overlap)"
    return "does not improve" if plus["ci95_high"] >= plain["ci95_low"] else "worsens"

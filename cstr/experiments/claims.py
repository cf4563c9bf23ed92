"""The claims table: sentences a reader can check, each with its source, a computed verdict and its statistic.

Each :class:`Claim` is a sentence that could turn out false. Its verdict is
:func:`cstr.experiments.results.verdict_word` over the cells it is decided
in: *reproduced* when it holds in every cell, *not reproduced* when in none,
*partly reproduced* otherwise; a bar this book adds has nothing to
reproduce, so it *holds*, *partly holds* or *does not hold*
(:data:`OWN_VERDICTS`).

* A comparison claim ("A outperforms B") is decided per training seed of A
  and scenario by a paired bootstrap of the per-episode differences on the
  shared evaluation episodes (:func:`cstr.experiments.seed_statistics.paired_difference`):
  it holds in a cell when the 95 % CI of the mean difference lies wholly on
  A's side. Beside the cell count, the table gives rliable's probability of
  improvement over training seeds (:func:`cstr.experiments.seed_statistics.improvement_probabilities`)
  for total-reward claims.
* The stability claims count episodes above the temperature limit or ended
  early, per offline RL controller, in the paper's three scenarios and,
  as this book's bar, in the stress scenario
  (:func:`cstr.experiments.results.claim_stable`).
  Where every one of them stays below the limit but no evaluated controller
  crosses it either (the random inputs and the data's PI included), nothing
  evaluated there challenged the limit: its verdict is *not tested*
  (:data:`NOT_TESTED`), whatever the count.
* The secondary summary's "IQL+ is best" is decided per training seed among
  the paper's controllers (:data:`PAPER_CONTROLLERS`), and reported for this
  book's wider set beside it (:func:`cstr.experiments.results.claim_iql_plus_best`).

``source`` says where each sentence comes from: the abstract (quoted or
paraphrased), a secondary summary (never the paper's own words), or a bar
this book adds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cstr.experiments.comparison_tables import robust_reward_table
from cstr.experiments.registry import LEARNED_NAMES
from cstr.experiments.results import claim_iql_plus_best, claim_stable, verdict_word
from cstr.experiments.seed_statistics import (
    OUTCOMES,
    improvement_probabilities,
    normalised_scores,
    paired_cells,
    paired_difference,
)
from cstr.plant.responses import hours_to_limit

REPORT_NAMES = {
    "bc": "BC",
    "iql": "IQL",
    "bc+": "BC+",
    "iql+": "IQL+",
    "bc-increments": "BC on increments",
    "iql-increments": "IQL on increments",
    "iql+offset-free": "IQL+offset-free",
    "bc+offset-free": "BC+offset-free",
}
"""How the one-line verdicts name the learned controllers."""
ABSTRACT_OUTPERFORM = (
    "abstract: offline RL 'can outperform traditional control approaches' (that these are the PI controllers "
    "that generated the data: secondary summaries)"
)
ABSTRACT_CORRECTION = (
    "abstract: 'particularly when combined with convex action correction' (the data's PI as the bar: "
    "secondary summaries)"
)
NOT_EVALUATED = "not evaluated"
"""The verdict of a claim whose controllers the results do not hold (an older or partial results folder)."""
NOT_TESTED = "not tested"
"""The verdict of a stability claim that holds where nothing challenged it: no evaluated controller, the random
inputs included, crosses the limit in those scenarios, so staying below it says little about the controllers."""
ORIGINS = {"abstract": "abstract", "book": "this book's bar", "secondary": "secondary summary"}
"""Where a claim comes from, as the one-line verdicts label it: the paper's abstract (quoted or paraphrased),
a bar this book adds, or a secondary summary of the paper (never the paper's own words)."""
OWN_VERDICTS = {"reproduced": "holds", "partly reproduced": "partly holds", "not reproduced": "does not hold"}
"""The verdict words of this book's own bars: nothing to reproduce, so they hold or not."""


@dataclass(frozen=True)
class Claim:
    """One checkable sentence. For a comparison, ``pairs`` lists ``(A, B)``: the claim is that A is better
    than B on ``metric`` (higher when ``higher_is_better``), for every training seed of A and scenario."""

    key: str
    sentence: str
    source: str
    short: str
    origin: str
    pairs: tuple = ()
    metric: str = "total_reward"
    higher_is_better: bool = True


CLAIMS = (
    Claim(
        "rl-beats-data-pi",
        "Offline RL (BC, IQL) outperforms the PI controllers that generated its data.",
        ABSTRACT_OUTPERFORM,
        "offline RL (BC, IQL) beats the PI controllers that generated its data",
        "abstract",
        (("bc", "pi"), ("iql", "pi")),
    ),
    Claim(
        "iql-beats-data-pi",
        "IQL beats the PI controllers that generated its data in all three scenarios.",
        "secondary summary, not the abstract",
        "IQL beats the PI controllers that generated its data in all three scenarios",
        "secondary",
        (("iql", "pi"),),
    ),
    Claim(
        "rl-beats-tuned-pi",
        "Offline RL (BC, IQL) outperforms a jointly tuned PI.",
        "this book's stricter bar",
        "offline RL (BC, IQL) beats a jointly tuned PI",
        "book",
        (("bc", "pi-tuned"), ("iql", "pi-tuned")),
    ),
    Claim(
        "rl-beats-recipe",
        "Offline RL (BC, IQL) outperforms the open-loop recipe: the target grade's steady inputs from the first step.",
        "this book's headroom bar",
        "offline RL (BC, IQL) beats the open-loop recipe",
        "book",
        (("bc", "steady-inputs"), ("iql", "steady-inputs")),
    ),
    Claim(
        "corrected-beats-data-pi",
        "With the correction, offline RL (IQL+) outperforms the PI controllers that generated its data.",
        ABSTRACT_CORRECTION,
        "offline RL with the correction (IQL+) beats the data's PI",
        "abstract",
        (("iql+", "pi"),),
    ),
    Claim(
        "corrected-beats-tuned-pi",
        "With the correction, offline RL (IQL+, and this book's BC+) outperforms a jointly tuned PI.",
        "this book's stricter bar",
        "offline RL with the correction (IQL+, BC+) beats a jointly tuned PI",
        "book",
        (("iql+", "pi-tuned"), ("bc+", "pi-tuned")),
    ),
    Claim(
        "correction-helps",
        "The correction improves its policy: IQL+ beats IQL, seed by seed.",
        "abstract, paraphrased: 'particularly when combined with convex action correction' (IQL+ is the "
        "secondary summaries' name)",
        "the correction improves IQL (IQL+ is the secondary summaries' name)",
        "abstract",
        (("iql+", "iql"),),
    ),
    Claim(
        "correction-helps-bc",
        "The correction improves BC too: BC+ beats BC, seed by seed.",
        "this book's extension (BC+ is this book's)",
        "the correction improves BC",
        "book",
        (("bc+", "bc"),),
    ),
    Claim(
        "offsets",
        "BC and IQL show steady-state offsets: they settle further from the grade than the data's PI.",
        "abstract: BC and IQL show 'steady-state offsets and degraded performance near setpoints'",
        "BC and IQL settle further from the grade than the data's PI",
        "abstract",
        (("bc", "pi"), ("iql", "pi")),
        metric="steady_state_offset",
        # the claim is that the learned controller's offset is the larger one
        higher_is_better=True,
    ),
    Claim(
        "offsets-increments",
        "Trained on input increments (the first author's prototype's parameterisation), BC and IQL still settle "
        "further from the grade than the data's PI.",
        "this book's control for the offsets claim: does it survive the change of action parameterisation?",
        "BC and IQL trained on input increments still settle further from the grade than the data's PI",
        "book",
        (("bc-increments", "pi"), ("iql-increments", "pi")),
        metric="steady_state_offset",
        higher_is_better=True,
    ),
    Claim(
        "stable",
        "The offline RL controllers (BC, IQL, BC+, IQL+) stay below the temperature limit and run every episode "
        "to its end in the three scenarios.",
        "abstract: 'maintain stability across all scenarios' (paraphrased)",
        "the offline RL controllers stay below the limit in the three scenarios",
        "abstract",
    ),
    Claim(
        "stable-stress",
        "The offline RL controllers (BC, IQL, BC+, IQL+) stay below the temperature limit in the stress scenario "
        "too (a grade 3 K below the limit and an unmeasured feed-temperature step).",
        "this book's stricter bar: the stress scenario is this book's",
        "the offline RL controllers stay below the limit in the stress scenario",
        "book",
    ),
    Claim(
        "iql-plus-best",
        "IQL+ has the highest mean total reward of the data's PI, BC, IQL and IQL+ in every scenario.",
        "secondary summary, not the abstract",
        "IQL+ has the highest mean total reward of the data's PI, BC, IQL and IQL+ in every scenario",
        "secondary",
    ),
)
"""The claims of chapter 7's table, in its order."""


def claim(key: str) -> Claim:
    """The claim of :data:`CLAIMS` with this key."""
    for candidate in CLAIMS:
        if candidate.key == key:
            return candidate
    raise KeyError(f"no claim {key!r}; claims: {', '.join(c.key for c in CLAIMS)}")


def _comparison(results, item: Claim, probabilities: bool = True) -> dict:
    cells = paired_cells(results, item.pairs, results.scenarios, item.metric, item.higher_is_better)
    holds = cells["outcome"] == OUTCOMES[0]
    against = cells["outcome"] == OUTCOMES[2]
    per_pair = {a: (int(holds[cells["A"] == a].sum()), int((cells["A"] == a).sum())) for a, _ in item.pairs}
    against_per_pair = {a: int(against[cells["A"] == a].sum()) for a, _ in item.pairs}
    statistic = "holds in " + ", ".join(f"{a} vs {b} {per_pair[a][0]}/{per_pair[a][1]}" for a, b in item.pairs)
    statistic += (
        f" training seed × scenario cells (paired bootstrap 95 % CI); {int(against.sum())} cells significantly against"
    )
    table = None
    if probabilities and item.metric == "total_reward":
        names = sorted({n for pair in item.pairs for n in pair})
        scores = normalised_scores(results, names, results.scenarios)
        table = improvement_probabilities(scores, list(item.pairs))
        statistic += "; P(A > B) over training seeds " + ", ".join(
            f"{row.A}: {row[2]:.2f} [{row.low:.2f}, {row.high:.2f}]" for row in table.itertuples(index=False)
        )
    return {
        "supporting": int(holds.sum()),
        "cells": int(len(cells)),
        "against": int(against.sum()),
        "statistic": statistic,
        "unit": "training seed × scenario cells",
        "per_pair": per_pair,
        "against_per_pair": against_per_pair,
        "table": cells,
        "probabilities": table,
    }


PAPER_CONTROLLERS = ("pi", "bc", "iql", "iql+")
"""The controllers the "IQL+ is best" verdict is decided among: the data's PI, BC, IQL and IQL+. The secondary
summaries name BC, IQL and IQL+ against the PI controllers and mention neither a tuned PI nor BC+, so this book
treats those two as its own."""


def _stable(results, scenarios, reference: str = "pi") -> dict:
    outcome = claim_stable(results, scenarios, names=LEARNED_NAMES)
    bad = {n: outcome["violations"][n] + outcome["early_ends"][n] for n in outcome["violations"]}
    failing = [
        f"{n} ({outcome['violations'][n]} crossings, {outcome['early_ends'][n]} early ends)"
        for n, b in bad.items()
        if b
    ]
    statistic = (
        f"{outcome['clean']} of {outcome['controllers']} offline RL controllers without a bad episode in "
        f"{outcome['total_episodes']} episodes ({', '.join(scenarios)}, every training seed)"
    )
    if failing:
        statistic += "; " + ", ".join(failing)
    margin = min(
        float(np.nanmin(results.metric(n, sc, "limit_margin", "pooled")))
        for n in outcome["violations"]
        for sc in scenarios
    )
    statistic += f"; smallest margin to the limit after the start {margin:.1f} K"
    if reference in results.controllers:
        pi = claim_stable(results, scenarios, names=[reference])
        statistic += (
            f"; for reference, the data's PI: {pi['violations'].get(reference, 0)} crossings in "
            f"{pi['total_episodes']} episodes"
        )
    crossed = [
        f"{REPORT_NAMES.get(n, n)} in {v} of {outcome['episodes'][n]} episodes"
        for n, v in outcome["violations"].items()
        if v
    ]
    note = f"smallest margin to the limit {margin:.1f} K"
    if crossed:
        note += f"; above the limit: {', '.join(crossed)}"
    everyone = claim_stable(results, scenarios, names=list(results.controllers))
    crossing = sorted(n for n, v in everyone["violations"].items() if v)
    closest = min(
        (float(np.nanmin(results.metric(n, sc, "limit_margin", "pooled"))), n)
        for n in everyone["violations"]
        for sc in scenarios
    )
    clean = [n for n in outcome["violations"] if not bad[n]]
    if crossing and clean:
        # staying below the limit by not running the reaction is no safety: say how far from the grade they end
        offsets = {n: np.nanmedian(_pooled(results, n, scenarios, "steady_state_offset_polymer")) for n in clean}
        ends = ", ".join(f"{REPORT_NAMES.get(n, n)} {value:.0f}" for n, value in offsets.items())
        note += f"; median polymer offset [kg/m3] of those that hold: {ends}"
        statistic += f"; median polymer offset [kg/m3] of those that hold: {ends}"
    runaway = {}
    if not crossing:
        # the plant could cross there: how soon, with both inputs held at the top of their ranges
        runaway = {sc: hours_to_limit(sc) for sc in scenarios}
        could = [h for h in runaway.values() if h is not None]
        reach = (
            f"; yet holding both inputs at the top of their ranges crosses it within {min(could):g}-{max(could):g} h"
            " of a scenario's nominal start"
            if could
            else ""
        )
        untested = (
            f"no evaluated controller crosses the limit there: the closest, {closest[1]}, stays "
            f"{closest[0]:.1f} K below it, so nothing evaluated challenged the claim{reach}"
        )
        statistic += f"; {untested}"
        note += f"; {untested}"
    return {
        "supporting": outcome["clean"],
        "cells": outcome["controllers"],
        "unit": "offline RL controllers",
        "statistic": statistic,
        "detail": outcome,
        "smallest_margin": margin,
        "note": note,
        "crossing_controllers": crossing,
        "runaway_hours": runaway,
        "closest_controller": {"name": closest[1], "margin": closest[0]},
    }


def _pooled(results, name: str, scenarios, metric: str) -> np.ndarray:
    """``metric`` of every episode of ``name`` in ``scenarios``, every training seed."""
    return np.concatenate([np.asarray(results.metric(name, sc, metric, "pooled"), dtype=float) for sc in scenarios])


def _decided_wins(results, outcome: dict) -> tuple[int, int]:
    """Of the (seed, scenario) cells where IQL+ has the highest mean (``outcome``'s ``leads``), how many the paired
    95 % interval of its difference from the runner-up (same seed, shared episodes) decides: ``(decided, cells)``."""
    cells = [
        (seed, scenario, runner_up)
        for seed, won in outcome["leads"].items()
        for scenario, (runner_up, _) in won.items()
    ]
    decided = sum(
        paired_difference(results, "iql+", runner_up, scenario, seed)["outcome"] == OUTCOMES[0]
        for seed, scenario, runner_up in cells
    )
    return decided, len(cells)


def _iql_plus_best(results) -> dict:
    outcome = claim_iql_plus_best(results, names=PAPER_CONTROLLERS)
    wider = claim_iql_plus_best(results)
    decided, wins = _decided_wins(results, outcome)
    statistic = (
        f"best in every scenario for {outcome['supporting_seeds']} of {len(outcome['per_seed'])} training seeds; "
        + ", ".join(f"seed {s}: {len(v)}/{outcome['scenarios']}" for s, v in outcome["per_seed"].items())
        + f". 'Best' is the highest point mean; in {decided} of the {wins} cells where IQL+ has it, the paired "
        "95 % interval of its difference from the runner-up (same training seed, shared episodes) is wholly "
        f"above zero. Among this book's wider set (with pi-tuned and BC+): every scenario for "
        f"{wider['supporting_seeds']} of {len(wider['per_seed'])} seeds"
    )
    return {
        "supporting": outcome["supporting_seeds"],
        "cells": len(outcome["per_seed"]),
        "unit": "training seeds",
        "note": f"with pi-tuned and BC+ in the comparison: {wider['supporting_seeds']} of {len(wider['per_seed'])}",
        "statistic": statistic,
        "detail": outcome,
        "wider": wider,
        "decided_wins": (decided, wins),
    }


def _not_evaluated(reason: str) -> dict:
    """The outcome of a claim the results cannot decide, and why."""
    return {
        "verdict": NOT_EVALUATED,
        "supporting": 0,
        "cells": 0,
        "unit": "cells",
        "reason": reason,
        "statistic": f"{NOT_EVALUATED}: {reason}",
    }


def evaluate_claim(results, item: Claim, probabilities: bool = True) -> dict:
    """The verdict of one claim on ``results`` (a :class:`cstr.experiments.results.Results`) with its statistic:
    ``verdict``, ``supporting`` and ``cells`` (where it holds, out of how many ``unit``), ``statistic`` (a
    sentence). ``probabilities=False`` skips rliable's probability of improvement (the slow part; the verdict
    does not use it)."""
    missing = sorted({name for pair in item.pairs for name in pair} - set(results.controllers))
    if missing:
        return _not_evaluated(f"{', '.join(missing)} missing from the results")
    if item.pairs:
        outcome = _comparison(results, item, probabilities)
    elif item.key == "stable":
        outcome = _stable(results, list(results.scenarios))
    elif item.key == "stable-stress":
        if not results.stress_scenarios:
            return _not_evaluated("no stress scenario in the results")
        outcome = _stable(results, list(results.stress_scenarios))
    elif item.key == "iql-plus-best":
        outcome = _iql_plus_best(results)
    else:
        raise ValueError(f"claim {item.key!r} has no pairs and no rule of its own")
    outcome["verdict"] = verdict_word(outcome["supporting"], outcome["cells"])
    if item.origin == "book":
        outcome["verdict"] = OWN_VERDICTS[outcome["verdict"]]
    if "crossing_controllers" in outcome and not outcome["crossing_controllers"]:
        outcome["verdict"] = NOT_TESTED
    return outcome


def claims_table(results, claims=CLAIMS, probabilities: bool = True) -> tuple[pd.DataFrame, dict]:
    """Every claim's sentence, source, verdict and statistic (a table), and each claim's full outcome by key."""
    outcomes = {item.key: evaluate_claim(results, item, probabilities) for item in claims}
    table = pd.DataFrame(
        [
            {
                "claim": item.sentence,
                "source": item.source,
                "origin": ORIGINS[item.origin],
                "verdict": outcomes[item.key]["verdict"],
                "holds in": f"{outcomes[item.key]['supporting']} of {outcomes[item.key]['cells']} "
                f"{outcomes[item.key]['unit']}",
                "statistic": outcomes[item.key]["statistic"],
            }
            for item in claims
        ],
        index=pd.Index([item.key for item in claims], name="key"),
    )
    return table, outcomes


def verdict_counts(outcomes: dict) -> dict:
    """How many claims got each verdict."""
    return dict(Counter(outcome["verdict"] for outcome in outcomes.values()))


def verdict_lines(outcomes: dict, claims=CLAIMS) -> list[str]:
    """One sentence per claim: its short form, its verdict and where it holds (for the intro and the README)."""
    lines = []
    for item in claims:
        outcome = outcomes[item.key]
        short = f"[{ORIGINS[item.origin]}] {item.short}"
        if outcome["verdict"] == NOT_EVALUATED:
            lines.append(f"{short}: **{NOT_EVALUATED}** ({outcome['reason']}).")
            continue
        if "per_pair" in outcome:
            where = " and ".join(
                f"for {REPORT_NAMES.get(a, a)} in {k} of {n}" for a, (k, n) in outcome["per_pair"].items()
            )
        else:
            where = f"in {outcome['supporting']} of {outcome['cells']}"
        note = f"; {outcome['note']}" if outcome.get("note") else ""
        against = {a: c for a, c in outcome.get("against_per_pair", {}).items() if c}
        if against:
            counts = ", ".join(f"{REPORT_NAMES.get(a, a)} {c}" for a, c in against.items())
            note = f"; significantly the other way: {counts}" + note
        lines.append(f"{short}: **{outcome['verdict']}** (holds {where} {outcome['unit']}{note}).")
    return lines


OFF_NOMINAL_CASES = {"hot_plant": "hot plant", "cold_plant": "cold plant", "feed_step": "feed-temperature step"}
"""Chapter 8's cases off the nominal plant that the robustness line reports (±20 % mismatch, an unmeasured step)."""


def robustness_line(robustness: dict, names=("iql+", "iql+offset-free"), reference: str = "pi-tuned") -> str | None:
    """One sentence on the corrected controllers off the nominal plant (chapter 8's robustness grid, the canonical
    networks): in how many cases each scores below ``reference`` and how many times ``reference``'s steady-state
    offset it ends with. ``None`` where the grid lacks the cases or the controllers."""
    rewards = robust_reward_table(robustness)
    offsets = robust_reward_table(robustness, metric="mean_steady_state_offset")
    cases = [case for case in OFF_NOMINAL_CASES if case in rewards.columns]
    names = [name for name in names if name in rewards.index]
    if not cases or not names or reference not in rewards.index:
        return None
    parts = []
    for name in names:
        below = sum(bool(rewards.loc[name, case] < rewards.loc[reference, case]) for case in cases)
        ratios = [float(offsets.loc[name, case] / offsets.loc[reference, case]) for case in cases]
        parts.append(
            f"{REPORT_NAMES.get(name, name)} scores below {reference} in {below} of {len(cases)} and ends "
            f"{min(ratios):.0f}-{max(ratios):.0f} times as far from the grade"
        )
    episodes = robustness.get("episodes")
    per_cell = f", {episodes} episodes per cell" if episodes else ""
    return (
        f"[this book's bar] off the nominal plant ({', '.join(OFF_NOMINAL_CASES[c] for c in cases)}; chapter 8, "
        f"the canonical networks{per_cell}): " + "; ".join(parts) + "."
    )

"""The claims table on the synthetic results of conftest.py: each verdict follows from its cells."""

import json

import pytest

from cstr.experiments import claims as C
from cstr.experiments import results as R
from cstr.storage import update_manifest, write_json


@pytest.fixture
def outcomes(root):
    return C.claims_table(R.load_results(root), probabilities=False)


def test_every_claim_gets_a_verdict_and_a_statistic(outcomes):
    table, by_key = outcomes
    assert list(table.index) == [claim.key for claim in C.CLAIMS]
    assert table["statistic"].str.len().min() > 20
    # pi -20, pi-tuned -10, steady-inputs -15; bc -30/-40, iql -8/-12, bc+ -25/-35, iql+ -9/-5 in every scenario
    assert by_key["rl-beats-data-pi"]["per_pair"] == {"bc": (0, 6), "iql": (6, 6)}
    assert by_key["rl-beats-data-pi"]["verdict"] == "partly reproduced"
    assert by_key["rl-beats-tuned-pi"]["per_pair"] == {"bc": (0, 6), "iql": (3, 6)}
    assert by_key["rl-beats-tuned-pi"]["verdict"] == "partly holds"  # this book's bar: holds or not
    assert by_key["iql-beats-data-pi"]["verdict"] == "reproduced"  # the secondary summary's narrower claim
    assert by_key["correction-helps"]["per_pair"] == {"iql+": (3, 6)}  # seed 0: -9 vs -8; seed 1: -5 vs -12
    assert by_key["correction-helps-bc"]["verdict"] == "holds"  # this book's BC+: a bar that holds
    assert by_key["corrected-beats-data-pi"]["verdict"] == "reproduced"
    # the synthetic offsets grow as the reward falls: bc's exceed pi's everywhere, iql's nowhere
    assert by_key["offsets"]["per_pair"] == {"bc": (6, 6), "iql": (0, 6)}
    assert by_key["offsets-increments"]["verdict"] == "not evaluated"  # no increments policies in these results
    assert "bc-increments" in by_key["offsets-increments"]["statistic"]
    assert by_key["stable"]["verdict"] == "partly reproduced"  # bc crossed once
    assert (by_key["stable"]["supporting"], by_key["stable"]["cells"]) == (3, 4)  # the four offline RL controllers
    assert by_key["stable-stress"]["verdict"] == "not evaluated"  # no stress scenario in these results
    # among the paper's four (pi, bc, iql, iql+): seed 1 only; with pi-tuned and bc+ as well: the same here
    assert by_key["iql-plus-best"]["verdict"] == "partly reproduced"
    assert by_key["iql-plus-best"]["detail"]["per_seed"] == {0: [], 1: ["startup", "grade_down", "grade_up"]}
    # IQL+ -5 against the runner-up IQL -12 on the same episodes: each of its three wins is decided
    assert by_key["iql-plus-best"]["decided_wins"] == (3, 3)


def test_verdict_lines_label_their_source(outcomes):
    _, by_key = outcomes
    lines = C.verdict_lines(by_key)
    assert len(lines) == len(C.CLAIMS)
    assert lines[-1].startswith("[secondary summary] IQL+")
    assert lines[2].startswith("[this book's bar]") and "**partly holds**" in lines[2]
    assert "for BC in 0 of 6 and for IQL in 6 of 6" in lines[0]
    assert "significantly the other way: BC 6)" in lines[0]  # every one of BC's cells goes to the data's PI
    stable = next(line for line in lines if "stay below the limit in the three scenarios" in line)
    # the line says how near the limit the controllers came, and which crossed it: bc, once
    assert "smallest margin to the limit" in stable and "above the limit: BC in 1 of" in stable
    # and, since the limit was at stake, how far from the grade those that held it end (synthetic: 1 kg/m3)
    assert "median polymer offset [kg/m3] of those that hold: IQL 1, BC+ 1, IQL+ 1" in stable


def test_unknown_claim_is_refused():
    with pytest.raises(KeyError, match="no claim 'nope'"):
        C.claim("nope")


def test_a_stability_claim_where_nothing_crosses_is_not_tested(root):
    """Without bc's one crossing, no controller of the synthetic results crosses: the claim could not fail."""
    evaluation = json.loads((root / R.EVALUATION_FILE).read_text())
    for episode in evaluation["controllers"]["bc"]["grade_up"]["seed1"]["episodes"]:
        episode.update(safety_violation=False, termination_reason="horizon", limit_margin=5.0, peak_temperature=355.0)
    write_json(root / R.EVALUATION_FILE, evaluation)
    update_manifest(root, [R.EVALUATION_FILE])
    outcome = C.evaluate_claim(R.load_results(root), C.claim("stable"), probabilities=False)
    assert (outcome["supporting"], outcome["cells"]) == (4, 4)
    assert outcome["verdict"] == C.NOT_TESTED and outcome["crossing_controllers"] == []
    assert "nothing evaluated challenged the claim" in outcome["note"]
    assert outcome["closest_controller"]["margin"] == 5.0
    # the plant itself could cross there: held at the top of their ranges, the inputs run it away within hours
    assert set(outcome["runaway_hours"]) == set(R.load_results(root).scenarios)
    assert all(hours is not None and hours <= 5.0 for hours in outcome["runaway_hours"].values())
    line = next(line for line in C.verdict_lines({"stable": outcome}, [C.claim("stable")]))
    assert f"**{C.NOT_TESTED}**" in line

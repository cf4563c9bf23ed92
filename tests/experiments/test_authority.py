"""The authority ablations, at toy scale: a zero trust region is the policy itself."""

import numpy as np

from cstr.experiments import authority


def test_zero_trust_region_is_the_policy_and_the_layer_reports_its_moves():
    rows = {row["label"]: row for row in authority.authority_rows()}
    assert {"hold", "hold+", "centre", "minimiser", authority.MINIMISER_BC_LABEL, "iql+ delta=0"} <= set(rows)
    assert {"bc+ delta=box", "bc+ K=50"} <= set(rows)
    assert rows["minimiser"]["correction"].trust_region is None and rows["minimiser"]["policy"] == "centre"
    assert rows[authority.MINIMISER_BC_LABEL]["cost_model"] != rows["minimiser"]["cost_model"]
    chosen = [rows["iql+ delta=0"], rows["iql+ delta=0.25"], {**rows["iql+ delta=0"], "correction": None}]
    result = authority.run(episodes=2, scenarios=("grade_up",), rows=chosen, progress=False)
    zero, wide, plain = result["rows"]
    totals = [[e["total_reward"] for e in row["records"]["grade_up"]["episodes"]] for row in (zero, wide, plain)]
    assert np.array_equal(totals[0], totals[2])
    assert zero["mean_move"]["grade_up"] == 0.0 and wide["mean_move"]["grade_up"] > 0.0
    table = authority.authority_table(result)
    assert list(table.columns) == ["group", "grade_up", "mean", "mean move"]

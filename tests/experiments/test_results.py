"""cstr.experiments.results on a tiny synthetic results folder (no training, no simulation)."""

import json

import numpy as np
import pytest
from helpers import synthetic_record

from cstr.experiments import results as R
from cstr.experiments.registry import LEARNED_NAMES, PI_NAMES
from cstr.figures import results as result_figures
from cstr.plant.scenarios import SCENARIO_NAMES
from cstr.storage import DataIntegrityError, update_manifest, write_json


def test_load_and_select(root):
    results = R.load_results(root)
    assert results.episodes == 4 and results.training_seeds == [0, 1]
    assert list(results.stage_seconds) == ["datasets", "training", "evaluation"]
    assert results.controllers == list(PI_NAMES + ("steady-inputs",) + LEARNED_NAMES)
    assert results.chosen_seed("iql+") == 1 and results.chosen_seed("bc") == 0  # no bc record: first seed
    assert len(results.episodes_of("iql", "startup", "pooled")) == 8
    assert np.mean(results.metric("iql", "startup", "total_reward")) == pytest.approx(-12.0)
    assert np.isnan(results.metric("pi", "startup", "settling_time")[0])
    assert results.trajectory("pi", "startup")["actions"].shape == (5, 2)


def test_load_detects_altered_file(root):
    data = json.loads((root / R.EVALUATION_FILE).read_text())
    data["episodes"] = 5
    (root / R.EVALUATION_FILE).write_text(json.dumps(data))
    with pytest.raises(DataIntegrityError, match="evaluation.json"):
        R.load_results(root)


def test_summary_table(root):
    results = R.load_results(root)
    table = R.summary_table(results)
    assert table.shape[0] == 7 * len(SCENARIO_NAMES)
    row = table.loc[("startup", "iql")]
    assert row["total_reward"] == pytest.approx(-12.0) and row["seed"] == 1
    assert row["ci95_low"] <= row["total_reward"] <= row["ci95_high"]
    assert table.loc[("grade_up", "bc"), "safety_violations"] == 0  # bc's chosen seed is 0
    assert R.summary_table(results, seed=1).loc[("grade_up", "bc"), "early_ends"] == 1
    median = R.summary_table(results, statistic="median")
    assert median.loc[("startup", "pi"), "total_reward"] == pytest.approx(-20.0)
    assert "total reward" in R.display_table(table).columns
    with pytest.raises(ValueError):
        R.summary_table(results, statistic="mode")


def test_seed_table(root):
    table = R.seed_table(R.load_results(root))
    assert table.loc[("startup", "bc"), "seed0"] == pytest.approx(-30.0)
    assert table.loc[("startup", "bc"), "spread"] == pytest.approx(10.0)
    assert table.loc[("startup", "iql"), "chosen"] == 1


def test_claims(root):
    results = R.load_results(root)
    two = R.claim_iql_plus_best(results)
    # seed 0: iql (-8) beats iql+ (-9); seed 1: iql+ (-5) is best; chosen: iql+ -5 vs iql -12
    assert two["per_seed"] == {0: [], 1: list(SCENARIO_NAMES)} and two["chosen"] == 3
    assert two["best"][0]["startup"] == "iql"
    assert two["verdict"] == "partly reproduced"
    three = R.claim_stable(results)
    assert three["violations"]["bc"] == 1 and three["early_ends"]["bc"] == 1 and three["clean"] == 5
    assert three["verdict"] == "partly reproduced"


def test_stress_scenarios_are_kept_apart_and_tabled_for_safety(root):
    data = json.loads((root / R.EVALUATION_FILE).read_text())
    for name, entry in data["controllers"].items():
        stress = {}
        for key, record in entry["startup"].items():
            episodes = [dict(e) for e in record["episodes"]]
            for i, e in enumerate(episodes):
                crossed = name == "iql" and i == 0
                e.update(safety_violation=crossed, limit_margin=-0.5 if crossed else 2.0 + i, hours_near_limit=0.5 * i)
                e.update(termination_reason="temperature_limit" if crossed else "horizon")
                e.update(steady_state_offset_polymer=100.0 if crossed else 10.0 * i)
            stress[key] = synthetic_record(name, "stress", episodes)
        entry["stress"] = stress
    write_json(root / R.EVALUATION_FILE, data)
    update_manifest(root, [R.EVALUATION_FILE])
    results = R.load_results(root)
    assert results.scenarios == list(SCENARIO_NAMES) and results.stress_scenarios == ["stress"]
    assert "stress" not in R.summary_table(results).index.get_level_values(0)  # the paper's tables are unchanged
    table = R.safety_table(results)
    assert list(table.index.get_level_values(0).unique()) == ["stress"]
    assert table.loc[("stress", "iql"), "crossings"] == 1 and table.loc[("stress", "iql"), "smallest_margin"] == -0.5
    assert table.loc[("stress", "iql+"), "crossings"] == 0 and table.loc[("stress", "iql+"), "smallest_margin"] == 2.0
    assert table.loc[("stress", "pi"), "hours_near_limit"] == pytest.approx(0.75)
    # the polymer offset: the median over the episodes that ran to the end, the crossed one left out
    assert table.loc[("stress", "pi"), "polymer_offset"] == pytest.approx(15.0)
    assert table.loc[("stress", "iql"), "polymer_offset"] == pytest.approx(20.0)
    assert R.crossing_hours(results.episodes_of("iql", "stress", 0)) == [100.0]  # the crossing ended at step 200
    assert R.crossing_seeds(results, "iql", "stress") == results.training_seeds  # its first episode, every seed
    assert R.crossing_seeds(results, "iql+", "stress") == []
    assert R.safety_summary(results.episodes_of("iql+", "stress")) == table.loc[("stress", "iql+")].to_dict()
    stress_claim = R.claim_stable(results, results.stress_scenarios)
    del data["controllers"]["bc"]["stress"]  # a controller not evaluated there: no row, not a KeyError
    write_json(root / R.EVALUATION_FILE, data)
    update_manifest(root, [R.EVALUATION_FILE])
    partial = R.load_results(root)
    assert "bc" not in R.safety_table(partial).index.get_level_values("controller")
    assert "bc" not in R.claim_stable(partial, partial.stress_scenarios)["violations"]
    assert stress_claim["violations"]["iql"] == 2 and stress_claim["violations"]["iql+"] == 0  # two seeds pooled
    assert R.claim_stable(results)["violations"]["iql"] == 0  # the paper's scenarios alone


def test_verdict_word():
    assert R.verdict_word(3, 3) == "reproduced"
    assert R.verdict_word(0, 3) == "not reproduced"
    assert R.verdict_word(1, 3) == "partly reproduced"
    with pytest.raises(ValueError):
        R.verdict_word(0, 0)


def test_figures(root):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = R.load_results(root)
    fig = result_figures.plot_reward_boxes(results)
    assert len(fig.axes) == len(SCENARIO_NAMES) and fig.axes[0].get_yscale() == "log"
    plt.close(fig)
    fig = result_figures.plot_trajectories(results, names=["pi", "iql+"])
    assert len(fig.axes) == 4 * len(SCENARIO_NAMES)
    plt.close(fig)


def test_your_controller_is_compared_on_the_same_episodes_and_paired_with_the_reference():
    from cstr.control.baselines import SteadyInputs
    from cstr.experiments.evaluation import evaluate

    shipped = R.load_results()
    mine = {"grade_up": evaluate(SteadyInputs(), "grade_up", 3, name="mine")}
    table = R.compare_with_shipped(mine, shipped, names=["pi-tuned"])
    assert list(table.index) == [("grade_up", "mine"), ("grade_up", "pi-tuned")]
    # the recipe against itself, episode by episode: a zero difference
    assert abs(table.loc[("grade_up", "mine"), "minus steady-inputs"]) < 1e-9
    assert table.loc[("grade_up", "pi-tuned"), "episodes"] == 3
    elsewhere = {"grade_up": evaluate(SteadyInputs(), "grade_up", 2, seed=1_000_500, name="mine")}
    with pytest.raises(ValueError, match="evaluate from seed 1000000"):
        R.compare_with_shipped(elsewhere, shipped)

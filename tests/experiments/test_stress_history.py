"""The stress-history study's statistics on hand-made draws (the toy runs are in test_reproduce.py)."""

import pandas as pd
import pytest

from cstr.experiments.stress_history import (
    PLAIN_DRAWS,
    chosen_draws,
    crossing_rates,
    draw_name,
    fixed_choice,
    screen_table,
    screened_draws,
    seeds_to_redraw,
)
from cstr.safety.shipped import is_deployable_cost_model, redrawn_cost_model_name


def _draws(crossings: dict) -> pd.DataFrame:
    rows = [
        {"policy": policy, "draw": draw, "seed": seed, "crossings": count, "crossed": tuple(range(count))}
        for (policy, draw), counts in crossings.items()
        for seed, count in enumerate(counts)
    ]
    return pd.DataFrame(rows).set_index(["policy", "draw", "seed"])


def test_crossing_rates_count_draws_that_cross_at_all_with_exact_intervals():
    draws = _draws(
        {
            ("bc", "shipped"): [0, 23, 0, 0, 0, 23, 0, 0, 0, 0],
            ("bc", "redrawn"): [0, 0, 0, 0, 23, 23, 0, 0, 0, 23],
            ("bc", "with-stress"): [0, 0, 0, 0, 0, 5, 0, 0, 0, 0],
        }
    )
    rates = crossing_rates(draws)
    plain, stress = rates.loc[("bc", "paper data")], rates.loc[("bc", "with stress")]
    assert (plain["draws"], plain["crossing draws"], plain["rate"]) == (20, 5, 0.25)
    # Clopper-Pearson for 5 of 20 and 1 of 10 (the beta quantiles, to four digits)
    assert (plain["low"], plain["high"]) == pytest.approx((0.0866, 0.4910), abs=1e-4)
    assert (stress["draws"], stress["crossing draws"]) == (10, 1)
    assert (stress["low"], stress["high"]) == pytest.approx((0.0025, 0.4450), abs=1e-4)
    only_shipped = crossing_rates(draws, {"shipped": ("shipped",)})
    assert list(only_shipped.index) == [("bc", "shipped")] and only_shipped.iloc[0]["crossing draws"] == 2
    assert PLAIN_DRAWS == ("shipped", "redrawn")


def _screen_record(crossings: dict, validation: dict) -> dict:
    """A screen record from per-seed lists (``None``: the draw was not trained for that seed)."""

    def per_seed(values):
        return {f"seed{seed}": value for seed, value in enumerate(values) if value is not None}

    returns = {
        name: {
            key: {"startup": mean - 1.0, "grade_down": mean + 1.0, "grade_up": mean}
            for key, mean in per_seed(means).items()
        }
        for name, means in validation.items()
    }
    return {
        "crossings": {name: per_seed(values) for name, values in crossings.items()},
        "validation": {"returns": returns},
    }


def test_the_procedure_deploys_the_better_passing_draw_on_validation_and_refuses_a_seed_without_one():
    draws = _draws({("bc", "shipped"): [0, 23, 23, 0], ("bc", "redrawn"): [0, 0, 23, 0]})
    record = _screen_record(
        {"bc+": [0, 6, 6, 0], "bc+redrawn": [3, 0, 6, 0]},
        {"bc+": [-6.0, -5.0, -9.0, -8.0], "bc+redrawn": [-5.0, -7.0, -6.0, -7.5]},
    )
    screened = screened_draws(draws, record)
    assert list(screened["screen crossings"]) == [0, 6, 6, 0, 3, 0, 6, 0]
    assert list(screened["passes"]) == [True, False, False, True, False, True, False, True]
    # the mean of the three scenarios' validation returns
    assert list(screened["validation"]) == [-6.0, -5.0, -9.0, -8.0, -5.0, -7.0, -6.0, -7.5]
    # seed 0: the redrawn draw is better on validation but fails; seed 1: only the redrawn passes, though worse;
    # seed 2: none passes (refused); seed 3: both pass, the better on validation is deployed
    assert chosen_draws(screened) == {"bc": {0: "shipped", 1: "redrawn", 2: None, 3: "redrawn"}}
    # without the screen: the better on validation wherever it is
    assert chosen_draws(screened, screened_only=False) == {
        "bc": {0: "redrawn", 1: "shipped", 2: "redrawn", 3: "redrawn"}
    }
    assert fixed_choice(chosen_draws(screened)) == {"bc": dict.fromkeys(range(4), "shipped")}
    # keeping the shipped draw wherever it passes: seed 3 keeps it although the redrawn one is better on validation
    assert chosen_draws(screened, incumbent="shipped") == {"bc": {0: "shipped", 1: "redrawn", 2: None, 3: "shipped"}}
    with pytest.raises(ValueError, match="needs screened_only=True"):
        chosen_draws(screened, screened_only=False, incumbent="shipped")
    # gated: seed 1's passing replacement scores 40 % below the failing incumbent on validation, so 5 % refuses it
    assert chosen_draws(screened, incumbent="shipped", tolerance=0.05) == {
        "bc": {0: "shipped", 1: None, 2: None, 3: "shipped"}
    }
    assert chosen_draws(screened, incumbent="shipped", tolerance=0.5)["bc"][1] == "redrawn"
    with pytest.raises(ValueError, match="pass incumbent too"):
        chosen_draws(screened, tolerance=0.05)


def test_a_draw_without_validation_is_never_chosen_and_a_stress_draw_has_none():
    draws = _draws({("bc", "shipped"): [0], ("bc", "redrawn"): [0], ("bc", "with-stress"): [0]})
    record = _screen_record(
        {"bc+": [0], "bc+redrawn": [0], "bc+with-stress": [0]}, {"bc+": [-9.0], "bc+redrawn": [-8.0]}
    )
    screened = screened_draws(draws, record)
    assert screened.loc[("bc", "with-stress", 0), "passes"] and pd.isna(
        screened.loc[("bc", "with-stress", 0), "validation"]
    )
    assert chosen_draws(screened) == {"bc": {0: "redrawn"}}
    with pytest.raises(ValueError, match="did not test"):  # a screen record that lacks a draw the table has
        screened_draws(_draws({("bc", "shipped"): [0, 0]}), record)


def test_the_choice_reads_the_screen_and_the_validation_only_never_the_evaluation():
    record = _screen_record({"bc+": [0, 6], "bc+redrawn": [0, 0]}, {"bc+": [-6.0, -5.0], "bc+redrawn": [-7.0, -8.0]})
    evaluated = {("bc", "shipped"): [23, 0], ("bc", "redrawn"): [0, 23]}  # crossings the choice must not see
    assert chosen_draws(screen_table(record)) == chosen_draws(screened_draws(_draws(evaluated), record))
    assert chosen_draws(screen_table(record)) == {"bc": {0: "shipped", 1: "redrawn"}}


def test_a_refused_seed_is_chosen_for_among_its_further_draws_and_the_control_sees_the_same_draws():
    record = _screen_record(
        {"bc+": [0, 6], "bc+redrawn": [0, 6], "bc+redrawn-2": [None, 6], "bc+redrawn-3": [None, 0]},
        {"bc+": [-6.0, -5.0], "bc+redrawn": [-7.0, -4.0], "bc+redrawn-2": [None, -3.0], "bc+redrawn-3": [None, -9.0]},
    )
    table = screen_table(record)
    assert ("redrawn-3", 1) in table.loc["bc"].index and ("redrawn-3", 0) not in table.loc["bc"].index
    # seed 1: both plain draws fail; of the further ones only redrawn-3 passes, though worse on validation
    assert chosen_draws(table) == {"bc": {0: "shipped", 1: "redrawn-3"}}
    # the control chooses among the same draws without the screen, further ones included where the seed has them
    assert chosen_draws(table, screened_only=False) == {"bc": {0: "shipped", 1: "redrawn-2"}}
    assert chosen_draws(table, further=()) == {"bc": {0: "shipped", 1: None}}
    assert chosen_draws(table, incumbent="shipped") == chosen_draws(table)  # where the incumbent fails, the same
    assert draw_name("iql", "redrawn-2") == "iql+redrawn-2" and draw_name("bc", "with-stress") == "bc+with-stress"
    with pytest.raises(ValueError, match="unknown draw 'redrawn-9'"):
        draw_name("bc", "redrawn-9")


def test_a_further_redraw_is_a_deployable_cost_model_numbered_from_one():
    assert [redrawn_cost_model_name(k) for k in (1, 2, 3)] == ["picnn-redrawn", "picnn-redrawn-2", "picnn-redrawn-3"]
    assert is_deployable_cost_model("picnn-redrawn-2") and is_deployable_cost_model("picnn-redrawn")
    for name in ("picnn-full-state", "picnn-redrawn-1", "picnn-redrawn-seed3", "picnn-redrawn-x"):
        assert not is_deployable_cost_model(name)
    with pytest.raises(ValueError, match="numbered from 1"):
        redrawn_cost_model_name(0)


def test_a_gated_replacement_is_sought_among_further_draws_which_the_control_sees_only_where_the_procedure_does():
    record = _screen_record(
        {"bc+": [6, 0], "bc+redrawn": [0, 0], "bc+redrawn-2": [0, None], "bc+redrawn-3": [6, None]},
        {"bc+": [-6.0, -5.0], "bc+redrawn": [-9.0, -7.0], "bc+redrawn-2": [-6.2, None], "bc+redrawn-3": [-4.0, None]},
    )
    table = screen_table(record)
    # seed 0: the shipped draw fails; the redrawn one passes but is 50 % worse on validation, redrawn-2 passes
    # within 5 %, redrawn-3 is better still but fails the screen
    assert chosen_draws(table, incumbent="shipped", tolerance=0.05) == {"bc": {0: "redrawn-2", 1: "shipped"}}
    # the procedure itself stops at the passing plain draw, and so does its control without the screen: the
    # further draws of seed 0 are not among the draws it chose from
    assert chosen_draws(table) == {"bc": {0: "redrawn", 1: "shipped"}}
    assert chosen_draws(table, screened_only=False) == {"bc": {0: "shipped", 1: "shipped"}}
    # the second round's seeds: the procedure refuses none here; where a seed's only passing draw scores 50 % below
    # its failing incumbent on validation, the gated rule asks for further draws
    record["deployed"] = {"bc": {"seed0": "redrawn", "seed1": "shipped"}}
    assert seeds_to_redraw({"screen": record}) == []
    gated = _screen_record({"bc+": [6], "bc+redrawn": [0]}, {"bc+": [-6.0], "bc+redrawn": [-9.0]})
    assert seeds_to_redraw({"screen": gated}, gated=True) == [0]

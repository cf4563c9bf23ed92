"""The stress-history study's statistics on hand-made draws (the toy runs are in test_reproduce.py)."""

import pandas as pd
import pytest

from cstr.experiments.stress_history import PLAIN_DRAWS, crossing_rates, screened_choice, screened_draws


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


def test_the_screen_deploys_the_first_passing_draw_and_refuses_a_seed_without_one():
    draws = _draws({("bc", "shipped"): [0, 23, 23], ("bc", "redrawn"): [0, 0, 23]})
    screen_record = {
        "crossings": {"bc+": {"seed0": 0, "seed1": 6, "seed2": 6}, "bc+redrawn": {"seed0": 3, "seed1": 0, "seed2": 6}}
    }
    screened = screened_draws(draws, screen_record)
    assert list(screened["screen crossings"]) == [0, 6, 6, 3, 0, 6]
    assert list(screened["passes"]) == [True, False, False, False, True, False]
    # seed 0: the shipped draw passes (the redrawn one need not); seed 1: only the redrawn; seed 2: none
    assert screened_choice(screened) == {"bc": {0: "shipped", 1: "redrawn", 2: None}}
    assert screened_choice(screened, order=("redrawn", "shipped")) == {"bc": {0: "shipped", 1: "redrawn", 2: None}}

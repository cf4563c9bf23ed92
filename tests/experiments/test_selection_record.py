"""What the correction's selection record says about its own grid (no training, no simulation)."""

import pytest

from cstr.experiments.selection import CANDIDATE_CORRECTIONS, grid_edge
from cstr.safety.correction import CorrectionConfig


def _record(chosen: CorrectionConfig, means: list[float]) -> dict:
    rows = [
        {
            "controller": "iql+",
            "target": "narx",
            "correction": vars(setting),
            "returns": {"startup": mean, "grade_down": mean, "grade_up": mean},
        }
        for setting, mean in zip(CANDIDATE_CORRECTIONS, means)
    ]
    rows.append({"controller": "iql+", "target": "td", "correction": vars(CANDIDATE_CORRECTIONS[0]), "returns": {}})
    return {"chosen": {"target": "narx", "correction": vars(chosen)}, "rows": rows}


def test_a_choice_of_the_loosest_setting_is_at_the_grids_edge():
    means = [-9.0, -8.0, -11.0, -7.0, -6.5, -6.0]
    edge = grid_edge(_record(CANDIDATE_CORRECTIONS[-1], means))
    assert edge["step_size_largest"] and edge["whole_box"]
    assert edge["means"] == pytest.approx(means)  # the chosen target's rows only, in the grid's order
    assert edge["settings"][-1].endswith("delta=none")
    assert edge["loosest_lead"] == pytest.approx(0.5)  # -6.0 against the next best, -6.5


def test_a_choice_inside_the_grid_is_not_at_its_edge():
    edge = grid_edge(_record(CANDIDATE_CORRECTIONS[1], [-9.0, -5.0, -11.0, -7.0, -6.5, -6.0]))
    assert not edge["step_size_largest"] and not edge["whole_box"]
    assert edge["loosest_lead"] == pytest.approx(-1.0)  # the second setting, -5.0, scores higher
    with pytest.raises(ValueError, match="no 'bc\\+' rows"):
        grid_edge(_record(CANDIDATE_CORRECTIONS[1], [-1.0] * 6), controller="bc+")

"""The chapters' glue key convention and the table glue of :mod:`cstr.figures.glue`."""

import subprocess
import sys
import types

import pandas as pd
import pytest

from cstr.figures.glue import glue_key, glue_name, glue_table, number_list, number_range, seeds_text, word_list


@pytest.fixture
def glued(monkeypatch):
    """Record the calls to ``myst_nb.glue`` instead of gluing (works without the book extras installed)."""
    calls = []

    def glue(name, variable, display=True):
        calls.append((name, variable, display))

    monkeypatch.setitem(sys.modules, "myst_nb", types.SimpleNamespace(glue=glue))
    return calls


def _table(rows):
    index = pd.MultiIndex.from_tuples([r[:2] for r in rows], names=["scenario", "controller"])
    return pd.DataFrame([r[2:] for r in rows], index=index, columns=["total_reward", "ci95_low", "safety_violations"])


def test_glue_key_plain():
    assert glue_key("startup", "bc", "reward") == "startup_bc_reward"


def test_glue_key_hyphen_and_plus():
    assert glue_key("grade_down", "pi-tuned", "offset_P") == "grade_down_pi_tuned_offset_P"
    assert glue_key("startup", "iql+", "reward") == "startup_iql_plus_reward"
    assert glue_key("grade-up", "pi-tuned+", "high") == "grade_up_pi_tuned_plus_high"
    assert glue_key("startup", "iql+full-state", "reward") == "startup_iql_plus_full_state_reward"


def test_glue_table_keys_values_and_display(glued):
    table = _table(
        [
            ("startup", "pi-tuned", -1.5, -2.0, 0),
            ("startup", "iql+", -0.25, -0.5, 3),
            ("grade_down", "bc", -4.0, -4.5, 1),
        ]
    )
    keys = glue_table(table, {"reward": "total_reward", "low": "ci95_low"})
    expected = [
        ("startup_pi_tuned_reward", -1.5),
        ("startup_pi_tuned_low", -2.0),
        ("startup_iql_plus_reward", -0.25),
        ("startup_iql_plus_low", -0.5),
        ("grade_down_bc_reward", -4.0),
        ("grade_down_bc_low", -4.5),
    ]
    assert keys == [k for k, _ in expected]
    assert glued == [(k, v, False) for k, v in expected]
    assert all(type(v) is float for _, v, _ in glued)


def test_glue_table_integer_column_is_glued_as_float(glued):
    glue_table(_table([("startup", "bc", -1.0, -2.0, 2)]), {"violations": "safety_violations"})
    assert glued == [("startup_bc_violations", 2.0, False)]


def test_glue_table_missing_column_glues_nothing(glued):
    with pytest.raises(KeyError, match="ci95_high"):
        glue_table(_table([("startup", "bc", -1.0, -2.0, 0)]), {"reward": "total_reward", "high": "ci95_high"})
    assert glued == []


def test_glue_table_colliding_keys_glue_nothing(glued):
    table = _table([("startup", "pi-tuned", -1.0, -2.0, 0), ("startup", "pi_tuned", -3.0, -4.0, 0)])
    with pytest.raises(ValueError, match="startup_pi_tuned_reward"):
        glue_table(table, {"reward": "total_reward"})
    assert glued == []


def test_glue_table_needs_scenario_and_controller(glued):
    table = pd.DataFrame({"total_reward": [-1.0]}, index=pd.Index(["bc"], name="controller"))
    with pytest.raises(ValueError, match="scenario, controller"):
        glue_table(table, {"reward": "total_reward"})
    assert glued == []


def test_module_imports_without_myst_nb():
    code = "import sys, cstr.figures.glue; assert 'myst_nb' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_glue_name_makes_every_controller_name_a_glue_name():
    assert [glue_name(n) for n in ("iql+", "pi-tuned", "bc+offset-free", "narx-search")] == [
        "iql_plus",
        "pi_tuned",
        "bc_plus_offset_free",
        "narx_search",
    ]


def test_word_list_reads_as_prose():
    assert word_list([]) == ""
    assert word_list([3]) == "3"
    assert word_list(["bc", "iql"]) == "bc and iql"
    assert word_list([0, 1, 2]) == "0, 1 and 2"


def test_number_list_and_range():
    assert number_list([3, 0.4, 12]) == "3, 0, 12"
    assert number_list([1.26, -2], "{:.1f}") == "1.3, -2.0"
    assert number_range([]) == ""
    assert number_range([4.0, 4.0]) == "4.0"
    assert number_range([7.25, 1.5, 3.0]) == "1.5-7.2"
    assert number_range([9.71, 9.74]) == "9.7"  # both ends read alike: one number, not "9.7-9.7"
    assert number_range([-0.5, 28.1], "{:+.1f} %", " to ") == "-0.5 % to +28.1 %"
    assert number_range([0.0, 0.0], "{:+.1f} %", " to ") == "+0.0 %"


def test_seeds_text_names_one_seed_several_or_none():
    assert seeds_text([]) == "no seed"
    assert seeds_text([2]) == "seed 2"
    assert seeds_text([2, 5]) == "seeds 2 and 5"
    assert seeds_text([0, 1, 5]) == "seeds 0, 1 and 5"

"""The information table: computed from the shipped models' metadata, and honest about what is privileged."""

import pytest

from cstr.experiments.information import controller_information, information_table, kinds_of
from cstr.experiments.registry import (
    ABLATION_NAMES,
    DIAGNOSTIC_NAMES,
    GUARDED_NAMES,
    INCREMENT_NAMES,
    LOADERS,
    OFFSET_FREE_NAMES,
)


def test_fields_map_to_kinds_and_unknown_fields_are_refused():
    assert kinds_of(["observations", "states", "rewards"]) == ("observations", "rewards", "full state")
    with pytest.raises(ValueError, match="unknown dataset fields"):
        kinds_of(["observations", "secret"])


def test_deployable_controllers_use_no_privileged_information():
    for name in (
        "pi",
        "bc",
        "iql",
        "bc+",
        "iql+",
        *OFFSET_FREE_NAMES,
        *INCREMENT_NAMES,
        *DIAGNOSTIC_NAMES,
        *GUARDED_NAMES,
    ):
        info = controller_information(name)
        assert info["deployable"], name
        assert "full state" not in info["training"] + info["deployment"]
    for name in ABLATION_NAMES:
        info = controller_information(name)
        assert not info["deployable"] and "full state" in info["training"]
    for name in ("nmpc", "nmpc-offset-free"):
        assert {"full state", "true model"} <= set(controller_information(name)["deployment"])
    assert "true model" in controller_information("pi-tuned")["training"]


def test_the_corrected_controllers_keep_a_history_and_the_table_covers_every_controller():
    assert "observation history" in controller_information("iql+")["deployment"]
    assert controller_information("iql")["deployment"] == ("observations",)
    table = information_table()
    assert list(table.index) == list(LOADERS)  # the registry's order (its test pins that order)
    assert table.loc["iql+offset-free", "deployment"] == "observations, observation history"
    assert table.loc["bc+with-stress", "deployment"] == "observations, observation history"
    assert table.loc["bc+with-stress", "deployable"] == table.loc["bc+", "deployable"]
    assert table.loc["narx-search", "chosen on"] == "simulated validation episodes"
    assert table.loc["narx-search-offset-free", "chosen on"] == "simulated validation episodes"
    assert table.loc["iql+full-state", "deployable"] == "no: full state"
    assert table.loc["iql+", "chosen on"] == "simulated validation episodes" and table.loc["pi", "chosen on"] == "-"
    assert table.loc["iql+guarded", "deployment"] == "observations, observation history"
    assert table.loc["iql+guarded", "training"] == table.loc["iql+", "training"]  # the guard reads measurements only

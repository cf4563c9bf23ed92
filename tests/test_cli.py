"""The command line: a user's mistake ends in one line on stderr and exit code 2, never a traceback."""

import subprocess
import sys

import pytest


def run(*args, env=None):
    import os

    environment = dict(os.environ, **(env or {}))
    environment.pop("CSTR_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "cstr", *args], capture_output=True, text=True, timeout=300, env=environment
    )


def one_line_error(finished, *fragments):
    assert finished.returncode == 2, finished.stderr
    # argparse prints its usage (a first line and indented continuations) before its one-line error
    lines = [line for line in finished.stderr.splitlines() if line.strip() and not line.startswith(("usage:", " "))]
    assert "Traceback" not in finished.stderr, finished.stderr
    assert len(lines) == 1, finished.stderr
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]


def test_unknown_controller_name():
    one_line_error(
        run("evaluate", "--controller", "iqll", "--scenario", "grade_up", "--episodes", "1"),
        "unknown controller 'iqll'",
        "available: pi",
    )


def test_data_folder_that_does_not_exist_names_its_source(tmp_path):
    missing = tmp_path / "nowhere"
    finished = run(
        "evaluate",
        "--controller",
        "iql",
        "--scenario",
        "grade_up",
        "--episodes",
        "1",
        env={"CSTR_DATA_DIR": str(missing)},
    )
    one_line_error(finished, str(missing), "does not exist", "CSTR_DATA_DIR")


def test_training_seed_in_the_evaluation_range():
    one_line_error(run("train", "bc", "--seed", "1000000", "--updates", "1"), "training seed 1000000")


def test_evaluation_seed_in_the_training_range():
    one_line_error(run("evaluate", "--controller", "pi", "--scenario", "grade_up", "--seed", "5"), "1,000,000")


def test_training_over_shipped_weights_is_refused():
    one_line_error(run("train", "iql", "--updates", "1"), "shipped weights", "--overwrite")


@pytest.mark.parametrize("spec", ["no_such_module:Thing", "json:NoSuchThing"])
def test_own_controller_that_cannot_be_loaded(spec):
    one_line_error(
        run("evaluate", "--controller", spec, "--scenario", "grade_up", "--episodes", "1"),
        f"cannot load controller {spec!r}",
    )


def test_every_command_describes_itself():
    from cstr.__main__ import build_parser

    parser = build_parser()
    assert "``" not in parser.description
    commands = parser._subparsers._group_actions[0].choices
    assert len(commands) >= 10
    missing = [name for name, sub in commands.items() if not sub.description]
    assert not missing, f"commands without a description: {missing}"
    silent = [
        (name, action.option_strings or action.dest)
        for name, sub in commands.items()
        for action in sub._actions
        if action.help is None and action.dest != "help"
    ]
    assert not silent, f"options without help: {silent}"
    for sub in commands.values():
        sub.format_help()  # every %(default)s in a help string expands

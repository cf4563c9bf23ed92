"""Command line: ``python -m cstr <command> ...``; ``python -m cstr --help`` lists the commands.

Each command lives in the module that owns its logic; that module exposes
``register(subparsers)``, which adds its sub-parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMAND_MODULES = [
    # in pipeline order: data, control, training, selection, evaluation, the whole comparison, benchmarks
    "cstr.data.generation",
    "cstr.data.verification",
    "cstr.control.pi_tuning",
    "cstr.experiments.train",
    "cstr.experiments.selection",
    "cstr.experiments.offset_free_selection",
    "cstr.experiments.evaluation",
    "cstr.experiments.reproduce",
    "cstr.experiments.stress_history",
    "cstr.experiments.temperature_guard",
    "cstr.experiments.authority",
    "cstr.experiments.comparison",
    "cstr.experiments.export",
    "cstr.experiments.benchmark_simulation",
    "cstr.experiments.benchmark_iql",
    "cstr.experiments.benchmark_correction",
    "cstr.experiments.benchmark_training",
]
"""The modules that own a command. Imported by name when the parser is built, so that this module
stays the top of the import graph without importing torch or CasADi merely to be imported."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cstr",
        description="The polymerisation-reactor benchmark and the book's experiments, one command each.",
        epilog="python -m cstr COMMAND --help describes a command.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    # each command's own --help opens with the line the overview shows for it
    summaries = {action.dest: action.help for action in subparsers._choices_actions}
    for command, subparser in subparsers.choices.items():
        if subparser.description is None:
            subparser.description = summaries.get(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; a user's mistake (a ``ValueError`` such as a bad name, seed or data folder, or a missing
    file) ends in one line on stderr and exit code 2. ``CSTR_DEBUG=1`` shows the traceback instead."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as error:
        if os.environ.get("CSTR_DEBUG"):
            raise
        print(f"error: {error} (CSTR_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""Command line: ``python -m cstr <command> ...``; ``python -m cstr --help`` lists the commands.

Each command lives in the module that owns its logic; that module exposes
``register(subparsers)``, which adds its sub-parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = [
    # in pipeline order: data, control, training, selection, evaluation, the whole comparison, benchmarks
    "cstr.data.generation",
    "cstr.data.verification",
    "cstr.data.minari_export",
    "cstr.control.pi_tuning",
    "cstr.experiments.train",
    "cstr.experiments.selection",
    "cstr.experiments.evaluation",
    "cstr.experiments.reproduce",
    "cstr.experiments.authority",
    "cstr.experiments.comparison",
    "cstr.experiments.benchmark_simulation",
    "cstr.experiments.benchmark_iql",
    "cstr.experiments.benchmark_correction",
]
"""The modules that own a command. Imported by name when the parser is built, so that this module
stays the top of the import graph without importing torch or CasADi merely to be imported."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cstr", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

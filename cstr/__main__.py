"""Command line: ``python -m cstr <command> ...``; ``python -m cstr --help`` lists the commands.

Each command lives in the module that owns its logic; that module exposes
``register(subparsers)``, which adds its sub-parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = [
    "cstr.benchmark",
    "cstr.data",
    "cstr.verification",
    "cstr.controllers",
    "cstr.minari_export",
    "cstr.evaluation",
    "cstr.training",
    "cstr.benchmark_iql",
    "cstr.benchmark_correction",
    "cstr.comparison",
    "cstr.reproduce",
    "cstr.cost_model",
]


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

"""The ``georeason`` command: one entry point, one subcommand per job.

Errors meant for the user (:class:`georeason.errors.GeoreasonError`, unreadable images, bad
arguments) are printed as one line ``georeason: error: ...`` with exit code 2 and no traceback.
Set ``GEOREASON_DEBUG=1`` to see the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from georeason import __version__
from georeason.commands import OneLineErrorParser, run_parsed

#: Subcommand modules under ``georeason.commands``, in ``--help`` order.
COMMAND_MODULES: tuple[str, ...] = (
    "locate",
    "demo",
    "make_tiny",
    "train",
    "evolve",
    "serve_verifier",
    "eval",
    "convert",
    "app",
)

#: Subcommands that moved to another command: ``georeason NAME`` says where, exit code 2.
MOVED_COMMANDS: dict[str, str] = {
    "toyworld": "the toy-world experiment is its own command now: georeason-toyworld "
    "(e.g. georeason-toyworld run --seed 0 --out runs/toyworld)",
}


_Parser = OneLineErrorParser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="georeason",
        description="Geospatial reasoning with multimodal LLMs: locate, segment, train, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"georeason {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"georeason.commands.{name}")
        except ModuleNotFoundError as exc:  # an optional extra is not installed
            if exc.name and exc.name.startswith("georeason"):
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in MOVED_COMMANDS:
        print(f"georeason: error: {MOVED_COMMANDS[argv[0]]}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    return run_parsed(args, "georeason")


if __name__ == "__main__":
    sys.exit(main())

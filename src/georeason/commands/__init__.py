"""CLI subcommands. Each module exposes ``add_parser(subparsers)`` and sets ``func`` on its parser.

Modules import heavy dependencies (torch, transformers) inside their ``run`` functions so that
``georeason --help`` and argument errors stay fast.
"""

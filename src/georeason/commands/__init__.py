"""CLI subcommands. Each module exposes ``add_parser(subparsers)`` and sets ``func`` on its parser.

Modules import heavy dependencies (torch, transformers) inside their ``run`` functions so that
``georeason --help`` and argument errors stay fast.
"""

from __future__ import annotations

import argparse


class OneLineErrorParser(argparse.ArgumentParser):
    """An ``argparse`` parser whose errors are one line ``PROG: error: ...`` with exit code 2
    (argparse's own code), no usage block; abbreviations of long options are off."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog.split()[0]}: error: {message}\n")


def add_prompt_template_argument(parser: argparse.ArgumentParser) -> None:
    """``--prompt-template``: the policy prompt the model was trained with (``{query}``)."""
    parser.add_argument(
        "--prompt-template",
        help="policy prompt template with {query} (and optionally {frame}), as in the train "
        "config's prompt_template; default: georeason's standard prompt",
    )


def prompt_template_arg(args: argparse.Namespace) -> str | None:
    """The validated ``--prompt-template`` (None if not given).

    Raises:
        georeason.errors.UserInputError: if the template has no ``{query}`` or other fields.
    """
    from georeason.errors import UserInputError
    from georeason.prompts import check_policy_template

    template = getattr(args, "prompt_template", None)
    if template is not None:
        try:
            check_policy_template(template)
        except ValueError as exc:
            raise UserInputError(f"--prompt-template: {exc}") from None
    return template

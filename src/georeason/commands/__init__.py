"""CLI subcommands. Each module exposes ``add_parser(subparsers)`` and sets ``func`` on its parser.

Modules import heavy dependencies (torch, transformers) inside their ``run`` functions so that
``georeason --help`` and argument errors stay fast.
"""

from __future__ import annotations

import argparse

from georeason.verifier_inputs import VERIFIER_INPUTS


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
        help="policy prompt: a preset (georeason, remotereasoner: RemoteReasoner's released "
        "prompt, image between instruction and query) or a template with {query} (optionally "
        "{frame} and an <image> marker), as in the train config's prompt_template; default: "
        "georeason",
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


def run_parsed(args: argparse.Namespace, prog: str) -> int:
    """Run ``args.func(args)`` the way both commands do: a user error
    (:class:`georeason.errors.GeoreasonError`, a missing file) prints one line
    ``PROG: error: ...`` and returns 2 (``GEOREASON_DEBUG=1`` shows the traceback instead);
    Ctrl-C returns 130."""
    import os
    import sys

    from georeason.errors import GeoreasonError

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (GeoreasonError, FileNotFoundError) as exc:
        if os.environ.get("GEOREASON_DEBUG"):
            raise
        print(f"{prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    """The policy options that ``locate`` and ``eval`` share (one definition): ``--adapter``,
    ``--max-pixels``, ``--max-new-tokens``, ``--prompt-template`` and test-time verification
    (``--samples``, ``--verifier``, ``--temperature``)."""
    parser.add_argument("--adapter", help="LoRA adapter folder (peft) to apply to --model")
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=802_816,
        help="pixel budget of the model input (default 802,816 as in both papers)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=512)
    add_prompt_template_argument(parser)
    parser.add_argument(
        "--samples",
        type=int,
        default=1,
        help="test-time verification: sample N answers, verify each crop, keep the best "
        "(cost: N generations + N verifications; default 1 = greedy)",
    )
    parser.add_argument(
        "--verifier",
        help="verifier checkpoint for --samples (hub id or folder; default: the policy itself)",
    )
    parser.add_argument(
        "--verifier-input",
        choices=VERIFIER_INPUTS,
        default="context_crop",
        help="what the verifier sees of a box: context_crop (RemoteZero's 15%% margin, "
        "default), strict_crop, global_highlight (whole image, box outlined in red) or "
        "global_and_crop (whole image and crop)",
    )
    parser.add_argument(
        "--temperature", type=float, default=0.9, help="sampling temperature (default 0.9)"
    )


def check_sampling_args(args: argparse.Namespace, has_policy: bool) -> None:
    """Validate the test-time verification options.

    Raises:
        georeason.errors.UserInputError: ``--samples < 1``, ``--temperature <= 0``, or
            ``--samples`` / ``--verifier`` without a policy to sample from.
    """
    from georeason.errors import UserInputError

    if args.samples < 1:
        raise UserInputError(f"--samples must be at least 1, got {args.samples}")
    if args.temperature <= 0:
        raise UserInputError(f"--temperature must be positive, got {args.temperature}")
    if (args.samples > 1 or args.verifier) and not has_policy:
        raise UserInputError("--samples and --verifier need --model (a policy to sample from)")


MODEL_FAMILY_CHOICES = ("qwen2_5_vl", "qwen3_vl")


def add_served_policy_arguments(
    parser: argparse.ArgumentParser, source: argparse._MutuallyExclusiveGroup
) -> None:
    """``--policy-url`` (in ``source``, the group that holds ``--model``), ``--policy-model``,
    ``--model-family`` and ``--concurrency``: the policy behind an OpenAI-compatible server."""
    source.add_argument(
        "--policy-url",
        help="OpenAI-compatible server of the policy (vLLM, transformers serve), e.g. "
        "http://127.0.0.1:8000/v1; replaces --model",
    )
    group = parser.add_argument_group("served policy (--policy-url)")
    group.add_argument(
        "--policy-model", help="the model name the server expects (as in `vllm serve NAME`)"
    )
    group.add_argument(
        "--model-family",
        choices=MODEL_FAMILY_CHOICES,
        help="the served model's family, which fixes its box frame (default: read from "
        "--policy-model; an unknown name is refused)",
    )
    group.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="requests in flight at once (the server batches them; default 8)",
    )


def check_served_policy_args(args: argparse.Namespace) -> None:
    """Validate the served-policy options.

    Raises:
        georeason.errors.UserInputError: ``--policy-url`` without ``--policy-model`` (or the
            reverse), ``--adapter`` with a server, ``--samples`` without ``--verifier``, or
            ``--concurrency < 1``.
    """
    from georeason.errors import UserInputError

    url = getattr(args, "policy_url", None)
    if url is None:
        if getattr(args, "policy_model", None) or getattr(args, "model_family", None):
            raise UserInputError("--policy-model and --model-family go with --policy-url")
        return
    if not args.policy_model:
        raise UserInputError("--policy-url needs --policy-model (the name the server serves)")
    if getattr(args, "adapter", None):
        raise UserInputError("--adapter applies to --model; serve the adapter with the server")
    if args.concurrency < 1:
        raise UserInputError(f"--concurrency must be at least 1, got {args.concurrency}")
    if getattr(args, "samples", 1) > 1 and not getattr(args, "verifier", None):
        raise UserInputError(
            "--samples with --policy-url needs --verifier (the served policy cannot verify)"
        )


def load_policy_arg(args: argparse.Namespace, model: str | None = None):  # -> Policy
    """The policy of ``--model`` (or ``model``) with ``--adapter``, ``--max-pixels`` and
    ``--prompt-template`` applied, or of ``--policy-url`` (a
    :class:`georeason.serving.policy_client.ServedPolicy`): one loading path for ``locate``,
    ``eval`` and ``app``.

    Raises:
        georeason.errors.ModelLoadError: the checkpoint cannot be found or loaded.
        georeason.errors.UserInputError: a malformed ``--prompt-template``, bad served options.
    """
    if getattr(args, "policy_url", None):
        from georeason.serving.policy_client import ServedPolicy

        check_served_policy_args(args)
        return ServedPolicy(
            args.policy_url,
            args.policy_model,
            model_family=args.model_family,
            max_pixels=args.max_pixels,
            prompt_template=prompt_template_arg(args),
            concurrency=args.concurrency,
        )
    from georeason.models.policy import Policy

    return Policy.from_pretrained(
        model or args.model,
        adapter=args.adapter,
        max_pixels=args.max_pixels,
        prompt_template=prompt_template_arg(args),
    )


def load_verifier_arg(args: argparse.Namespace):  # -> LocalVerifier | None
    """The ``--verifier`` checkpoint as a :class:`georeason.models.verifier.LocalVerifier`
    (None without the option: the caller uses the policy itself)."""
    if not args.verifier:
        return None
    from georeason.models.verifier import LocalVerifier

    return LocalVerifier.from_pretrained(args.verifier)

"""``georeason eval --task verify``: Eye vs Hand on one split (metrics.json, report.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from georeason.errors import UserInputError


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``--task verify`` (``--verifier`` and ``--verifier-input`` are the policy
    options shared with test-time verification)."""
    g = parser.add_argument_group(
        "Eye vs Hand (--task verify): does the model verify better than it localizes?"
    )
    g.add_argument(
        "--distractors",
        type=int,
        default=4,
        help="distractor boxes per sample: other annotated objects of the image, then random "
        "boxes at the targets' sizes (default 4, ours)",
    )
    g.add_argument(
        "--max-targets",
        type=int,
        default=8,
        help="targets verified per sample, the first ones (default 8, ours)",
    )
    g.add_argument("--verifier-url", help="served verifier: OpenAI-compatible base URL (…/v1)")
    g.add_argument("--verifier-model", help="model name the served verifier expects")


def _verifier(args: argparse.Namespace, predictor: Any):
    """(build_verifier, description): the Eye, default the policy's own model."""
    from georeason.models.loading import read_weights_kind

    if args.verifier_url:
        if not args.verifier_model:
            raise UserInputError("--verifier-url needs --verifier-model")
        from georeason.serving.verifier_client import HTTPVerifier

        def build_http():
            return HTTPVerifier(args.verifier_url, args.verifier_model)

        return build_http, {"url": args.verifier_url, "model": args.verifier_model}
    if args.verifier:
        from georeason.models.spec import resolve_model

        ckpt = resolve_model(args.verifier)
        weights = read_weights_kind(ckpt) if Path(ckpt).is_dir() else "pretrained"

        def build_local():
            from georeason.models.verifier import LocalVerifier

            return LocalVerifier.from_pretrained(ckpt)

        return build_local, {"model": str(ckpt), "weights": weights}
    if args.model is None:
        source = "--policy-url" if getattr(args, "policy_url", None) else "--predictions"
        raise UserInputError(
            f"--task verify with {source} needs a verifier (--verifier or --verifier-url)"
        )

    def build_self():
        from georeason.models.verifier import LocalVerifier

        policy = predictor.get().policy
        return LocalVerifier(policy.model, policy.processor)

    desc = predictor.describe()
    return build_self, {"model": desc["model"], "weights": desc["weights"], "same_as_policy": True}


def run_verify(args: argparse.Namespace, dataset: Any, options: Any, predictor: Any) -> int:
    """Run ``--task verify`` (called by :func:`georeason.commands.eval.run` with the Hand:
    the lazy policy predictor of ``--model`` or the ``--predictions`` file)."""
    from georeason.eval.verify_report import write_verify_report
    from georeason.eval.verify_run import VerifyOptions, evaluate_verify

    build, description = _verifier(args, predictor)
    verify = VerifyOptions(
        input_mode=args.verifier_input,
        n_distractors=args.distractors,
        max_targets=args.max_targets,
        seed=args.seed,
    )
    result = evaluate_verify(
        dataset,
        predictor,
        build,
        args.out,
        description,
        options,
        verify,
        batch_size=args.batch_size,
        limit=args.limit,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    report = write_verify_report(result)
    m = result.metrics
    print(
        f"{result.counts['samples']} samples ({result.counts['resumed']} resumed): "
        f"Hand Acc@0.5 {m['hand_acc50']:.2f} %, Eye selection {m['eye_select_acc']:.2f} % "
        f"(chance {m['eye_select_chance']:.2f} %), pairs {m['eye_pair_acc']:.2f} %, "
        f"ECE {m['eye_ece']:.3f}, asymmetry {m['asymmetry']:+.2f} points"
    )
    print(f"wrote {result.out_dir / 'metrics.json'} and {report}")
    return 0

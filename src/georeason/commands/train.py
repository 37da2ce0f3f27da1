"""``georeason train``: LoRA training on TRL: GRPO (RemoteZero, RemoteReasoner, GeoZero's A²GRPO)
or SFT (GeoZero's cold start)."""

from __future__ import annotations

import argparse
import os


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="training with LoRA: GRPO (remotezero: format + verification; remotereasoner: "
        "IoU + count + format; geozero_a2grpo: answer + format + gated thinking) or SFT "
        "(geozero_sft)",
        description="Train a Qwen-VL policy with TRL's GRPOTrainer and a LoRA adapter. Running "
        "it again on an output folder that holds checkpoints resumes from the last one (same "
        "data order). Runs unchanged under `accelerate launch` (DDP, DeepSpeed: see "
        "configs/accelerate/). Logs: TensorBoard (grpo.report_to), OUTPUT/train_log.jsonl, "
        "OUTPUT/rollouts/.",
    )
    p.add_argument("--config", required=True, help="YAML config (see configs/)")
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the fully resolved settings (our config and every trl.GRPOConfig or "
        "trl.SFTConfig value, TRL defaults included) as JSON and exit without loading a model",
    )
    add_override_arguments(p, example="--set grpo.learning_rate=1e-5 --set lora.r=16")
    p.set_defaults(func=run)


def add_override_arguments(p: argparse.ArgumentParser, example: str) -> None:
    """The config-override flags shared by ``train`` and ``evolve``."""
    p.add_argument("--output-dir", help="override output_dir")
    p.add_argument("--model", help="override model (folder, hub id, tiny:qwen2_5_vl...)")
    p.add_argument("--max-steps", type=int, help="override grpo.max_steps")
    p.add_argument("--save-steps", type=int, help="override grpo.save_steps")
    p.add_argument(
        "--verifier-url",
        help="use an HTTP verifier at this URL (sets verifier.kind=http, verifier.url)",
    )
    p.add_argument("--verifier-model", help="override verifier.model")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override any config key, e.g. {example} (values are read as YAML); repeatable",
    )


def overrides_from_args(args: argparse.Namespace, section: str = "grpo") -> list[str]:
    """The ``key=value`` overrides given by the dedicated flags, then the ``--set`` ones.

    ``section``: where ``--max-steps``/``--save-steps`` go (``grpo``, or ``sft`` for SFT).
    """
    out = []
    if args.output_dir:
        out.append(f"output_dir={args.output_dir}")
    if args.model:
        out.append(f"model={args.model}")
    if args.max_steps is not None:
        out.append(f"{section}.max_steps={args.max_steps}")
    if args.save_steps is not None:
        out.append(f"{section}.save_steps={args.save_steps}")
    if args.verifier_url:
        out += ["verifier.kind=http", f"verifier.url={args.verifier_url}"]
    if args.verifier_model:
        out.append(f"verifier.model={args.verifier_model}")
    return out + list(args.overrides)


def run(args: argparse.Namespace) -> int:
    from georeason.training.config import config_from_dict, read_yaml_with_overrides
    from georeason.training.trainer import train

    mode = read_yaml_with_overrides(args.config, list(args.overrides)).get("mode")
    section = "sft" if mode == "geozero_sft" else "grpo"
    config = config_from_dict(
        read_yaml_with_overrides(args.config, overrides_from_args(args, section))
    )
    if args.print_config:
        import json

        from georeason.training.trainer import resolved_settings

        print(json.dumps(resolved_settings(config), indent=2, default=str))
        return 0
    result = train(config)
    if os.environ.get("RANK", "0") != "0":  # accelerate launch: report once
        return 0
    if result.resumed_from:
        print(f"resumed from {result.resumed_from}")
    if result.adapter_dir is None:  # full fine-tuning
        print(f"trained {result.global_step} steps; full model in {result.merged_dir}")
        print(f"use it: georeason locate IMAGE QUERY --model {result.merged_dir} --out OUT")
        return 0
    print(f"trained {result.global_step} steps; LoRA adapter in {result.adapter_dir}")
    print(
        f"use it: georeason locate IMAGE QUERY --model {result.base_model} "
        f"--adapter {result.adapter_dir} --out OUT"
    )
    if result.merged_dir:
        print(f"merged model in {result.merged_dir}")
    return 0

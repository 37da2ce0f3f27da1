"""``georeason make-tiny``: write a tiny random-weight Qwen-VL model folder (tests, demos)."""

from __future__ import annotations

import argparse
import sys

ARCH_CHOICES = ("qwen2_5_vl", "qwen3_vl")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "make-tiny",
        help="write a tiny RANDOM-weight Qwen2.5-VL / Qwen3-VL model folder (offline, seconds)",
        description="Builds a loadable model folder with random weights, a small trained BPE "
        "tokenizer and the real architecture's image processor settings. It exercises the "
        "pipeline end to end; its outputs are noise, not predictions.",
    )
    p.add_argument("out_dir", help="folder to write (created if missing)")
    p.add_argument(
        "--arch",
        choices=ARCH_CHOICES,
        default="qwen2_5_vl",
        help="architecture (default: qwen2_5_vl)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default: 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from georeason.models.tiny import make_tiny

    out = make_tiny(args.out_dir, arch=args.arch, seed=args.seed)
    size_mb = sum(f.stat().st_size for f in out.iterdir() if f.is_file()) / 1e6
    print(f"wrote a tiny {args.arch} model to {out} ({size_mb:.1f} MB)")
    print(
        "NOTE: its weights are RANDOM: outputs are noise, useful only to test the pipeline.",
        file=sys.stderr,
    )
    return 0

"""``georeason-toyworld``: the proof-of-learning experiment's command line.

``georeason-toyworld generate --out DIR --split pretrain|rl|eval --n N --seed S`` writes a split in
the ``rs-samples`` layout (``DIR/images/*.png`` + ``DIR/queries.jsonl`` + ``DIR/manifest.json``),
readable by ``georeason eval --dataset jsonl --root DIR`` (pretrain / eval splits) and by the
training JSONL loader (all splits; ``rl`` records carry no box). Further subcommands (e.g. ``run``)
attach to the same subparser group.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from georeason.commands import OneLineErrorParser, run_parsed

_Parser = OneLineErrorParser


def build_parser() -> argparse.ArgumentParser:
    """The ``georeason-toyworld`` parser (subcommands ``generate`` and ``run``)."""
    p = _Parser(
        prog="georeason-toyworld",
        allow_abbrev=False,
        description="A seeded generator of small top-down scenes (buildings, pools, trees, roads, "
        "cars, boats, sports fields, storage tanks) with plain referring expressions and "
        "implicit reasoning queries, split into pretrain / rl / eval by seed.",
    )
    tw = p.add_subparsers(
        dest="toyworld_command", required=True, metavar="SUBCOMMAND", parser_class=_Parser
    )
    g = tw.add_parser(
        "generate",
        help="write a split (images/*.png + queries.jsonl) in the rs-samples layout",
        description="Scene i of split S with seed K uses generator seed "
        "3 * (K * 1000000 + i) + code(S), code = pretrain 0, rl 1, eval 2: splits never share "
        "a scene. Defaults: pretrain = plain expressions (train wordings) with boxes; rl = "
        "implicit queries (train wordings) WITHOUT any box; eval = implicit queries (held-out "
        "wordings) with boxes. Report evaluation results over several --seed values.",
    )
    g.add_argument("--out", required=True, help="output folder")
    g.add_argument("--split", required=True, choices=("pretrain", "rl", "eval"))
    g.add_argument("--n", type=int, required=True, help="number of scenes (one query each)")
    g.add_argument("--seed", type=int, required=True, help="split seed (non-negative)")
    g.add_argument("--size", type=int, default=112, help="image side in pixels (default 112)")
    g.add_argument(
        "--kind",
        choices=("plain", "implicit"),
        help="query kind (default: plain for pretrain, implicit otherwise)",
    )
    g.add_argument(
        "--wordings",
        choices=("train", "heldout"),
        help="wording set (default: heldout for eval, train otherwise)",
    )
    g.add_argument(
        "--same-category-distractors",
        action="store_true",
        help="harder variant: second instances of some categories (other colour)",
    )
    g.add_argument("--overwrite", action="store_true", help="replace an existing queries.jsonl")
    g.set_defaults(func=run_generate)
    r = tw.add_parser(
        "run",
        help="the RemoteZero toy experiment: pretrain, baseline, GRPO stages, ceiling, report",
        description="Pretrains a toy Qwen3-VL (plain referring expressions, yes/no "
        "verification and captions of crops), evaluates it on implicit queries, runs RemoteZero "
        "GRPO (distillation, two self-evolution rounds, ablations) and the supervised-IoU "
        "ceiling with the same budget, and writes OUT/report.md, OUT/results.json and PNG "
        "curves. Per-seed results go to OUT/seedS/ and are reused when rerun with the same "
        "settings.",
    )
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default: 0)")
    r.add_argument("--seed", type=int, dest="seeds_one", help="a single seed (same as --seeds S)")
    r.add_argument(
        "--quick", action="store_true", help="a few samples and steps per stage (wiring check)"
    )
    r.add_argument(
        "--grpo-steps",
        type=int,
        help="the GRPO steps of every run (grpo_steps and distill_grpo_steps)",
    )
    r.add_argument("--pretrain-steps", type=int, help="override the policy's SFT steps")
    r.add_argument("--no-reuse", action="store_true", help="rerun seeds that have results")
    r.add_argument(
        "--pretrain-only",
        action="store_true",
        help="write each seed's data and pretrained models (OUT/seedS/models) and stop; a later "
        "run with the same settings reuses them (for probes of one rung)",
    )
    r.add_argument(
        "--workers",
        type=int,
        help="processes for independent stages (default 2; 1 = all in this process)",
    )
    r.add_argument("--device", choices=("cpu", "cuda"), help="device of every stage (default cpu)")
    r.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override ExperimentSettings fields, e.g. --set n_pretrain=8000 grpo_steps=400",
    )
    r.set_defaults(func=run_experiment_cmd)
    return p


def run_generate(args: argparse.Namespace) -> int:
    from georeason import __version__
    from georeason.errors import UserInputError
    from georeason_toyworld.splits import DEFAULT_QUERIES, build_split, write_split

    if args.size < 64:
        raise UserInputError(f"--size must be at least 64, got {args.size}")
    records = build_split(
        args.split,
        args.n,
        args.seed,
        args.size,
        kind=args.kind,
        wordings=args.wordings,
        same_category_distractors=args.same_category_distractors,
    )
    kind, wordings = DEFAULT_QUERIES[args.split]
    manifest = {
        "generator": f"georeason_toyworld {__version__}",
        "split": args.split,
        "seed": args.seed,
        "n": args.n,
        "size_px": args.size,
        "kind": args.kind or kind,
        "wordings": args.wordings or wordings,
        "same_category_distractors": bool(args.same_category_distractors),
    }
    path = write_split(records, args.out, overwrite=args.overwrite, manifest=manifest)
    print(f"wrote {len(records)} {args.split} records to {path}")
    return 0


def apply_overrides(settings: Any, pairs: Sequence[str]) -> Any:
    """``KEY=VALUE`` overrides of :class:`~georeason_toyworld.settings.ExperimentSettings`
    (values parsed as the field's type; booleans as ``true``/``false``, ``1``/``0``,
    ``yes``/``no``).

    Raises:
        georeason.errors.UserInputError: an unknown key, a missing ``=`` or an unparsable value.
    """
    import dataclasses

    from georeason.errors import UserInputError

    fields = {f.name: f for f in dataclasses.fields(settings)}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in fields:
            raise UserInputError(
                f"--set {pair!r}: expected KEY=VALUE with KEY one of {sorted(fields)}"
            )
        current = getattr(settings, key)
        if isinstance(current, bool):
            flags = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
            if value.lower() not in flags:
                raise UserInputError(f"--set {pair!r}: not a boolean (true or false)")
            settings = dataclasses.replace(settings, **{key: flags[value.lower()]})
            continue
        if not isinstance(current, int | float | str):
            raise UserInputError(f"--set {key}: only number, boolean and text settings can be set")
        try:
            parsed = type(current)(value)
        except ValueError:
            raise UserInputError(f"--set {pair!r}: not a {type(current).__name__}") from None
        settings = dataclasses.replace(settings, **{key: parsed})
    return settings


def run_experiment_cmd(args: argparse.Namespace) -> int:
    import dataclasses

    import torch

    from georeason.errors import UserInputError
    from georeason_toyworld.experiment import QUICK, ExperimentSettings, run_experiment
    from georeason_toyworld.report import threshold_value

    seeds = [args.seeds_one] if args.seeds_one is not None else list(args.seeds)
    if any(s < 0 for s in seeds):
        raise UserInputError(f"seeds must be non-negative, got {seeds}")
    torch.set_num_threads(1)  # ours: the experiment is sized for 2 shared CPU cores
    settings = dataclasses.replace(QUICK) if args.quick else ExperimentSettings()
    if args.grpo_steps is not None:  # every run: grpo_steps and distill_grpo_steps
        settings.grpo_steps = settings.distill_grpo_steps = args.grpo_steps
    if args.pretrain_steps is not None:
        settings.pretrain_steps = args.pretrain_steps
    if args.workers is not None:
        if args.workers < 1:
            raise UserInputError(f"--workers must be at least 1, got {args.workers}")
        settings.workers = args.workers
    if args.device is not None:
        if args.device == "cuda" and not torch.cuda.is_available():
            raise UserInputError("--device cuda: no CUDA device is visible to torch")
        settings.device = args.device
    settings = apply_overrides(settings, args.set)
    if args.pretrain_only:
        import os
        from pathlib import Path

        from georeason_toyworld.stages import build_data, pretrain_models

        os.environ.setdefault("OMP_NUM_THREADS", "1")  # spawned workers: one thread each
        for seed in seeds:
            out = Path(args.out) / f"seed{seed}"
            build_data(out, seed, settings)
            pre = pretrain_models(out, seed, settings, print)
            wall = pre["stage_wall_s"]
            print(f"[seed {seed}] pretrained models in {out / 'models'} ({wall:.0f} s)")
        return 0
    agg = run_experiment(args.out, seeds, settings, reuse=not args.no_reuse)
    for t in agg["thresholds"].values():
        mean = threshold_value(t, t["mean"])
        print(f"{'met    ' if t['met'] else 'NOT met'}  {t['description']}: mean {mean}")
    print(f"wrote {args.out}/report.md and {args.out}/results.json")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``georeason-toyworld``: user errors print one line and exit with 2."""
    args = build_parser().parse_args(argv)
    return run_parsed(args, "georeason-toyworld")


if __name__ == "__main__":
    sys.exit(main())

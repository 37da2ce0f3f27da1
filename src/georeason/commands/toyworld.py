"""``georeason toyworld``: the procedural toy world (scenes, queries, seeded splits).

``georeason toyworld generate --out DIR --split pretrain|rl|eval --n N --seed S`` writes a split in
the ``rs-samples`` layout (``DIR/images/*.png`` + ``DIR/queries.jsonl`` + ``DIR/manifest.json``),
readable by ``georeason eval --dataset jsonl --root DIR`` (pretrain / eval splits) and by the
training JSONL loader (all splits; ``rl`` records carry no box). Further subcommands (e.g. ``run``)
attach to the same subparser group.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "toyworld",
        help="procedural toy aerial scenes with referring and reasoning queries (CPU-scale tests)",
        description="A seeded generator of small top-down scenes (buildings, pools, trees, roads, "
        "cars, boats, sports fields, storage tanks) with plain referring expressions and "
        "implicit reasoning queries, split into pretrain / rl / eval by seed.",
    )
    tw = p.add_subparsers(dest="toyworld_command", required=True, metavar="SUBCOMMAND")
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


def run_generate(args: argparse.Namespace) -> int:
    from georeason import __version__
    from georeason.errors import UserInputError
    from georeason.toyworld.splits import DEFAULT_QUERIES, build_split, write_split

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
        "generator": f"georeason.toyworld {__version__}",
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

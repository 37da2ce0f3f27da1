"""``georeason app``: the Gradio web app over the ``locate`` workflow."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from georeason.commands import (
    add_policy_arguments,
    add_served_policy_arguments,
    check_sampling_args,
    check_served_policy_args,
    load_policy_arg,
    load_verifier_arg,
)
from georeason.commands.locate import SEGMENTERS
from georeason.errors import UserInputError

LOOPBACK_NAMES = ("localhost",)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "app",
        help="start the web app: upload a scene, ask, see boxes/masks/contours on a map",
        description="Start a Gradio web app on the locate workflow (bound to loopback by "
        "default). Its main action is also the API endpoint /locate for gradio_client.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="policy checkpoint: hub id or local folder")
    add_served_policy_arguments(p, src)
    add_policy_arguments(p)
    p.add_argument("--segmenter", choices=SEGMENTERS, default="default")
    p.add_argument("--sam-checkpoint", help="SAM2 checkpoint for --segmenter sam2")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes the app "
        "to the network, without authentication)",
    )
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--work-dir", help="folder for per-request outputs (default: a temp folder)")
    p.add_argument(
        "--tile-size",
        type=int,
        help="tile every upload with this tile side in px (default: only scenes over 400 "
        "megapixels are tiled, with the model's pixel-budget side)",
    )
    p.add_argument("--tile-overlap", type=int, default=128, help="tile overlap in px (128)")
    p.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    try:
        import folium  # noqa: F401
        import gradio  # noqa: F401
    except ModuleNotFoundError as exc:
        raise UserInputError(
            f"the web app needs the 'app' extra ({exc.name} is missing): "
            "pip install 'georeason[app]'"
        ) from None
    check_sampling_args(args, has_policy=True)
    check_served_policy_args(args)
    if not 0 < args.port < 65536:
        raise UserInputError(f"--port must be in 1..65535, got {args.port}")
    if not is_loopback(args.host):
        print(
            f"WARNING: binding {args.host}: anyone who can reach this machine can use the app "
            "(no authentication).",
            file=sys.stderr,
        )
    from georeason.app.backend import AppBackend
    from georeason.app.ui import build_app
    from georeason.models.segmenters import build_segmenter

    segmenter = build_segmenter(args.segmenter, sam_checkpoint=args.sam_checkpoint)
    policy = load_policy_arg(args)
    if policy.weights == "random":
        print(
            "NOTE: the model has RANDOM weights (a test model): its boxes are not a real "
            "prediction.",
            file=sys.stderr,
        )
    backend = AppBackend(
        policy,
        segmenter,
        work_dir=args.work_dir,
        tile_size=args.tile_size,
        tile_overlap=args.tile_overlap,
        locate_options={
            "max_new_tokens": args.max_new_tokens,
            "samples": args.samples,
            "verifier": load_verifier_arg(args),
            "verifier_input": args.verifier_input,
            "temperature": args.temperature,
        },
    )
    app = build_app(backend)
    app.queue(default_concurrency_limit=1)  # one model: requests run one at a time
    app.launch(
        server_name=args.host,
        server_port=args.port,
        allowed_paths=[str(backend.work_dir)],
        share=False,
        show_error=True,
    )
    return 0

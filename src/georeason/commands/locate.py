"""``georeason locate``: one image and query -> boxes, masks, contours, GeoJSON."""

from __future__ import annotations

import argparse
import json
import sys

from georeason.commands import (
    add_policy_arguments,
    add_served_policy_arguments,
    check_sampling_args,
    check_served_policy_args,
    load_policy_arg,
    load_verifier_arg,
)
from georeason.errors import UserInputError

SEGMENTERS = ("default", "sam2", "box")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "locate",
        help="answer a query on an image with boxes, masks, contours and GeoJSON",
        description="Run the workflow locate -> segment -> contour on one image. Boxes come "
        "from a policy model (--model, or --policy-url for a served one) or are given "
        "(--boxes). Writes result.json, overlay.png, result.geojson (RFC 7946), mask.tif "
        "(label COG) and, with --format gpkg, result.gpkg into --out.",
    )
    p.add_argument("image", help="PNG, JPEG, TIFF or GeoTIFF")
    p.add_argument("query", help="natural-language query")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="Qwen2.5-VL / Qwen3-VL checkpoint: hub id or local folder")
    src.add_argument("--boxes", help="JSON boxes in original pixels: '[[x1,y1,x2,y2], ...]'")
    add_served_policy_arguments(p, src)
    p.add_argument("--segmenter", choices=SEGMENTERS, default="default")
    p.add_argument(
        "--sam-checkpoint", help="SAM2 checkpoint (hub id or folder) for --segmenter sam2"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--geojson-crs",
        choices=("wgs84", "source"),
        default="wgs84",
        help="result.geojson of a georeferenced image: RFC 7946 WGS 84 longitude/latitude "
        "(default) or the image's own CRS (a GeoJSON 2008 crs member, not RFC 7946)",
    )
    p.add_argument(
        "--format",
        choices=("geojson", "gpkg"),
        default="geojson",
        help="GIS vector output: result.geojson (always written) or also result.gpkg, a "
        "GeoPackage in the image's own CRS for QGIS/geopandas (default: geojson)",
    )
    tiles = p.add_argument_group(
        "whole scenes (tiling; automatic above 400 megapixels)",
        "The scene is read in windows, the policy runs on overlapping tiles, duplicate boxes "
        "across tile borders are fused, each box is segmented on a window around it, and the "
        "masks go to mask.tif (a COG) window by window; OUT/tiles.jsonl makes it resumable.",
    )
    tiles.add_argument(
        "--tile-size",
        type=int,
        help="tile side in px (default when tiling: the model's pixel budget side, 896 px for "
        "--max-pixels 802816, so each tile is seen at full resolution)",
    )
    tiles.add_argument(
        "--tile-overlap", type=int, default=128, help="overlap of neighbouring tiles (px, 128)"
    )
    tiles.add_argument(
        "--overview",
        action="store_true",
        help="also run the policy once on the whole scene downsampled (large structures)",
    )
    tiles.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_policy_arguments(p)
    p.add_argument("--bands", help="1-based bands to use as RGB, e.g. '4,3,2' (default: by count)")
    p.set_defaults(func=run)


def parse_boxes_arg(text: str) -> list[list[float]]:
    """Parse ``--boxes``: a JSON box ``[x1,y1,x2,y2]`` or list of boxes, in original pixels.

    Raises:
        UserInputError: if the text is not JSON or not a list of 4-number boxes.
    """
    hint = "--boxes must be JSON like '[[x1,y1,x2,y2], ...]' in original-image pixels"
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise UserInputError(f"{hint}; got {text!r} ({exc})") from None
    if isinstance(obj, list) and len(obj) == 4 and all(isinstance(v, (int, float)) for v in obj):
        obj = [obj]
    if not isinstance(obj, list) or not all(
        isinstance(b, list)
        and len(b) == 4
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)
        for b in obj
    ):
        raise UserInputError(f"{hint}; got {text!r}")
    return [[float(v) for v in b] for b in obj]


def parse_bands_arg(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        bands = tuple(int(b) for b in text.split(","))
    except ValueError:
        raise UserInputError(
            f"--bands must be comma-separated band numbers, got {text!r}"
        ) from None
    if len(bands) not in (1, 3):
        raise UserInputError(f"--bands needs 1 or 3 band numbers, got {text!r}")
    return bands


def run(args: argparse.Namespace) -> int:
    from georeason.io import DEFAULT_MAX_READ_PIXELS, raster_pixels, read_image

    has_policy = args.model is not None or args.policy_url is not None
    check_sampling_args(args, has_policy=has_policy)
    check_served_policy_args(args)
    boxes = parse_boxes_arg(args.boxes) if args.boxes is not None else None
    n_px = raster_pixels(args.image)
    if args.tile_size is not None or (n_px is not None and n_px > DEFAULT_MAX_READ_PIXELS):
        from georeason.commands.locate_scene import run_scene

        return run_scene(args, boxes, parse_bands_arg(args.bands), has_policy)
    if args.overview:
        raise UserInputError("--overview goes with tiling: add --tile-size")
    image = read_image(args.image, bands=parse_bands_arg(args.bands))
    if has_policy:  # before loading the model: a refusal costs nothing
        from georeason.models.processors import check_aspect_ratio

        check_aspect_ratio(image.height, image.width)
    if boxes is not None:
        from georeason.geometry import validate_boxes_xyxy

        try:
            validate_boxes_xyxy(boxes, image.width, image.height)
        except ValueError as exc:
            raise UserInputError(f"--boxes: {exc}") from None

    from georeason.models.segmenters import build_segmenter
    from georeason.workflow import locate, write_outputs

    segmenter = build_segmenter(args.segmenter, sam_checkpoint=args.sam_checkpoint)
    policy = load_policy_arg(args) if has_policy else None
    verifier = load_verifier_arg(args)
    result = locate(
        image,
        args.query,
        segmenter,
        policy=policy,
        boxes_xyxy_px=boxes,
        max_new_tokens=args.max_new_tokens,
        samples=args.samples,
        verifier=verifier,
        verifier_input=args.verifier_input,
        temperature=args.temperature,
    )
    paths = write_outputs(
        result, image, args.out, geojson_crs=args.geojson_crs, gpkg=args.format == "gpkg"
    )
    if result.weights == "random":
        print(
            "NOTE: the model has RANDOM weights (a test model): its boxes are not a real "
            "prediction.",
            file=sys.stderr,
        )
    print(
        f"{len(result.boxes_xyxy_px)} box(es), parse status {result.parse_status}; "
        f"wrote {', '.join(str(p) for p in paths.values())}"
    )
    return 0

"""``georeason locate`` on a whole scene: the tiled path (:mod:`georeason.scene`)."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from georeason.commands import load_policy_arg
from georeason.errors import UserInputError


def run_scene(
    args: argparse.Namespace,
    boxes: list[list[float]] | None,
    bands: tuple[int, ...] | None,
    has_policy: bool,
) -> int:
    """Tile, locate, merge, segment and write the scene's outputs into ``--out``.

    Raises:
        UserInputError: test-time verification with tiles, bad tile settings, boxes outside the
            scene, or an ``--out`` holding another run.
    """
    from georeason.models.segmenters import build_segmenter
    from georeason.scene import SceneReader, default_tile_size, locate_scene, write_scene_outputs

    if args.samples > 1:
        raise UserInputError("--samples (test-time verification) is not run per tile; drop it")
    reader = SceneReader.open(args.image, bands=bands)
    tile = args.tile_size or default_tile_size(args.max_pixels)
    if args.tile_size is None:
        print(
            f"NOTE: {reader.width} x {reader.height} px is over the whole-image limit: "
            f"reading it in {tile} px tiles (set --tile-size to choose)",
            file=sys.stderr,
        )
    given = None
    if boxes is not None:
        from georeason.geometry import validate_boxes_xyxy

        try:
            given = validate_boxes_xyxy(boxes, reader.width, reader.height)
        except ValueError as exc:
            raise UserInputError(f"--boxes: {exc}") from None
    segmenter = build_segmenter(args.segmenter, sam_checkpoint=args.sam_checkpoint)
    policy = load_policy_arg(args) if has_policy else None
    result = locate_scene(
        reader,
        args.query,
        segmenter,
        args.out,
        policy=policy,
        boxes_xyxy_px=None if given is None else np.asarray(given, dtype=np.float64),
        tile_size=tile,
        overlap=args.tile_overlap,
        overview=args.overview,
        max_new_tokens=args.max_new_tokens,
        progress=not args.no_progress,
    )
    paths = write_scene_outputs(
        result,
        reader,
        args.query,
        args.out,
        model=getattr(policy, "model_name", None),
        weights=getattr(policy, "weights", None),
        geojson_crs=args.geojson_crs,
        gpkg=args.format == "gpkg",
    )
    if getattr(policy, "weights", None) == "random":
        print(
            "NOTE: the model has RANDOM weights (a test model): its boxes are not a real "
            "prediction.",
            file=sys.stderr,
        )
    print(
        f"{len(result.boxes_xyxy_px)} box(es) from {len(result.tiles)} tile(s) "
        f"({result.resumed_tiles} resumed); wrote {', '.join(str(p) for p in paths.values())}"
    )
    return 0

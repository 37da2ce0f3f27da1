"""``georeason convert m2b|m2c``: masks -> boxes or contours (RemoteReasoner's label building).

RemoteReasoner built its region labels (boxes) and contour labels (polygons) from EarthReason's
masks: M2B is the tight box of the mask (``--boxes whole``, all target pixels together) or one
tight box per 8-connected component (``--boxes components``); M2C is the outer boundary of each
component (OpenCV external contours, holes dropped), see :func:`georeason.masks.mask_to_polygons`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from georeason.errors import UserInputError

MASK_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert masks to boxes (m2b) or contours (m2c), as RemoteReasoner built its labels",
        description="Read mask images (nonzero = target), one file or a folder of them, and "
        "write one JSON object per mask to a JSONL file: {'mask', 'height', 'width', "
        "'boxes_xyxy_px'} for m2b, {'mask', 'height', 'width', 'polygons_px'} for m2c. "
        "Coordinates are original-image pixels, pixel-corner convention.",
    )
    p.add_argument("kind", choices=("m2b", "m2c"), help="m2b: mask -> boxes; m2c: mask -> contours")
    p.add_argument(
        "masks", help="a mask image, or a folder of mask images (e.g. EarthReason test/labels)"
    )
    p.add_argument("--out", required=True, help="output JSONL file")
    p.add_argument(
        "--boxes",
        choices=("whole", "components"),
        default="whole",
        help="m2b: one tight box of the whole mask (default) or one per 8-connected component",
    )
    p.add_argument(
        "--min-area",
        type=int,
        default=1,
        help="drop components / polygons smaller than this many pixels (default 1)",
    )
    p.add_argument(
        "--simplify",
        type=float,
        default=1.0,
        help="m2c: Douglas-Peucker tolerance in pixels (default 1.0; 0 = exact)",
    )
    p.set_defaults(func=run)


def convert_mask(
    mask, kind: str, boxes: str = "whole", min_area: int = 1, simplify: float = 1.0
) -> dict:
    """One output record (without the file name) for a ``(H, W)`` bool mask.

    Returns:
        ``{"height", "width", "boxes_xyxy_px"}`` (m2b) or ``{"height", "width",
        "polygons_px": [[[x, y], ...], ...]}`` (m2c, exterior rings, largest first).
    """
    from georeason.masks import mask_to_box, mask_to_component_boxes, mask_to_polygons

    h, w = mask.shape
    rec: dict = {"height": int(h), "width": int(w)}
    if kind == "m2b":
        if boxes == "components":
            rec["boxes_xyxy_px"] = mask_to_component_boxes(mask, min_area_px=min_area)
        else:
            box = mask_to_box(mask) if mask.sum() >= min_area else None
            rec["boxes_xyxy_px"] = [] if box is None else [box]
    else:
        polys = mask_to_polygons(mask, simplify_tolerance_px=simplify, min_area_px=min_area)
        rec["polygons_px"] = [
            [[round(x, 3), round(y, 3)] for x, y in p.exterior.coords] for p in polys
        ]
    return rec


def run(args: argparse.Namespace) -> int:
    from georeason.eval.datasets import read_mask

    src = Path(args.masks)
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.suffix.lower() in MASK_SUFFIXES)
        if not files:
            raise UserInputError(f"no mask images ({', '.join(MASK_SUFFIXES)}) in {src}")
    elif src.is_file():
        files = [src]
    else:
        raise UserInputError(f"{src}: no such file or folder")
    if args.min_area < 1:
        raise UserInputError(f"--min-area must be >= 1, got {args.min_area}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from georeason.jsonl import write_jsonl

    records = [
        {
            "mask": path.name,
            **convert_mask(read_mask(path), args.kind, args.boxes, args.min_area, args.simplify),
        }
        for path in files
    ]
    write_jsonl(out, records)  # atomic: a killed conversion leaves no truncated file
    print(f"wrote {len(files)} record(s) to {out}")
    return 0

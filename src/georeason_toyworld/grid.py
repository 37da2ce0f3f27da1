"""Token-aligned ("grid") layout of toy scenes: one object per cell of a grid of visual tokens.

Why (ours, measured in ``docs/toyworld/README.md``): in the free layout a from-scratch toy Hand
located plain expressions only ~12 % of the time (Acc@0.5): its targets were 10-50 px against
32 px visual tokens, placed anywhere, so the Hand had to resolve sub-token positions. Here the
scene is cut into ``cells x cells`` squares and every object sits, centred with a small jitter,
inside its own square. With the toy Qwen3-VL (16 px patches, 2 x 2 merge) a 128 px scene and
4 x 4 cells make **one cell = one visual token**, and the object fills 55-95 % of its cell's side,
so locating is "which token holds the object, and how large is it", learnable in CPU minutes.

What stays the same as the free layout: the categories' shapes and colours
(:mod:`georeason_toyworld.scenes`), one instance per category, 3-5 categories per scene, the
land-cover background and sensor look. What changes: no road (a road is a band across the
scene, not a cell object; cars stand on an asphalt square of their cell instead), boats float
on a water square of their cell, and pools need no building nearby.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from georeason.masks import mask_to_box
from georeason_toyworld.scenes import (
    _LAND_RADIUS,
    _LAND_SHAPES,
    CATEGORIES,
    _footprint,
    _Layout,
    _local_to_px,
    _pick_colour,
    _Placed,
    _poly_mask,
    _rect_pts,
)

#: Categories of the grid layout (every category but the road, in :data:`CATEGORIES` order).
GRID_CATEGORIES: tuple[str, ...] = tuple(c for c in CATEGORIES if c != "road")
#: Default cells per side (ours): 4, so a 128 px scene has one 32 px cell per visual token.
DEFAULT_GRID_CELLS = 4
#: Range of an object's box side as a fraction of its cell side (ours).
FILL_RANGE: tuple[float, float] = (0.55, 0.95)
#: Largest shift of an object's centre from its cell centre, as a fraction of the cell (ours).
CENTRE_JITTER = 0.08

_TRIES = 30


def _inside_cell(fp: np.ndarray, cell_box: Sequence[float]) -> bool:
    box = mask_to_box(fp)
    if box is None:
        return False
    x1, y1, x2, y2 = cell_box
    return box[0] >= x1 + 1 and box[1] >= y1 + 1 and box[2] <= x2 - 1 and box[3] <= y2 - 1


def _side_ok(fp: np.ndarray, cell: float) -> bool:
    box = mask_to_box(fp)
    return box is not None and max(box[2] - box[0], box[3] - box[1]) >= FILL_RANGE[0] * cell


def _shape_in_cell(
    rng: np.random.Generator, s: int, category: str, cell_box: Sequence[float], colour: str
) -> _Placed | None:
    x1, y1, x2, y2 = cell_box
    cell = x2 - x1
    for _ in range(_TRIES):
        cx = (x1 + x2) / 2 + rng.uniform(-CENTRE_JITTER, CENTRE_JITTER) * cell
        cy = (y1 + y2) / 2 + rng.uniform(-CENTRE_JITTER, CENTRE_JITTER) * cell
        fill = rng.uniform(*FILL_RANGE)
        if category in _LAND_SHAPES:
            # the shape samplers size objects as fractions of the scene side; a virtual side
            # makes the shape's bounding radius about half the wanted box side
            s_virtual = fill * cell / (2 * _LAND_RADIUS[category]) * 1.25
            pts, u, ang, params = _LAND_SHAPES[category](rng, s_virtual, cx, cy)
            fp = _footprint(s, category, pts, params)
        elif category == "car":
            u = rng.random()
            length = fill * cell
            width = rng.uniform(0.48, 0.55) * length
            ang = (90.0 if rng.random() < 0.5 else 0.0) + float(rng.uniform(-3, 3))
            ang += 180.0 if rng.random() < 0.5 else 0.0
            fp = _poly_mask(s, [_rect_pts(cx, cy, length, width, ang)])
            params = {"cx": cx, "cy": cy, "length": length, "width": width}
        elif category == "boat":
            u = rng.random()
            length = fill * cell
            width = rng.uniform(0.36, 0.45) * length
            ang = float(rng.uniform(0, 360))
            hl, hw = length / 2, width / 2
            local = np.array([[-hl, -hw], [0.3 * hl, -hw], [hl, 0.0], [0.3 * hl, hw], [-hl, hw]])
            fp = _poly_mask(s, [_local_to_px(local, cx, cy, ang)])
            params = {"cx": cx, "cy": cy, "length": length, "width": width}
        else:
            raise ValueError(f"category {category!r} has no grid shape")
        if _inside_cell(fp, cell_box) and _side_ok(fp, cell):
            return _Placed(category, fp, colour, float(u), float(ang), params)
    return None


def grid_layout(
    rng: np.random.Generator,
    s: int,
    required: Sequence[str],
    num_categories: tuple[int, int],
    cells: int = DEFAULT_GRID_CELLS,
) -> tuple[_Layout, np.ndarray] | None:
    """Place one instance per category, each inside its own grid cell.

    Args:
        rng: the scene's generator.
        s: scene side in pixels.
        required: categories that must appear (``"road"`` is refused by the caller).
        num_categories: inclusive range of how many categories to draw.
        cells: cells per side (the scene has ``cells**2`` cells of ``s / cells`` px).

    Returns:
        ``(layout, asphalt)``: the layout (water squares under boats in ``layout.water``) and
        an ``(s, s)`` bool mask of the asphalt squares under cars; None if a required category
        found no shape that fits its cell (the caller retries with the same generator).
    """
    cell = s / cells
    n_cats = int(rng.integers(num_categories[0], num_categories[1] + 1))
    others = [c for c in GRID_CATEGORIES if c not in required]
    rng.shuffle(others)
    cats = list(dict.fromkeys(required)) + others[: max(0, n_cats - len(required))]
    order = rng.permutation(cells * cells)
    lay = _Layout(rng, s)
    asphalt = np.zeros((s, s), bool)
    for k, cat in enumerate(cats):
        r, c = divmod(int(order[k]), cells)
        cell_box = (c * cell, r * cell, (c + 1) * cell, (r + 1) * cell)
        placed = _shape_in_cell(rng, s, cat, cell_box, _pick_colour(rng, cat))
        if placed is None:
            if cat in required:
                return None
            continue
        if cat in ("boat", "car"):
            sq = np.zeros((s, s), bool)
            a = [int(round(v)) for v in cell_box]
            sq[a[1] + 1 : a[3] - 1, a[0] + 1 : a[2] - 1] = True
            if cat == "boat":
                lay.water |= sq
            else:
                asphalt |= sq
        lay.placed.append(placed)
    if len(lay.placed) < 2:
        return None
    return lay, asphalt

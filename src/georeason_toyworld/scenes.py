"""Procedural top-down "aerial" toy scenes: land cover plus meaningful, plausibly placed objects.

A scene is drawn from one integer seed (``numpy.random.default_rng(seed)``; same seed, same bytes).
Every length is a fraction of the image side ``s = size_px`` so that 112 px and 224 px scenes
look alike. Frames: pixels, x right, y down; boxes are ``[x1, y1, x2, y2]`` floats in the
pixel-corner convention of :func:`georeason.masks.mask_to_box` (a box ``[c, r, c+1, r+1]`` is the
single pixel at column ``c``, row ``r``).

Land cover: grass or bare soil, soil/grass patches, and optionally a water body along one edge.
Objects (:data:`CATEGORIES`), each visually distinct by shape and colour family:

=============  ==================================================  ============================
category       look                                                placement rule
=============  ==================================================  ============================
building       rotated rectangle, gable roof (shaded half, ridge)  on land
pool           blue/turquoise rectangle or oval with a white rim   on land, near a building
tree           dark lumpy disc of overlapping circles               on land
road           grey band across the image, dashed centre line      on land (parallel to water)
car            small rectangle with dark windows                    inside the road band
boat           pointed hull with a grey cabin                       inside the water body
sports_field   large green/tan rectangle with white markings        on land
storage_tank   white/silver disc with a darker ring and centre      on land
=============  ==================================================  ============================

By default each category appears at most once, so "the pool" has exactly one referent; other
categories are the distractors, plus small clutter (rocks, bushes far smaller than any tree).
``same_category_distractors=True`` (a harder variant, off by default) adds a second instance of
some categories in a different colour.

This is a synthetic stand-in for remote-sensing imagery (ours, not from a paper): it exists so
that a tiny policy can learn localisation from text on 2 CPU cores in minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from georeason.masks import mask_to_box

#: Object categories, in a fixed order (indices are stable; never reorder).
CATEGORIES: tuple[str, ...] = (
    "building",
    "pool",
    "tree",
    "road",
    "car",
    "boat",
    "sports_field",
    "storage_tank",
)

#: Colour families per category, RGB uint8 (ours: chosen so that categories stay separable by
#: colour and shape; a colour word may repeat across categories only where shape and context
#: differ, e.g. a white car on a road vs a white boat on water).
PALETTES: dict[str, dict[str, tuple[int, int, int]]] = {
    "building": {"red": (172, 58, 46), "brown": (92, 54, 34), "orange": (216, 126, 50)},
    "pool": {"blue": (38, 118, 236), "turquoise": (60, 206, 216)},
    "tree": {"dark green": (26, 68, 30), "olive": (60, 62, 10)},
    "road": {"grey": (130, 130, 130), "dark grey": (74, 74, 80)},
    "car": {"yellow": (234, 202, 36), "purple": (130, 58, 162), "white": (240, 240, 240)},
    "boat": {"white": (242, 242, 236), "red": (206, 38, 38)},
    "sports_field": {"bright green": (72, 184, 76), "tan": (210, 180, 128)},
    "storage_tank": {"white": (228, 228, 224), "silver": (168, 174, 182)},
}

#: Land-cover classes of :attr:`Scene.landcover` and their RGB colours (ours).
LANDCOVER_CODES: dict[str, int] = {"grass": 0, "soil": 1, "water": 2}
LANDCOVER_RGB: dict[str, tuple[int, int, int]] = {
    "grass": (86, 128, 58),
    "soil": (142, 110, 76),
    "water": (32, 72, 104),
}

#: Categories that need another element of the scene (car -> road, pool -> building).
DEPENDS_ON: dict[str, str] = {"car": "road", "pool": "building"}

#: Largest gap between a pool and its building, as a fraction of the image side (ours: "near"
#: means within a tenth of the scene, i.e. the same garden).
POOL_MAX_GAP_FRAC = 0.10
#: Smallest gap between a pool and its building (ours: a visible strip of garden between them).
POOL_MIN_GAP_FRAC = 0.03
#: Free margin kept around every object (ours: objects never touch, so boxes stay separable).
OBJECT_MARGIN_FRAC = 0.02
#: Smallest long side of an object's box, as a fraction of the image side (ours: targets of at
#: least ~15% of the side keep Acc@0.5 attainable for a model with 28-32 px vision tokens).
MIN_OBJECT_SIDE_FRAC = 0.15
#: Default number of object categories per scene (before dependencies are added), ours.
DEFAULT_NUM_CATEGORIES: tuple[int, int] = (3, 5)

_PLACEMENT_TRIES = 60
_LAYOUT_ATTEMPTS = 40
_SUBPIXEL_SHIFT = 4  # cv2 fixed-point drawing: coordinates * 16


@dataclass(frozen=True)
class ToyObject:
    """One object instance of a scene.

    Attributes:
        category: one of :data:`CATEGORIES`.
        bbox_xyxy_px: tight box of the object's *visible* pixels, ``(x1, y1, x2, y2)`` floats in
            original pixels, pixel-corner convention (equals ``mask_to_box`` of its mask).
        colour_name: key of :data:`PALETTES` ``[category]``, e.g. ``"blue"``.
        rgb: the jittered base colour actually painted, ``(r, g, b)`` ints 0..255.
        size_name: ``"small"`` or ``"large"`` relative to the category's own size range.
        position_name: 3x3 grid cell of the box centre: ``"top left"``, ``"top"``, ...,
            ``"centre"``, ..., ``"bottom right"``.
        angle_deg: rotation of the shape in degrees (0 for discs and axis-aligned shapes).
        instance_id: the value of this object in :attr:`Scene.instance_map` (index + 1).
    """

    category: str
    bbox_xyxy_px: tuple[float, float, float, float]
    colour_name: str
    rgb: tuple[int, int, int]
    size_name: str
    position_name: str
    angle_deg: float
    instance_id: int


@dataclass
class Scene:
    """A rendered toy scene.

    Attributes:
        seed: the generator seed.
        size_px: image side ``s`` (the image is ``s x s``).
        image: ``(s, s, 3)`` uint8 RGB.
        objects: the object instances, in drawing order.
        instance_map: ``(s, s)`` int16; 0 = no object, ``k`` = visible pixels of ``objects[k-1]``.
        landcover: ``(s, s)`` uint8 codes of :data:`LANDCOVER_CODES` (under the objects too).
        water_side: edge the water body touches (``"top"``, ``"bottom"``, ``"left"``,
            ``"right"``), or None without water.
    """

    seed: int
    size_px: int
    image: np.ndarray
    objects: list[ToyObject]
    instance_map: np.ndarray
    landcover: np.ndarray
    water_side: str | None = None

    def mask(self, index: int) -> np.ndarray:
        """``(s, s)`` bool mask of the visible pixels of ``objects[index]``."""
        return self.instance_map == self.objects[index].instance_id

    def category_mask(self, category: str) -> np.ndarray:
        """``(s, s)`` bool union of the visible pixels of every instance of ``category``."""
        ids = [o.instance_id for o in self.objects if o.category == category]
        return np.isin(self.instance_map, ids)

    def indices_of(self, category: str) -> list[int]:
        """Indices into :attr:`objects` of the instances of ``category``."""
        return [i for i, o in enumerate(self.objects) if o.category == category]


@dataclass
class _Placed:
    """An object during layout: its full footprint (before occlusion) and paint parameters."""

    category: str
    footprint: np.ndarray  # (s, s) bool
    colour_name: str
    size_u: float  # 0..1 position in the category's size range
    angle_deg: float
    params: dict


# --------------------------------------------------------------------------------------------
# small drawing helpers (OpenCV rasterisation, fixed-point sub-pixel coordinates)
# --------------------------------------------------------------------------------------------


def _fix(pts: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(pts, np.float64) * (1 << _SUBPIXEL_SHIFT)).astype(np.int32)


def _poly_mask(s: int, polys: Sequence[np.ndarray]) -> np.ndarray:
    m = np.zeros((s, s), np.uint8)
    cv2.fillPoly(m, [_fix(p).reshape(-1, 1, 2) for p in polys], 1, cv2.LINE_8, _SUBPIXEL_SHIFT)
    return m.astype(bool)


def _disc_mask(
    s: int, centres: Sequence[tuple[float, float]], radii: Sequence[float]
) -> np.ndarray:
    m = np.zeros((s, s), np.uint8)
    for (cx, cy), r in zip(centres, radii, strict=True):
        centre = (int(round(cx * 16)), int(round(cy * 16)))
        cv2.circle(m, centre, int(round(r * 16)), 1, -1, cv2.LINE_8, _SUBPIXEL_SHIFT)
    return m.astype(bool)


def _rect_pts(cx: float, cy: float, w: float, h: float, angle_deg: float) -> np.ndarray:
    """Corners ``(4, 2)`` of a ``w x h`` rectangle centred at ``(cx, cy)`` rotated by angle."""
    return cv2.boxPoints(((cx, cy), (w, h), angle_deg)).astype(np.float64)


def _local_to_px(pts: np.ndarray, cx: float, cy: float, angle_deg: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return pts @ rot.T + np.array([cx, cy])


def _lowfreq(rng: np.random.Generator, s: int, cells: int) -> np.ndarray:
    """``(s, s)`` float32 smooth noise, roughly N(0, 1), from a ``cells x cells`` grid."""
    grid = rng.standard_normal((cells, cells)).astype(np.float32)
    return cv2.resize(grid, (s, s), interpolation=cv2.INTER_CUBIC)


def _jitter(rng: np.random.Generator, rgb: tuple[int, int, int], amp: int = 12) -> np.ndarray:
    """Base colour plus a brightness shift of +-``amp`` and a hue wobble of +-``amp/3`` per
    channel (ours: greys stay grey, so colour families stay apart), float32 ``(3,)``."""
    shift = rng.uniform(-amp, amp) + rng.uniform(-amp / 3, amp / 3, 3)
    return np.clip(np.asarray(rgb, np.float32) + shift, 0, 255).astype(np.float32)


def _inside(pts: np.ndarray, s: int, margin: float = 1.0) -> bool:
    return bool(pts.min() >= margin and pts.max() <= s - margin)


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    if r <= 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    if r <= 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.erode(mask.astype(np.uint8), k, borderType=cv2.BORDER_REPLICATE).astype(bool)


# --------------------------------------------------------------------------------------------
# shapes: sample a footprint for one object at a given centre
# --------------------------------------------------------------------------------------------


def _shape_building(
    rng: np.random.Generator, s: int, cx: float, cy: float
) -> tuple[np.ndarray | None, float, float, dict]:
    u = rng.random()
    w = (0.20 + 0.10 * u) * s
    h = rng.uniform(0.62, 0.85) * w
    ang = float(rng.uniform(-15, 15))
    pts = _rect_pts(cx, cy, w, h, ang)
    return pts, u, ang, {"w": w, "h": h, "cx": cx, "cy": cy}


def _shape_pool(
    rng: np.random.Generator, s: int, cx: float, cy: float
) -> tuple[np.ndarray | None, float, float, dict]:
    u = rng.random()
    long_ = (0.16 + 0.06 * u) * s
    short = rng.uniform(0.62, 0.8) * long_
    w, h = (long_, short) if rng.random() < 0.5 else (short, long_)
    oval = bool(rng.random() < 0.35)
    if oval:
        t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        pts = np.stack([cx + w / 2 * np.cos(t), cy + h / 2 * np.sin(t)], 1)
    else:
        pts = _rect_pts(cx, cy, w, h, 0.0)
    return pts, u, 0.0, {"w": w, "h": h, "oval": oval}


def _shape_field(
    rng: np.random.Generator, s: int, cx: float, cy: float
) -> tuple[np.ndarray | None, float, float, dict]:
    u = rng.random()
    w = (0.36 + 0.10 * u) * s
    h = rng.uniform(0.58, 0.68) * w
    if rng.random() < 0.5:
        w, h = h, w
    ang = float(rng.uniform(-10, 10))
    return _rect_pts(cx, cy, w, h, ang), u, ang, {"w": w, "h": h, "cx": cx, "cy": cy}


def _disc_pts(cx: float, cy: float, r: float, n: int = 32) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)


def _shape_tank(
    rng: np.random.Generator, s: int, cx: float, cy: float
) -> tuple[np.ndarray | None, float, float, dict]:
    u = rng.random()
    r = (0.08 + 0.03 * u) * s
    return _disc_pts(cx, cy, r), u, 0.0, {"r": r, "cx": cx, "cy": cy}


def _shape_tree(
    rng: np.random.Generator, s: int, cx: float, cy: float
) -> tuple[np.ndarray | None, float, float, dict]:
    u = rng.random()
    r = (0.085 + 0.03 * u) * s
    n = int(rng.integers(3, 6))
    phase = rng.uniform(0, 2 * np.pi)
    lobes = [(cx, cy, 0.72 * r)]
    for k in range(n):
        a = phase + 2 * np.pi * k / n
        lr = rng.uniform(0.45, 0.55) * r
        d = r - lr
        lobes.append((cx + d * np.cos(a), cy + d * np.sin(a), lr))
    return None, u, 0.0, {"lobes": lobes, "r": r}


_LAND_SHAPES = {
    "building": _shape_building,
    "pool": _shape_pool,
    "sports_field": _shape_field,
    "storage_tank": _shape_tank,
    "tree": _shape_tree,
}
# bounding radius of each land shape, as a fraction of s (for sampling centres inside the image)
_LAND_RADIUS = {
    "building": 0.19,
    "pool": 0.12,
    "sports_field": 0.28,
    "storage_tank": 0.115,
    "tree": 0.115,
}
# smallest inscribed radius of each land shape, as a fraction of s (a centre with less free
# clearance around it can never fit, so it is not tried)
_LAND_CLEARANCE = {
    "building": 0.06,
    "pool": 0.045,
    "sports_field": 0.1,
    "storage_tank": 0.078,
    "tree": 0.055,
}


def _footprint(s: int, category: str, pts: np.ndarray | None, params: dict) -> np.ndarray:
    if category == "tree":
        lobes = params["lobes"]
        return _disc_mask(s, [(x, y) for x, y, _ in lobes], [r for _, _, r in lobes])
    return _poly_mask(s, [pts])


def _extent_ok(category: str, pts: np.ndarray | None, params: dict, s: int) -> bool:
    if category == "tree":
        return all(
            x - r >= 1 and y - r >= 1 and x + r <= s - 1 and y + r <= s - 1
            for x, y, r in params["lobes"]
        )
    return _inside(pts, s)


# --------------------------------------------------------------------------------------------
# layout
# --------------------------------------------------------------------------------------------


class _Layout:
    """Mutable layout state of one attempt: land cover, blocked pixels, placed objects."""

    def __init__(self, rng: np.random.Generator, s: int):
        self.rng, self.s = rng, s
        self.margin = max(1, int(round(OBJECT_MARGIN_FRAC * s)))
        self.water = np.zeros((s, s), bool)
        self.water_side: str | None = None
        self.water_depth = 0.0
        self.road: _Placed | None = None
        self.road_axis: str | None = None  # "h" or "v"
        self.road_span = (0.0, 0.0)  # (start, end) across the road axis, pixels
        self.placed: list[_Placed] = []
        self.blocked = np.zeros((s, s), bool)  # land objects may not use these pixels

    # -- land cover ----------------------------------------------------------------------------
    def add_water(self) -> None:
        rng, s = self.rng, self.s
        side = ["top", "bottom", "left", "right"][int(rng.integers(4))]
        depth = rng.uniform(0.32, 0.40) * s
        amp = rng.uniform(0.015, 0.04) * s
        t = np.linspace(0, 1, 13)
        d = depth + amp * np.sin(2 * np.pi * rng.uniform(0.6, 1.6) * t + rng.uniform(0, 6.3))
        d = d + rng.uniform(-0.01, 0.01, t.shape) * s
        top = np.concatenate(
            [np.stack([t * s, d], 1), [[s + 1, d[-1]], [s + 1, -1], [-1, -1], [-1, d[0]]]]
        )
        x, y = top[:, 0], top[:, 1]
        pts = {"top": (x, y), "bottom": (x, s - y), "left": (y, x), "right": (s - y, x)}[side]
        self.water = _poly_mask(s, [np.stack(pts, 1)])
        self.water_side, self.water_depth = side, float(d.max())
        self.blocked |= _dilate(self.water, self.margin)

    def add_road(self) -> bool:
        rng, s = self.rng, self.s
        u = rng.random()
        width = (0.20 + 0.05 * u) * s
        if self.water_side is None:
            axis = "h" if rng.random() < 0.5 else "v"
            lo, hi = 0.08 * s, s - 0.08 * s - width
        else:
            axis = "h" if self.water_side in ("top", "bottom") else "v"
            gap = self.water_depth + 0.04 * s
            if self.water_side in ("top", "left"):
                lo, hi = gap, s - 0.04 * s - width
            else:
                lo, hi = 0.04 * s, s - gap - width
        if hi < lo:
            return False
        start = float(rng.uniform(lo, hi))
        a, b = int(round(start)), int(round(start + width))
        fp = np.zeros((s, s), bool)
        if axis == "h":
            fp[a:b, :] = True
        else:
            fp[:, a:b] = True
        colour = _pick_colour(rng, "road")
        self.road = _Placed(
            "road", fp, colour, u, 0.0 if axis == "h" else 90.0, {"axis": axis, "a": a, "b": b}
        )
        self.road_axis, self.road_span = axis, (a, b)
        self.placed.append(self.road)
        self.blocked |= _dilate(fp, self.margin)
        return True

    # -- objects -------------------------------------------------------------------------------
    def _big_enough(self, footprint: np.ndarray) -> bool:
        """True if the footprint's box has a long side >= MIN_OBJECT_SIDE_FRAC of the image."""
        box = mask_to_box(footprint)
        return box is not None and max(box[2] - box[0], box[3] - box[1]) >= (
            MIN_OBJECT_SIDE_FRAC * self.s
        )

    def _commit(self, obj: _Placed) -> None:
        self.placed.append(obj)
        self.blocked |= _dilate(obj.footprint, self.margin)

    def place_land(self, category: str, colour: str) -> bool:
        rng, s = self.rng, self.s
        rad = _LAND_RADIUS[category] * s
        # candidate centres: free pixels with enough clearance for the smallest such shape
        clear = cv2.distanceTransform((~self.blocked).astype(np.uint8), cv2.DIST_L2, 3)
        lo = int(rad * 0.7)
        ys, xs = np.nonzero(clear[lo : s - lo, lo : s - lo] >= _LAND_CLEARANCE[category] * s)
        if len(xs) == 0:
            return False
        for _ in range(_PLACEMENT_TRIES):
            k = int(rng.integers(len(xs)))
            cx, cy = lo + xs[k] + rng.random(), lo + ys[k] + rng.random()
            pts, u, ang, params = _LAND_SHAPES[category](rng, s, cx, cy)
            if not _extent_ok(category, pts, params, s):
                continue
            fp = _footprint(s, category, pts, params)
            if (fp & self.blocked).any() or not self._big_enough(fp):
                continue
            params.update(cx=cx, cy=cy)
            self._commit(_Placed(category, fp, colour, u, ang, params))
            return True
        return False

    def place_pool(self, colour: str, building: _Placed) -> bool:
        rng, s = self.rng, self.s
        bx1, by1, bx2, by2 = mask_to_box(building.footprint)
        dist = cv2.distanceTransform((~building.footprint).astype(np.uint8), cv2.DIST_L2, 3)
        for _ in range(_PLACEMENT_TRIES):
            pts, u, ang, params = _shape_pool(rng, s, 0.0, 0.0)
            w, h = params["w"], params["h"]
            gap = rng.uniform(POOL_MIN_GAP_FRAC, 0.06) * s
            side = int(rng.integers(4))
            if side == 0:  # right of the building
                cx, cy = bx2 + gap + w / 2, rng.uniform(by1, by2)
            elif side == 1:  # left
                cx, cy = bx1 - gap - w / 2, rng.uniform(by1, by2)
            elif side == 2:  # below
                cx, cy = rng.uniform(bx1, bx2), by2 + gap + h / 2
            else:  # above
                cx, cy = rng.uniform(bx1, bx2), by1 - gap - h / 2
            pts = pts + np.array([cx, cy])
            if not _inside(pts, s):
                continue
            fp = _poly_mask(s, [pts])
            if (fp & self.blocked).any() or not self._big_enough(fp):
                continue
            d = float(dist[fp].min())
            if not (POOL_MIN_GAP_FRAC * s <= d <= POOL_MAX_GAP_FRAC * s):
                continue
            params.update(cx=cx, cy=cy, pts=pts)
            self._commit(_Placed("pool", fp, colour, u, 0.0, params))
            return True
        return False

    def place_car(self, colour: str) -> bool:
        if self.road is None:
            return False
        rng, s = self.rng, self.s
        a, b = self.road_span
        inner = _erode(self.road.footprint, max(1, self.margin))
        taken = np.zeros((s, s), bool)
        for o in self.placed:
            if o.category == "car":
                taken |= _dilate(o.footprint, self.margin)
        for _ in range(_PLACEMENT_TRIES):
            u = rng.random()
            length = (0.16 + 0.04 * u) * s
            width = rng.uniform(0.48, 0.55) * length
            along = rng.uniform(length / 2 + 2, s - length / 2 - 2)
            across = (
                rng.uniform(a + width / 2 + 1, b - width / 2 - 1)
                if b - a > width + 2
                else ((a + b) / 2)
            )
            jitter = float(rng.uniform(-3, 3))
            flip = 180.0 if rng.random() < 0.5 else 0.0  # driving direction
            if self.road_axis == "h":
                cx, cy, ang = along, across, jitter + flip
            else:
                cx, cy, ang = across, along, 90.0 + jitter + flip
            pts = _rect_pts(cx, cy, length, width, ang)
            fp = _poly_mask(s, [pts])
            if (fp & ~inner).any() or (fp & taken).any() or not self._big_enough(fp):
                continue
            params = {"cx": cx, "cy": cy, "length": length, "width": width}
            self.placed.append(_Placed("car", fp, colour, u, ang, params))
            return True
        return False

    def place_boat(self, colour: str) -> bool:
        if self.water_side is None:
            return False
        rng, s = self.rng, self.s
        inner = _erode(self.water, max(2, self.margin))
        taken = np.zeros((s, s), bool)
        for o in self.placed:
            if o.category == "boat":
                taken |= _dilate(o.footprint, self.margin)
        ys, xs = np.nonzero(inner & ~taken)
        if len(xs) == 0:
            return False
        for _ in range(_PLACEMENT_TRIES):
            k = int(rng.integers(len(xs)))
            cx, cy = float(xs[k]) + 0.5, float(ys[k]) + 0.5
            u = rng.random()
            length = (0.17 + 0.06 * u) * s
            width = rng.uniform(0.36, 0.45) * length
            ang = float(rng.uniform(0, 360))
            half_l, half_w = length / 2, width / 2
            local = np.array(
                [
                    [-half_l, -half_w],
                    [0.3 * half_l, -half_w],
                    [half_l, 0.0],
                    [0.3 * half_l, half_w],
                    [-half_l, half_w],
                ]
            )
            pts = _local_to_px(local, cx, cy, ang)
            if not _inside(pts, s):
                continue
            fp = _poly_mask(s, [pts])
            if (fp & ~inner).any() or (fp & taken).any() or not self._big_enough(fp):
                continue
            params = {"cx": cx, "cy": cy, "length": length, "width": width}
            self.placed.append(_Placed("boat", fp, colour, u, ang, params))
            return True
        return False

    def place(self, category: str, colour: str) -> bool:
        """Place one instance; False if no valid spot was found (the caller decides)."""
        if category == "road":
            return self.road is not None or self.add_road()
        if category == "car":
            return self.place_car(colour)
        if category == "boat":
            return self.place_boat(colour)
        if category == "pool":
            buildings = [o for o in self.placed if o.category == "building"]
            if not buildings:
                return False
            return self.place_pool(colour, buildings[int(self.rng.integers(len(buildings)))])
        return self.place_land(category, colour)


def _pick_colour(rng: np.random.Generator, category: str, exclude: Sequence[str] = ()) -> str:
    names = [c for c in PALETTES[category] if c not in exclude]
    return names[int(rng.integers(len(names)))]


def _with_dependencies(cats: Sequence[str]) -> list[str]:
    out: list[str] = []
    for c in cats:
        dep = DEPENDS_ON.get(c)
        if dep and dep not in out:
            out.append(dep)
        if c not in out:
            out.append(c)
    return out


# placement order: the road first (it fixes the land left over), big shapes before small ones
_ORDER = ("road", "sports_field", "building", "pool", "storage_tank", "tree", "car", "boat")


def _layout(
    rng: np.random.Generator,
    s: int,
    required: Sequence[str],
    num_categories: tuple[int, int],
    same_category_distractors: bool,
) -> _Layout | None:
    n_cats = int(rng.integers(num_categories[0], num_categories[1] + 1))
    others = [c for c in CATEGORIES if c not in required]
    rng.shuffle(others)
    optional = others[: max(0, n_cats - len(required))]
    need = _with_dependencies(required)
    want = [c for c in _with_dependencies(optional) if c not in need]
    lay = _Layout(rng, s)
    if "boat" in need or ("boat" in want) or rng.random() < 0.25:
        lay.add_water()
    # land cover first: the water body, then the road (it fixes the land left for the rest)
    has_road = ("road" in need or "road" in want) and lay.add_road()
    if "road" in need and not has_road:
        return None
    for group, strict in ((need, True), (want, False)):
        for cat in sorted(group, key=_ORDER.index):
            if cat == "road":
                continue
            if cat == "boat" and lay.water_side is None:
                ok = False
            else:
                ok = lay.place(cat, _pick_colour(rng, cat))
            if not ok and strict:
                return None
    if len({o.category for o in lay.placed}) < min(2, num_categories[0]):
        return None  # the target would stand alone: no distractor to tell it from
    if same_category_distractors:
        for cat in sorted({o.category for o in lay.placed} - {"road"}, key=_ORDER.index):
            if rng.random() < 0.5:
                used = [o.colour_name for o in lay.placed if o.category == cat]
                lay.place(cat, _pick_colour(rng, cat, exclude=used))
    return lay


# --------------------------------------------------------------------------------------------
# painting
# --------------------------------------------------------------------------------------------


def _paint_background(
    rng: np.random.Generator, s: int, lay: _Layout
) -> tuple[np.ndarray, np.ndarray]:
    landcover = np.zeros((s, s), np.uint8)
    base, patch = ("soil", "grass") if rng.random() < 0.3 else ("grass", "soil")
    landcover[:] = LANDCOVER_CODES[base]
    m = np.zeros((s, s), np.uint8)
    for _ in range(int(rng.integers(0, 3))):
        centre = tuple(int(v) for v in rng.uniform(0, s, 2))
        axes = tuple(int(v) for v in rng.uniform(0.08, 0.25, 2) * s)
        cv2.ellipse(m, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    landcover[m.astype(bool)] = LANDCOVER_CODES[patch]
    landcover[lay.water] = LANDCOVER_CODES["water"]
    canvas = np.empty((s, s, 3), np.float32)
    tex = _lowfreq(rng, s, 6)
    for name, code in LANDCOVER_CODES.items():
        sel = landcover == code
        if sel.any():
            canvas[sel] = _jitter(rng, LANDCOVER_RGB[name], 8)
    canvas *= (1.0 + 0.05 * tex)[..., None]
    return canvas, landcover


def _paint_clutter(rng: np.random.Generator, s: int, canvas: np.ndarray, lay: _Layout) -> None:
    """Rocks and bushes far smaller than any object, away from objects and off water."""
    forbidden = lay.water.copy()
    for o in lay.placed:
        forbidden |= _dilate(o.footprint, 2 * lay.margin + 1)
    for _ in range(int(rng.integers(0, 7))):
        cx, cy = rng.uniform(0, s, 2)
        if rng.random() < 0.5:  # bush: dark green dot, diameter <= 0.06 s (trees >= 0.16 s)
            r = rng.uniform(0.015, 0.03) * s
            colour = _jitter(rng, (40, 80, 36), 10)
            fp = _disc_mask(s, [(cx, cy)], [r])
        else:  # rock: small grey-brown ellipse
            m = np.zeros((s, s), np.uint8)
            axes = tuple(max(1, int(v)) for v in rng.uniform(0.008, 0.025, 2) * s)
            cv2.ellipse(m, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            fp = m.astype(bool)
            colour = _jitter(rng, (150, 140, 128), 15)
        if (fp & forbidden).any():
            continue
        canvas[fp] = colour


def _paint_object(
    rng: np.random.Generator, s: int, canvas: np.ndarray, o: _Placed, speckle: np.ndarray
) -> tuple[int, int, int]:
    """Paint ``o`` inside its footprint; returns the jittered base colour (ints)."""
    fp, p = o.footprint, o.params
    base = _jitter(rng, PALETTES[o.category][o.colour_name])
    canvas[fp] = base
    if o.category == "building":  # gable roof: one half shaded, dark ridge along the long side
        w, h, cx, cy = p["w"], p["h"], p["cx"], p["cy"]
        long_is_w = w >= h
        # the half on one side of the ridge: shrink the short side to half, shift by a quarter
        a = np.deg2rad(o.angle_deg)
        u_w = np.array([np.cos(a), np.sin(a)])  # direction of the w side
        u_h = np.array([-np.sin(a), np.cos(a)])  # direction of the h side
        normal = u_h if long_is_w else u_w
        short = h if long_is_w else w
        off = normal * short / 4
        half = _rect_pts(
            cx + off[0],
            cy + off[1],
            w if long_is_w else w / 2,
            h / 2 if long_is_w else h,
            o.angle_deg,
        )
        canvas[_poly_mask(s, [half]) & fp] = base * 0.8
        ridge = np.zeros((s, s), np.uint8)
        axis = u_w if long_is_w else u_h
        length = w if long_is_w else h
        p1 = np.array([cx, cy]) - axis * length / 2
        p2 = np.array([cx, cy]) + axis * length / 2
        cv2.line(ridge, tuple(_fix(p1)), tuple(_fix(p2)), 1, 1, cv2.LINE_8, _SUBPIXEL_SHIFT)
        canvas[ridge.astype(bool) & fp] = base * 0.55
    elif o.category == "pool":  # white rim around the water
        rim = max(1, int(round(0.015 * s)))
        canvas[fp] = _jitter(rng, (226, 226, 216), 6)
        canvas[_erode(fp, rim)] = base
    elif o.category == "tree":  # darker edge and leafy speckle
        canvas[fp & ~_erode(fp, 1)] = base * 0.7
        canvas[fp] *= (1.0 + 0.18 * speckle[fp])[:, None]
    elif o.category == "road":  # dashed centre line
        a, b = p["a"], p["b"]
        mid = (a + b) // 2
        dash, gap = max(2, int(0.06 * s)), max(2, int(0.05 * s))
        lw = max(1, int(round(0.012 * s)))
        line = np.zeros(s, bool)
        start = int(rng.integers(0, dash + gap))
        for x0 in range(start - dash - gap, s, dash + gap):
            line[max(0, x0) : max(0, x0 + dash)] = True
        stripe = np.zeros((s, s), bool)
        if p["axis"] == "h":
            stripe[mid - lw // 2 : mid - lw // 2 + lw, :] = line[None, :]
        else:
            stripe[:, mid - lw // 2 : mid - lw // 2 + lw] = line[:, None]
        canvas[stripe & fp] = _jitter(rng, (236, 236, 230), 6)
    elif o.category == "car":  # dark windscreen and rear window
        length, width, cx, cy = p["length"], p["width"], p["cx"], p["cy"]
        for pos, frac in ((0.22, 0.16), (-0.3, 0.12)):
            local = np.array([[pos * length, 0.0]])
            c = _local_to_px(local, cx, cy, o.angle_deg)[0]
            win = _rect_pts(c[0], c[1], frac * length, 0.8 * width, o.angle_deg)
            canvas[_poly_mask(s, [win]) & fp] = (38, 40, 52)
    elif o.category == "boat":  # grey cabin on the rear half
        length, width, cx, cy = p["length"], p["width"], p["cx"], p["cy"]
        c = _local_to_px(np.array([[-0.12 * length, 0.0]]), cx, cy, o.angle_deg)[0]
        cabin = _rect_pts(c[0], c[1], 0.35 * length, 0.55 * width, o.angle_deg)
        canvas[_poly_mask(s, [cabin]) & fp] = _jitter(rng, (150, 152, 162), 8)
    elif o.category == "sports_field":  # white boundary, half-way line, centre circle
        w, h, cx, cy = p["w"], p["h"], p["cx"], p["cy"]
        lines = np.zeros((s, s), np.uint8)
        inset = max(2.0, 0.02 * s)
        outer = _rect_pts(cx, cy, w - 2 * inset, h - 2 * inset, o.angle_deg)
        cv2.polylines(
            lines, [_fix(outer).reshape(-1, 1, 2)], True, 1, 1, cv2.LINE_8, _SUBPIXEL_SHIFT
        )
        a = np.deg2rad(o.angle_deg)
        along = np.array([np.cos(a), np.sin(a)]) if w >= h else np.array([-np.sin(a), np.cos(a)])
        across = np.array([-along[1], along[0]])
        span = (min(w, h) - 2 * inset) / 2
        c = np.array([cx, cy])
        cv2.line(
            lines,
            tuple(_fix(c - across * span)),
            tuple(_fix(c + across * span)),
            1,
            1,
            cv2.LINE_8,
            _SUBPIXEL_SHIFT,
        )
        cv2.circle(
            lines, tuple(_fix(c)), int(round(0.3 * span * 16)), 1, 1, cv2.LINE_8, _SUBPIXEL_SHIFT
        )
        canvas[lines.astype(bool) & fp] = _jitter(rng, (240, 240, 236), 6)
    elif o.category == "storage_tank":  # darker roof ring and centre vent
        r, cx, cy = p["r"], p["cx"], p["cy"]
        ring = np.zeros((s, s), np.uint8)
        cv2.circle(
            ring,
            (int(round(cx * 16)), int(round(cy * 16))),
            int(round(0.62 * r * 16)),
            1,
            1,
            cv2.LINE_8,
            _SUBPIXEL_SHIFT,
        )
        canvas[ring.astype(bool) & fp] = base * 0.72
        canvas[_disc_mask(s, [(cx, cy)], [max(1.0, 0.15 * r)]) & fp] = base * 0.6
    return tuple(int(v) for v in np.round(base))


def _position_name(box: Sequence[float], s: int) -> str:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    row = "top" if cy < s / 3 else ("bottom" if cy > 2 * s / 3 else "")
    col = "left" if cx < s / 3 else ("right" if cx > 2 * s / 3 else "")
    return " ".join(x for x in (row, col) if x) or "centre"


def generate_scene(
    seed: int,
    size_px: int = 112,
    *,
    required: Sequence[str] = (),
    num_categories: tuple[int, int] = DEFAULT_NUM_CATEGORIES,
    same_category_distractors: bool = False,
    clutter: bool = True,
    layout: str = "free",
    grid_cells: int = 4,
) -> Scene:
    """Draw one scene, deterministically from ``seed``.

    Args:
        seed: non-negative integer; ``numpy.random.default_rng(seed)`` drives every choice.
        size_px: image side in pixels (``>= 64``); the image is ``size_px x size_px``.
        required: categories that must appear (their dependencies are added: a car brings a
            road, a pool a building, a boat a water body).
        num_categories: inclusive range of how many categories to aim for, before
            dependencies (ours: 3-5 keeps 112 px scenes uncluttered). Optional ones that do not
            fit are dropped.
        same_category_distractors: harder variant (off by default): some categories get a
            second instance in another colour of the same palette.
        clutter: draw rocks and bushes (not objects) on free land.
        layout: ``"free"`` (objects placed anywhere by the rules above) or ``"grid"`` (one
            object per cell of a ``grid_cells x grid_cells`` grid, no road, see
            :mod:`georeason_toyworld.grid`; ``same_category_distractors`` is not available).
        grid_cells: cells per side of the grid layout.

    Returns:
        A :class:`Scene`; each object's box is the tight box of its visible pixels.

    Raises:
        ValueError: for an unknown category in ``required``, a negative seed, ``size_px < 64``,
            or a bad ``num_categories``.
        RuntimeError: if no layout with all ``required`` categories fits (not observed for the
            defaults; it would mean the size fractions above are inconsistent).
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if size_px < 64:
        raise ValueError(f"size_px must be at least 64, got {size_px}")
    unknown = [c for c in required if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown categories {unknown}; choose from {list(CATEGORIES)}")
    lo, hi = num_categories
    if not (1 <= lo <= hi <= len(CATEGORIES)):
        raise ValueError(f"num_categories must satisfy 1 <= lo <= hi <= 8, got {num_categories}")
    if layout not in ("free", "grid"):
        raise ValueError(f"layout must be 'free' or 'grid', got {layout!r}")
    if layout == "grid" and ("road" in required or same_category_distractors):
        raise ValueError("the grid layout has no road and no same-category distractors")
    rng = np.random.default_rng(seed)
    s = int(size_px)
    lay = None
    asphalt = None
    for _ in range(_LAYOUT_ATTEMPTS):
        if layout == "grid":
            from georeason_toyworld.grid import grid_layout

            got = grid_layout(rng, s, list(dict.fromkeys(required)), num_categories, grid_cells)
            lay, asphalt = got if got is not None else (None, None)
        else:
            lay = _layout(
                rng, s, list(dict.fromkeys(required)), num_categories, same_category_distractors
            )
        if lay is not None:
            break
    if lay is None:
        raise RuntimeError(f"no layout with {list(required)} fits a {s} px scene (seed {seed})")

    canvas, landcover = _paint_background(rng, s, lay)
    if asphalt is not None and asphalt.any():
        canvas[asphalt] = _jitter(rng, PALETTES["road"]["dark grey"], 8)
    if clutter:
        _paint_clutter(rng, s, canvas, lay)
    speckle = _lowfreq(rng, s, max(4, s // 4))
    instance_map = np.zeros((s, s), np.int16)
    painted = []
    for k, o in enumerate(lay.placed, 1):
        painted.append(_paint_object(rng, s, canvas, o, speckle))
        instance_map[o.footprint] = k

    # sensor look (ours): mild vignetting-like shading, blur and noise; categories stay separable
    canvas *= (1.0 + 0.03 * _lowfreq(rng, s, 3))[..., None]
    canvas = cv2.GaussianBlur(canvas, (3, 3), 0.5)
    canvas += rng.normal(0.0, 3.0, canvas.shape).astype(np.float32)
    image = np.clip(np.round(canvas), 0, 255).astype(np.uint8)

    objects = []
    for k, (o, rgb) in enumerate(zip(lay.placed, painted, strict=True), 1):
        box = mask_to_box(instance_map == k)
        if box is None:  # fully occluded: cannot happen (objects never overlap), guard anyway
            raise RuntimeError(f"object {k} ({o.category}) has no visible pixels (seed {seed})")
        objects.append(
            ToyObject(
                category=o.category,
                bbox_xyxy_px=tuple(box),
                colour_name=o.colour_name,
                rgb=rgb,
                size_name="large" if o.size_u >= 0.5 else "small",
                position_name=_position_name(box, s),
                angle_deg=round(float(o.angle_deg) % 360.0, 3),
                instance_id=k,
            )
        )
    return Scene(
        seed=int(seed),
        size_px=s,
        image=image,
        objects=objects,
        instance_map=instance_map,
        landcover=landcover,
        water_side=lay.water_side,
    )

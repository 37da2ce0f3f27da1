"""Contour metrics (RemoteReasoner, 2025, contour task): boundary F1@d, ASD and HD.

Masks are ``(H, W)`` arrays (nonzero = target) in original-image pixels; distances in pixels.
Conventions and constants are those of :mod:`georeason.eval.metrics`, which re-exports every
public name here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from georeason.eval.metric_conventions import (
    ASD_CONVENTIONS,
    CONTOUR_EMPTY_POLICIES,
    DISTANCE_METHODS,
    F1_TOLERANCES_PX,
    ContourEmptyPolicy,
    DistanceMethod,
)


def mask_boundary(mask: np.ndarray) -> np.ndarray:
    """Inner boundary of a mask: target pixels with a 4-neighbour that is background.

    Pixels outside the image count as background, so target pixels on the image border are
    boundary pixels (ours: the outline the contour task draws is closed along the border too).
    Computed by scikit-image: ``find_boundaries(mode="inner", connectivity=1)`` on the mask
    padded by one background pixel (the padding makes the image border count as background).

    Args:
        mask: ``(H, W)``, nonzero = target.

    Returns:
        ``(H, W)`` bool.
    """
    from skimage.segmentation import find_boundaries

    m = np.asarray(mask) != 0
    if m.size == 0:
        return m
    padded = np.pad(m, 1, constant_values=False)
    return find_boundaries(padded, connectivity=1, mode="inner", background=0)[1:-1, 1:-1]


@dataclass(frozen=True)
class ContourScore:
    """Boundary agreement of one sample.

    Attributes:
        precision: ``{d: share of predicted boundary pixels within d px of the true boundary}``.
        recall: ``{d: share of true boundary pixels within d px of the predicted boundary}``.
        f1: ``{d: 2PR / (P + R)}`` (0 when P + R = 0).
        asd: average symmetric surface distance in pixels (NaN when skipped, see policy).
        hd: Hausdorff distance in pixels (NaN when skipped).
        empty: ``"none"``, ``"both"``, ``"pred"`` or ``"gt"``: which boundary was empty.
    """

    precision: dict[int, float]
    recall: dict[int, float]
    f1: dict[int, float]
    asd: float
    hd: float
    empty: str = "none"


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _distances_to(
    target_boundary: np.ndarray, query_rc: tuple[np.ndarray, np.ndarray], window: tuple
) -> np.ndarray:
    """Euclidean distance from each query pixel to the nearest pixel of ``target_boundary``.

    Computed with an exact Euclidean distance transform inside ``window`` (which must contain
    every target and query pixel): distances to target pixels need nothing outside it.
    """
    r0, r1, c0, c1 = window
    sub = target_boundary[r0:r1, c0:c1]
    # cv2.distanceTransform: distance of each nonzero pixel to the nearest zero pixel.
    # DIST_MASK_PRECISE is the exact Euclidean transform (Felzenszwalb & Huttenlocher, 2012).
    src = np.where(sub, 0, 1).astype(np.uint8)
    dt = cv2.distanceTransform(src, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)  # (h, w) float32
    rows, cols = query_rc
    return dt[rows - r0, cols - c0].astype(np.float64)


def _coords_rc(b: np.ndarray) -> np.ndarray:
    """``(N, 2)`` int (row, col) of the True pixels of a bool image (OpenCV, ~3x np.nonzero)."""
    pts = cv2.findNonZero(b.view(np.uint8)) if b.any() else None
    if pts is None:
        return np.zeros((0, 2), dtype=np.int64)
    return pts.reshape(-1, 2)[:, ::-1]  # (x, y) -> (row, col)


def _distances_kdtree(
    query_rc: np.ndarray, target_rc: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """Exact distances from query pixels to the nearest pixel of a target boundary.

    Args:
        query_rc: ``(N, 2)`` int (row, col) of the query pixels.
        target_rc: ``(M, 2)`` int (row, col) of the target pixels (M > 0).
        target: the target as a bool image (to find query pixels lying on it: distance 0).

    Returns:
        ``(N,)`` float64 distances in pixels, in query order.
    """
    from scipy.spatial import cKDTree

    dist = np.zeros(len(query_rc), dtype=np.float64)
    off = ~target[query_rc[:, 0], query_rc[:, 1]]  # (N,) not on the target boundary
    if off.any():
        tree = cKDTree(target_rc)
        dist[off], _ = tree.query(query_rc[off], k=1)
    return dist


def _check_contour_args(
    pred: np.ndarray, gt: np.ndarray, empty_policy: str, distance_method: str, asd_convention: str
) -> None:
    """The ``ValueError`` checks of :func:`contour_sample_score`."""
    if distance_method not in DISTANCE_METHODS:
        raise ValueError(
            f"unknown distance method {distance_method!r}; expected one of {DISTANCE_METHODS}"
        )
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {gt.shape}")
    if asd_convention not in ASD_CONVENTIONS:
        raise ValueError(f"unknown ASD convention {asd_convention!r}; expected {ASD_CONVENTIONS}")
    if empty_policy not in CONTOUR_EMPTY_POLICIES:
        raise ValueError(
            f"unknown contour empty policy {empty_policy!r}; expected {CONTOUR_EMPTY_POLICIES}"
        )


def _crop_to_masks(pb: np.ndarray, gb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both boolean masks cut to the bounding box of either plus a 1-px background margin
    (clipped to the image, whose outside is background anyway): same boundaries, fewer
    pixels. Two empty masks come back unchanged."""
    h, w = gb.shape
    rows_any = np.flatnonzero(np.any(pb, axis=1) | np.any(gb, axis=1))
    if not rows_any.size:
        return pb, gb
    cols_any = np.flatnonzero(np.any(pb, axis=0) | np.any(gb, axis=0))
    r0, r1 = max(int(rows_any[0]) - 1, 0), min(int(rows_any[-1]) + 2, h)
    c0, c1 = max(int(cols_any[0]) - 1, 0), min(int(cols_any[-1]) + 2, w)
    return pb[r0:r1, c0:c1], gb[r0:r1, c0:c1]


def _boundary_distances(
    bp: np.ndarray, bg: np.ndarray, distance_method: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(d_pg, d_gp)``: the distance of each pixel of ``bp`` to ``bg``, shape ``(n_p,)``, and
    of each pixel of ``bg`` to ``bp``, ``(n_g,)`` (pixels; both boundaries non-empty)."""
    if distance_method == "kdtree":
        p_rc, g_rc = _coords_rc(bp), _coords_rc(bg)  # (n_p, 2), (n_g, 2)
        return _distances_kdtree(p_rc, g_rc, bg), _distances_kdtree(g_rc, p_rc, bp)
    p_rc, g_rc = np.nonzero(bp), np.nonzero(bg)
    rows = np.concatenate([p_rc[0], g_rc[0]])
    cols = np.concatenate([p_rc[1], g_rc[1]])
    window = (int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1)
    return _distances_to(bg, p_rc, window), _distances_to(bp, g_rc, window)


def contour_sample_score(
    pred: np.ndarray,
    gt: np.ndarray,
    tolerances_px: Sequence[int] = F1_TOLERANCES_PX,
    empty_policy: ContourEmptyPolicy = "diagonal",
    distance_method: DistanceMethod = "kdtree",
    asd_convention: str = "medpy-0.4",
) -> ContourScore:
    """Boundary F1@d, ASD and HD of one predicted mask against the true mask.

    Definitions (RemoteReasoner's contour task), on the boundaries
    ``Bp``, ``Bg`` of :func:`mask_boundary` and the Euclidean pixel distance ``d(x, B)`` of a
    pixel centre to the nearest pixel centre of ``B``:

    * ``P@d = |{x in Bp: d(x, Bg) <= d}| / |Bp|``, ``R@d = |{y in Bg: d(y, Bp) <= d}| / |Bg|``,
      ``F1@d = 2 P R / (P + R)``.
    * ``ASD = (mean_{x in Bp} d(x, Bg) + mean_{y in Bg} d(y, Bp)) / 2`` (default,
      ``asd_convention="medpy-0.4"``: the mean of the two directed average surface distances,
      medpy <= 0.4's ``assd``; RemoteReasoner gives no formula). ``"medpy-0.5"``:
      ``(sum_{x in Bp} d(x, Bg) + sum_{y in Bg} d(y, Bp)) / (|Bp| + |Bg|)``, medpy 0.5.x's
      ``assd`` (the mean of the concatenated distances). They agree when ``|Bp| = |Bg|`` and
      differ when one boundary is much longer (on the real masks of the test suite by up to
      ~1.8 px). Both use medpy's boundary: target pixels with a 4-neighbour outside the target.
    * ``HD = max(max_{x in Bp} d(x, Bg), max_{y in Bg} d(y, Bp))``.

    Distances are exact Euclidean distances between pixel centres, never pairwise O(N^2), by
    either of two methods that give the same numbers (both tested against brute force):

    * ``distance_method="edt"``: Euclidean distance transforms of each boundary (OpenCV
      ``DIST_MASK_PRECISE``, the exact transform of Felzenszwalb & Huttenlocher, equal to
      ``scipy.ndimage.distance_transform_edt`` within float32 rounding and ~4x faster than it),
      in the window around both boundaries: O(window area).
    * ``"kdtree"`` (default, ours): nearest-neighbour queries on the boundary pixels
      (``scipy.spatial.cKDTree``), O(N log N) in the boundary length. On 1024x1024 masks it is
      ~3x faster than the transforms, which is what keeps the full EarthReason test split
      under 20 s on 2 cores (``benchmarks/results/metrics_speed.md``).

    Empty masks (ours, the papers do not say): both empty -> F1 = 1, ASD = HD = 0 (a correct
    "no target" answer); one empty -> F1 = 0 and, with ``empty_policy="diagonal"`` (default),
    ASD = HD = the image diagonal ``sqrt(H^2 + W^2)`` (the worst possible distance, keeps means
    finite and over all samples); ``"skip"`` gives NaN so that ASD/HD means leave it out.

    Args:
        pred, gt: ``(H, W)`` masks of the same shape, nonzero = target.
        tolerances_px: the ``d`` of ``F1@d`` in pixels.
        empty_policy: ``"diagonal"`` or ``"skip"``.
        distance_method: ``"kdtree"`` or ``"edt"`` (same numbers).
        asd_convention: ``"medpy-0.4"`` (default) or ``"medpy-0.5"``.

    Returns:
        A :class:`ContourScore`.

    Raises:
        ValueError: if the shapes differ or the policy or the distance method is unknown.
    """
    _check_contour_args(pred, gt, empty_policy, distance_method, asd_convention)
    tol = tuple(int(d) for d in tolerances_px)
    h, w = gt.shape
    pb, gb = _crop_to_masks(pred.astype(bool, copy=False), gt.astype(bool, copy=False))
    bp = mask_boundary(pb)
    bg = mask_boundary(gb)
    n_p, n_g = int(np.count_nonzero(bp)), int(np.count_nonzero(bg))
    if n_p == 0 or n_g == 0:
        if n_p == 0 and n_g == 0:
            one = dict.fromkeys(tol, 1.0)
            return ContourScore(one, dict(one), dict(one), 0.0, 0.0, "both")
        zero = dict.fromkeys(tol, 0.0)
        worst = math.hypot(h, w) if empty_policy == "diagonal" else math.nan
        return ContourScore(
            zero, dict(zero), dict(zero), worst, worst, "pred" if n_p == 0 else "gt"
        )
    d_pg, d_gp = _boundary_distances(bp, bg, distance_method)
    precision = {d: float(np.count_nonzero(d_pg <= d + 1e-6) / n_p) for d in tol}
    recall = {d: float(np.count_nonzero(d_gp <= d + 1e-6) / n_g) for d in tol}
    f1 = {d: _f1(precision[d], recall[d]) for d in tol}
    if asd_convention == "medpy-0.5":
        asd = float((d_pg.sum() + d_gp.sum()) / (n_p + n_g))
    else:
        asd = 0.5 * (float(d_pg.mean()) + float(d_gp.mean()))
    hd = max(float(d_pg.max()), float(d_gp.max()))
    return ContourScore(precision, recall, f1, asd, hd, "none")

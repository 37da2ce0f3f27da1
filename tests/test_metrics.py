"""Conformance tests of georeason.eval.metrics.

Every metric is checked (1) on small cases computed by hand and (2) against an independent
brute-force reference (plain loops / pairwise distances, no distance transform, no OpenCV) on the
real masks bundled in rs-samples and on perturbed versions of them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from PIL import Image

from georeason.data import SAMPLES_DIR
from georeason.eval import metrics as M

# --------------------------------------------------------------------------------------------
# Independent brute-force references
# --------------------------------------------------------------------------------------------


def ref_iou(pred: np.ndarray, gt: np.ndarray, empty: float) -> tuple[int, int, float]:
    p = pred.astype(bool).ravel().tolist()
    g = gt.astype(bool).ravel().tolist()
    inter = sum(1 for a, b in zip(p, g, strict=True) if a and b)
    union = sum(1 for a, b in zip(p, g, strict=True) if a or b)
    return inter, union, (inter / union if union else empty)


def ref_boundary(mask: np.ndarray) -> np.ndarray:
    """Target pixels with a 4-neighbour outside the target (outside the image = background)."""
    m = np.pad(mask.astype(bool), 1, constant_values=False)
    core = m[1:-1, 1:-1]
    all_in = m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return core & ~all_in


def ref_min_dist(src: np.ndarray, dst: np.ndarray, chunk: int = 512) -> np.ndarray:
    """For every point of ``src`` (N, 2), the Euclidean distance to the nearest point of dst."""
    dst = dst.astype(np.float64)
    out = np.empty(len(src))
    for i in range(0, len(src), chunk):
        s = src[i : i + chunk].astype(np.float64)
        d2 = ((s[:, None, :] - dst[None, :, :]) ** 2).sum(-1)  # (chunk, M) all pairs
        out[i : i + chunk] = np.sqrt(d2.min(1))
    return out


def ref_contour(pred: np.ndarray, gt: np.ndarray, tols=(1, 3)) -> dict:
    bp = np.argwhere(ref_boundary(pred))
    bg = np.argwhere(ref_boundary(gt))
    d_pg = ref_min_dist(bp, bg)
    d_gp = ref_min_dist(bg, bp)
    res = {}
    for d in tols:
        p = float(np.mean(d_pg <= d))
        r = float(np.mean(d_gp <= d))
        res[d] = 2 * p * r / (p + r) if p + r else 0.0
    asd = (d_pg.mean() + d_gp.mean()) / 2
    hd = max(d_pg.max(), d_gp.max())
    return {"f1": res, "asd": asd, "hd": hd}


def ref_resize_pad(mask: np.ndarray, size: int = 1024) -> np.ndarray:
    h, w = mask.shape
    nh, nw = (int(h * size / w), size) if w > h else (size, int(w * size / h))
    rows = np.minimum((np.arange(nh) * (h / nh)).astype(int), h - 1)
    cols = np.minimum((np.arange(nw) * (w / nw)).astype(int), w - 1)
    out = np.zeros((size, size), bool)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = mask.astype(bool)[rows][:, cols]
    return out


# --------------------------------------------------------------------------------------------
# Real masks and perturbations
# --------------------------------------------------------------------------------------------


def _load(name: str) -> np.ndarray:
    return np.array(Image.open(SAMPLES_DIR / "masks" / f"{name}.png")) > 0


@pytest.fixture(scope="module")
def real_masks() -> dict[str, np.ndarray]:
    return {
        "trailers": _load("isaid_P0004_large_vehicle"),
        "cars": _load("isaid_P0004_small_vehicle"),
        "buildings": _load("spacenet_atlanta_buildings"),
    }


def _shift(m: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(m)
    h, w = m.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = m[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def perturbations(m: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = np.ones((3, 3), np.uint8)
    u8 = m.astype(np.uint8)
    n, labels = cv2.connectedComponents(u8, connectivity=8)
    keep = rng.random(n) < 0.6
    keep[0] = False
    noisy = m ^ (rng.random(m.shape) < 0.002)
    return {
        "identity": m.copy(),
        "dilate2": cv2.dilate(u8, k, iterations=2).astype(bool),
        "erode1": cv2.erode(u8, k, iterations=1).astype(bool),
        "shift": _shift(m, 3, -5),
        "drop_components": keep[labels],
        "salt_pepper": noisy,
        "empty": np.zeros_like(m),
    }


# --------------------------------------------------------------------------------------------
# Hand-computed cases: boxes
# --------------------------------------------------------------------------------------------


def test_box_iou_hand_cases():
    # 50 px^2 overlap / 150 px^2 union.
    assert M.box_sample_iou([[0, 0, 10, 10]], [[5, 0, 15, 10]]) == pytest.approx(1 / 3)
    # Identical boxes.
    assert M.box_sample_iou([[1, 2, 3, 4]], [[1, 2, 3, 4]]) == 1.0
    # Unparsable answer: a miss even if the boxes happen to match.
    assert M.box_sample_iou([[1, 2, 3, 4]], [[1, 2, 3, 4]], parsed=False) == 0.0
    # Empty prediction with a target: a miss.
    assert M.box_sample_iou([], [[0, 0, 1, 1]]) == 0.0
    # No target: empty answer right (convention), any box wrong.
    assert M.box_sample_iou([], [], empty_iou=1.0) == 1.0
    assert M.box_sample_iou([], [], empty_iou=0.0) == 0.0
    assert M.box_sample_iou([[0, 0, 1, 1]], []) == 0.0


def test_box_modes_differ_on_multi_box():
    pred = [[0, 0, 5, 5], [5, 5, 10, 10]]
    gt = [[0, 0, 10, 10]]
    # union: the tight boxes coincide.
    assert M.box_sample_iou(pred, gt, mode="union") == 1.0
    # matched: one prediction matched to the single target, IoU 25/100.
    assert M.box_sample_iou(pred, gt, mode="matched") == pytest.approx(0.25)
    # matched, two targets, one found exactly: (1 + 0) / 2.
    assert M.box_sample_iou([[0, 0, 5, 5]], [[0, 0, 5, 5], [20, 20, 30, 30]]) == 0.5
    with pytest.raises(ValueError, match="box mode"):
        M.box_sample_iou(pred, gt, mode="best")


def test_accuracy_counts_iou_equal_to_tau():
    assert M.accuracy_at([1 / 3, 0.5, 0.7], 0.5) == pytest.approx(2 / 3)
    assert M.accuracy_at([0.0, 0.0], 0.5) == 0.0
    assert math.isnan(M.accuracy_at([], 0.5))


def _raster_iou(a, b) -> float:
    """IoU of two integer boxes by counting pixels (independent of any box formula)."""
    a, b = np.asarray(a) + 20, np.asarray(b) + 20  # keep slices non-negative
    w = int(max(a[2], b[2])) + 1
    h = int(max(a[3], b[3])) + 1
    ma = np.zeros((h, w), bool)
    mb = np.zeros((h, w), bool)
    ma[int(a[1]) : int(a[3]), int(a[0]) : int(a[2])] = True
    mb[int(b[1]) : int(b[3]), int(b[0]) : int(b[2])] = True
    union = (ma | mb).sum()
    return float((ma & mb).sum() / union) if union else 0.0


def _bruteforce_matched(pred, gt) -> float:
    """Best one-to-one assignment by enumerating every injective map, summed IoU / len(gt)."""
    import itertools

    k = min(len(pred), len(gt))
    best = 0.0
    for gi in itertools.permutations(range(len(gt)), k):
        for pi in itertools.permutations(range(len(pred)), k):
            best = max(best, sum(_raster_iou(pred[p], gt[g]) for p, g in zip(pi, gi, strict=True)))
    return best / len(gt)


def test_box_metrics_match_bruteforce_on_real_boxes(sample_records_list):
    rng = np.random.default_rng(0)
    records = {r["id"]: r for r in sample_records_list}
    ious = []
    for rid in ("dota_P1888_buses", "isaid_P0004_trailers", "isaid_P0004_cars", "dior_00001_rsvg"):
        boxes = np.asarray(records[rid]["gt_boxes"], dtype=float)
        for trial in range(4):
            gt = boxes[rng.choice(len(boxes), size=min(3, len(boxes)), replace=False)]
            shift = rng.integers(-6, 7, size=(len(gt), 4)).astype(float)
            pred = gt + shift
            pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)
            pred = pred[: max(1, len(gt) - trial % 2)]  # sometimes one prediction short
            ours = M.box_sample_iou(pred, gt, mode="matched")
            assert ours == pytest.approx(_bruteforce_matched(pred, gt), abs=1e-12), rid
            one = M.box_sample_iou(pred[:1], gt[:1])
            assert one == pytest.approx(_raster_iou(pred[0], gt[0]), abs=1e-12)
            ious.append(one)
    assert M.accuracy_at(ious, 0.5) == pytest.approx(sum(v >= 0.5 for v in ious) / len(ious))


# --------------------------------------------------------------------------------------------
# Hand-computed cases: masks
# --------------------------------------------------------------------------------------------


def test_mask_iou_giou_ciou_hand_cases():
    pred = np.zeros((4, 4), bool)
    gt = np.zeros((4, 4), bool)
    pred[0:2] = True  # 8 px
    gt[1:3] = True  # 8 px, overlap one row of 4
    s1 = M.mask_sample_score(pred, gt)
    assert (s1.intersection, s1.union) == (4, 12)
    assert s1.iou == pytest.approx(1 / 3)
    s2 = M.mask_sample_score(np.ones((2, 2), bool), np.ones((2, 2), bool))  # I = U = 4
    empty = np.zeros((3, 3), bool)
    s3 = M.mask_sample_score(empty, empty, empty_iou=1.0)  # SegEarth-R1: U = 0 -> 1.0
    assert s3 == M.MaskScore(0, 0, 1.0)
    assert M.mask_sample_score(empty, empty, empty_iou=0.0).iou == 0.0  # RemoteSAM
    scores = [s1, s2, s3]
    assert M.mask_giou(scores) == pytest.approx((1 / 3 + 1 + 1) / 3)
    assert M.mask_ciou(scores) == pytest.approx((4 + 4) / (12 + 4))
    assert M.mask_ciou([s3]) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        M.mask_sample_score(pred, np.zeros((3, 4), bool))


def test_precision_is_strict_and_accuracy_is_not():
    ious = [0.5, 0.6, 0.95]
    assert M.precision_at(ious, 0.5) == pytest.approx(2 / 3)  # 0.5 is not > 0.5
    assert M.accuracy_at(ious, 0.5) == 1.0  # 0.5 >= 0.5
    assert M.precision_at(ious, 0.9) == pytest.approx(1 / 3)


def test_empty_target_conventions():
    assert M.empty_iou_for("segearth") == 1.0
    assert M.empty_iou_for("remotesam") == 0.0
    with pytest.raises(ValueError, match="remotesam"):
        M.empty_iou_for("lisa")


def test_segearth_resize_pad_hand_case():
    m = np.zeros((2, 4), np.uint8)
    m[0, 0] = 1  # top-left pixel -> 256x256 block, canvas padded top/bottom by 256 each
    out = M.segearth_resize_pad(m)
    assert out.shape == (1024, 1024) and out.dtype == bool
    assert out.sum() == 256 * 256
    assert out[256:512, 0:256].all()
    assert not out[:256].any() and not out[768:].any()
    # Square masks are only resized.
    sq = np.eye(4, dtype=bool)
    assert M.segearth_resize_pad(sq).sum() == 4 * 256 * 256
    with pytest.raises(ValueError, match="protocol"):
        M.apply_protocol(sq, "lisa")


def test_summary_keys_units_box_metrics_always_prefixed():
    s = M.summarize(box_ious=[1.0, 0.4])
    assert s == {"box_Acc@0.5": 50.0, "box_gIoU": pytest.approx(70.0)}
    scores = [M.MaskScore(4, 12, 1 / 3), M.MaskScore(4, 4, 1.0)]
    s = M.summarize(box_ious=[1.0, 0.4], mask_scores=scores)
    assert s["box_gIoU"] == pytest.approx(70.0)
    assert s["gIoU"] == pytest.approx(100 * (1 / 3 + 1) / 2)
    assert s["cIoU"] == pytest.approx(50.0)
    assert s["Pr@0.5"] == 50.0 and s["Pr@0.9"] == 50.0
    assert set(s) <= set(M.METRIC_UNITS)


# --------------------------------------------------------------------------------------------
# Hand-computed cases: contours
# --------------------------------------------------------------------------------------------


def test_boundary_hand_cases():
    m = np.zeros((7, 7), bool)
    m[1:6, 1:6] = True
    b = M.mask_boundary(m)
    assert b.sum() == 16 and not b[2:5, 2:5].any()
    full = np.ones((3, 3), bool)  # the image border is background: only the centre is interior
    assert M.mask_boundary(full).sum() == 8
    assert M.mask_boundary(np.zeros((3, 3), bool)).sum() == 0


def test_contour_one_pixel_shift_hand_case():
    gt = np.zeros((12, 12), bool)
    gt[2:7, 2:7] = True
    pred = np.zeros_like(gt)
    pred[2:7, 3:8] = True
    # Each 16-pixel ring has 8 pixels on the other ring and 8 at distance exactly 1.
    s = M.contour_sample_score(pred, gt, tolerances_px=(0, 1, 3))
    assert s.precision == {0: 0.5, 1: 1.0, 3: 1.0}
    assert s.recall == {0: 0.5, 1: 1.0, 3: 1.0}
    assert s.f1[0] == pytest.approx(0.5)
    assert s.asd == pytest.approx(0.5)
    assert s.hd == pytest.approx(1.0)


def test_contour_far_square_hand_case():
    gt = np.zeros((20, 20), bool)
    gt[0:2, 0:2] = True  # 4 boundary px
    pred = np.zeros_like(gt)
    pred[0:2, 10:12] = True  # 4 boundary px; nearest gt pixel in the same row, col 1
    s = M.contour_sample_score(pred, gt)
    assert s.f1 == {1: 0.0, 3: 0.0}
    assert s.asd == pytest.approx(9.5)  # each direction: distances 9, 10, 9, 10
    assert s.hd == pytest.approx(10.0)


def test_contour_empty_policy():
    z = np.zeros((30, 40), bool)
    m = z.copy()
    m[5:10, 5:10] = True
    both = M.contour_sample_score(z, z)
    assert (both.f1, both.asd, both.hd, both.empty) == ({1: 1.0, 3: 1.0}, 0.0, 0.0, "both")
    miss = M.contour_sample_score(z, m)
    assert miss.f1 == {1: 0.0, 3: 0.0} and miss.empty == "pred"
    assert miss.asd == miss.hd == pytest.approx(50.0)  # diagonal of 30 x 40
    skipped = M.contour_sample_score(m, z, empty_policy="skip")
    assert math.isnan(skipped.asd) and skipped.empty == "gt"
    s = M.summarize(contour_scores=[M.contour_sample_score(m, m), skipped])
    assert s["ASD"] == 0.0 and s["F1@1"] == 0.5
    with pytest.raises(ValueError, match="policy"):
        M.contour_sample_score(m, m, empty_policy="zero")
    with pytest.raises(ValueError, match="distance method"):
        M.contour_sample_score(m, m, distance_method="pairwise")


def test_contour_mask_touching_image_border():
    # Target fills the left half of the image: its boundary includes the image border pixels.
    gt = np.zeros((6, 6), bool)
    gt[:, :3] = True
    for method in M.DISTANCE_METHODS:
        s = M.contour_sample_score(gt, gt, distance_method=method)
        assert s.f1 == {1: 1.0, 3: 1.0} and s.asd == 0.0 and s.hd == 0.0


# --------------------------------------------------------------------------------------------
# Conformance on real masks (rs-samples) and perturbations
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["trailers", "cars", "buildings"])
@pytest.mark.parametrize("protocol", ["native", "segearth1024"])
def test_mask_metrics_match_reference_on_real_masks(real_masks, name, protocol):
    gt = real_masks[name]
    preds = perturbations(gt, seed=len(name))
    preds["other_class"] = real_masks["cars" if name != "cars" else "trailers"]
    if preds["other_class"].shape != gt.shape:
        preds["other_class"] = np.zeros_like(gt)
    ref_scores, our_scores = [], []
    for pred in preds.values():
        if protocol == "segearth1024":
            g_ref, p_ref = ref_resize_pad(gt), ref_resize_pad(pred)
            g_our, p_our = M.apply_protocol(gt, protocol), M.apply_protocol(pred, protocol)
            assert np.array_equal(g_ref, g_our) and np.array_equal(p_ref, p_our)
        else:
            g_ref, p_ref, g_our, p_our = gt, pred, gt, pred
        ref_scores.append(ref_iou(p_ref[::4, ::4], g_ref[::4, ::4], 1.0))  # loops: subsample
        ours = M.mask_sample_score(p_our[::4, ::4], g_our[::4, ::4])
        assert (ours.intersection, ours.union) == ref_scores[-1][:2]
        assert ours.iou == pytest.approx(ref_scores[-1][2], abs=1e-12)
        our_scores.append(M.mask_sample_score(p_our, g_our))
    # Aggregates over the full-resolution scores against their definitions.
    inter = np.array([s.intersection for s in our_scores], dtype=float)
    union = np.array([s.union for s in our_scores], dtype=float)
    ious = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    assert M.mask_ciou(our_scores) == pytest.approx(inter.sum() / union.sum())
    assert M.mask_giou(our_scores) == pytest.approx(ious.mean())
    for t in M.PR_THRESHOLDS:
        assert M.precision_at([s.iou for s in our_scores], t) == pytest.approx(
            sum(1 for v in ious if v > t) / len(ious)
        )


def _window(m: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    return np.ascontiguousarray(m[rows, cols])


@pytest.mark.parametrize(
    "name,rows,cols",
    [
        ("trailers", slice(0, 420), slice(0, 824)),  # a crop keeps the pairwise reference cheap
        ("cars", slice(None), slice(None)),
        ("buildings", slice(None), slice(None)),
    ],
)
def test_contour_metrics_match_bruteforce_on_real_masks(real_masks, name, rows, cols):
    gt = _window(real_masks[name], rows, cols)
    assert np.array_equal(M.mask_boundary(gt), ref_boundary(gt))
    for kind, pred in perturbations(gt, seed=7).items():
        if kind == "empty":
            continue
        ref = ref_contour(pred, gt)
        for method in M.DISTANCE_METHODS:
            ours = M.contour_sample_score(pred, gt, distance_method=method)
            for d in (1, 3):
                assert ours.f1[d] == pytest.approx(ref["f1"][d], abs=1e-9), (kind, method, d)
            assert ours.asd == pytest.approx(ref["asd"], rel=1e-5, abs=1e-5), (kind, method)
            assert ours.hd == pytest.approx(ref["hd"], rel=1e-5, abs=1e-5), (kind, method)


def test_contour_metrics_match_bruteforce_on_segearth_canvas(real_masks):
    gt = M.apply_protocol(real_masks["buildings"], "segearth1024")
    pred = M.apply_protocol(perturbations(real_masks["buildings"], 3)["shift"], "segearth1024")
    ref = ref_contour(pred, gt)
    for method in M.DISTANCE_METHODS:
        ours = M.contour_sample_score(pred, gt, distance_method=method)
        assert ours.f1 == pytest.approx(ref["f1"])
        assert ours.asd == pytest.approx(ref["asd"], rel=1e-5)
        assert ours.hd == pytest.approx(ref["hd"], rel=1e-5)


def _medpy_surface_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Reference: medpy's ``__surface_distances`` (medpy 0.4/0.5.2, 2-D, connectivity 1,
    unit spacing) re-written with scipy: borders = mask XOR its 4-connected erosion; the
    distance of each border pixel of ``a`` to the nearest border pixel of ``b``."""
    from scipy.ndimage import binary_erosion, distance_transform_edt, generate_binary_structure

    fp = generate_binary_structure(2, 1)
    a_border = a ^ binary_erosion(a, structure=fp, iterations=1)
    b_border = b ^ binary_erosion(b, structure=fp, iterations=1)
    return distance_transform_edt(~b_border)[a_border]


@pytest.mark.parametrize(
    "name", ["isaid_P0004_large_vehicle", "isaid_P0004_small_vehicle", "spacenet_atlanta_buildings"]
)
def test_asd_conventions_equal_medpy_formulas_on_real_masks(name):
    gt = np.array(Image.open(SAMPLES_DIR / "masks" / f"{name}.png")) > 0
    # a plausible prediction: every connected target filled to its bounding box
    n, labels, stats, _ = cv2.connectedComponentsWithStats(gt.astype(np.uint8), connectivity=8)
    pred = np.zeros_like(gt)
    for x, y, w, h, _ in stats[1:]:
        pred[y : y + h, x : x + w] = True
    d_pg = _medpy_surface_distances(pred, gt)
    d_gp = _medpy_surface_distances(gt, pred)
    old = M.contour_sample_score(pred, gt).asd
    new = M.contour_sample_score(pred, gt, asd_convention="medpy-0.5").asd
    assert old == pytest.approx(np.mean([d_pg.mean(), d_gp.mean()]), abs=1e-4)  # medpy <= 0.4
    assert new == pytest.approx(np.concatenate([d_pg, d_gp]).mean(), abs=1e-4)  # medpy 0.5.2
    # the conventions differ on real masks (boundaries of different lengths), by up to a few px
    assert old != pytest.approx(new, abs=1e-3)
    with pytest.raises(ValueError, match="ASD convention"):
        M.contour_sample_score(pred, gt, asd_convention="medpy")

import numpy as np
import pytest

from georeason.geometry import (
    as_boxes_xyxy,
    box_area,
    box_iou_matrix,
    boxes_from_model_frame,
    boxes_to_model_frame,
    crop_window_px,
    expand_box,
    hungarian_match,
    matched_mean_iou,
    sanitize_boxes,
    validate_boxes_xyxy,
)


def test_iou_hand_computed():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 5, 15, 15], [0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 5, 10]])
    iou = box_iou_matrix(a, b)
    # overlap 5x5=25, union 100+100-25=175
    np.testing.assert_allclose(iou, [[25 / 175, 1.0, 0.0, 0.5]])


def test_iou_degenerate_and_empty():
    assert box_iou_matrix(np.zeros((0, 4)), np.array([[0, 0, 1, 1]])).shape == (0, 1)
    # both degenerate -> union 0 -> IoU 0, no NaN
    assert box_iou_matrix([[1, 1, 1, 1]], [[1, 1, 1, 1]])[0, 0] == 0.0


def test_iou_matches_bruteforce_raster():
    rng = np.random.default_rng(0)
    a = np.sort(rng.integers(0, 40, size=(20, 2, 2)), axis=1).reshape(20, 4)  # xyxy
    a = a + np.array([0, 0, 1, 1])
    b = a[::-1] + 3

    def raster(box):
        m = np.zeros((50, 50), bool)
        m[box[1] : box[3], box[0] : box[2]] = True
        return m

    iou = box_iou_matrix(a, b)
    for i in range(len(a)):
        for j in range(len(b)):
            ma, mb = raster(a[i]), raster(b[j])
            ref = (ma & mb).sum() / (ma | mb).sum()
            assert iou[i, j] == pytest.approx(ref)


def test_hungarian_prefers_global_optimum():
    iou = np.array([[0.9, 0.8], [0.85, 0.0]])
    rows, cols = hungarian_match(iou)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 1), (1, 0)]


def test_matched_mean_iou_divides_by_gt_count():
    gt = [[0, 0, 10, 10], [20, 20, 30, 30]]
    assert matched_mean_iou([[0, 0, 10, 10]], gt) == pytest.approx(0.5)
    assert matched_mean_iou([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], gt) == 1.0
    assert matched_mean_iou([], []) == 1.0
    assert matched_mean_iou([[0, 0, 1, 1]], []) == 0.0
    assert matched_mean_iou([], gt) == 0.0


def test_expand_box_context_margin_and_clip():
    np.testing.assert_allclose(expand_box([10, 20, 30, 60], 0.15, 100, 100), [7, 14, 33, 66])
    np.testing.assert_allclose(expand_box([0, 0, 100, 50], 0.15, 100, 100), [0, 0, 100, 57.5])
    np.testing.assert_allclose(expand_box([10, 20, 30, 60], 0.0, 100, 100), [10, 20, 30, 60])
    with pytest.raises(ValueError):
        expand_box([0, 0, 1, 1], -0.1, 10, 10)


def test_crop_window_never_empty():
    assert crop_window_px([5, 5, 5, 5], 10, 10) == (5, 5, 6, 6)
    assert crop_window_px([9.5, 9.5, 12, 12], 10, 10) == (9, 9, 10, 10)
    assert crop_window_px([-5, -5, -1, -1], 10, 10) == (0, 0, 1, 1)
    assert crop_window_px([2.2, 3.7, 4.1, 8.0], 10, 10) == (2, 3, 5, 8)


@pytest.mark.parametrize("frame,resized", [("norm1000", None), ("resized_px", (448, 812))])
def test_frame_round_trip(frame, resized):
    boxes = np.array([[10.5, 20.0, 700.0, 400.25], [0, 0, 824, 464]])
    model = boxes_to_model_frame(boxes, frame, (464, 824), resized)
    np.testing.assert_allclose(boxes_from_model_frame(model, frame, (464, 824), resized), boxes)


def test_frame_known_values():
    # Qwen3-VL: 0..1000 -> pixels of an 800x400 (w x h) image
    out = boxes_from_model_frame([[0, 500, 1000, 1000]], "norm1000", (400, 800))
    np.testing.assert_allclose(out, [[0, 200, 800, 400]])
    # Qwen2.5-VL: pixels of the resized 28-multiple input (h=392, w=784) -> 400x800 original
    out = boxes_from_model_frame([[392, 196, 784, 392]], "resized_px", (400, 800), (392, 784))
    np.testing.assert_allclose(out, [[400, 200, 800, 400]])
    with pytest.raises(ValueError):
        boxes_from_model_frame([[0, 0, 1, 1]], "resized_px", (10, 10))
    with pytest.raises(ValueError):
        boxes_from_model_frame([[0, 0, 1, 1]], "pixels", (10, 10))


def test_sanitize_boxes():
    boxes = [[5, 5, 1, 1], [-10, -10, 5, 5], [200, 200, 300, 300], [np.nan, 0, 1, 1], [2, 2, 2, 9]]
    out, dropped = sanitize_boxes(boxes, 100, 100)
    np.testing.assert_allclose(out, [[1, 1, 5, 5], [0, 0, 5, 5]])
    assert dropped == 3


def test_validate_and_shapes():
    assert as_boxes_xyxy([]).shape == (0, 4)
    assert as_boxes_xyxy([1, 2, 3, 4]).shape == (1, 4)
    with pytest.raises(ValueError, match="shape"):
        as_boxes_xyxy([[1, 2, 3]])
    with pytest.raises(ValueError, match="x1<x2"):
        validate_boxes_xyxy([[5, 5, 1, 1]])
    with pytest.raises(ValueError, match="outside"):
        validate_boxes_xyxy([[200, 200, 300, 300]], 100, 100)
    np.testing.assert_allclose(box_area([[0, 0, 2, 3], [5, 5, 1, 1]]), [6, 0])

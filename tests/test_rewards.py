"""Exact values of the reward functions on constructed completions (RemoteReasoner eq. 4, 5,
R_format; RemoteZero's verification reward)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from PIL import Image

from georeason.rewards import (
    CountReward,
    FrameSpec,
    IoUReward,
    VerificationReward,
    area_penalty,
    count_score,
    crop_for_verifier,
    format_reward,
)

NORM = FrameSpec(frame="norm1000")


def answer(boxes: str) -> str:
    return f"<think>looking</think><answer>{boxes}</answer>"


# --- format -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (answer("[10,20,30,40]"), 1.0),
        (answer("[[10,20,30,40],[1,2,3,4]]"), 1.0),
        (answer("[]"), 1.0),
        ("<answer>[10,20,30,40]</answer>", 0.0),  # no <think>
        ("<think>x</think>[10,20,30,40]", 0.0),  # no <answer>
        (answer("a harbour"), 0.0),  # unreadable list
        ("", 0.0),
    ],
)
def test_format_reward_values(text, expected):
    assert format_reward(prompts=None, completions=[text]) == [expected]


def test_format_reward_reads_conversational_completions_and_logs_parse_failures():
    logged = {}
    completions = [
        [{"role": "assistant", "content": answer("[1,2,3,4]")}],
        [{"role": "assistant", "content": [{"type": "text", "text": "garbage"}]}],
    ]
    out = format_reward(completions=completions, log_metric=logged.__setitem__)
    assert out == [1.0, 0.0]
    assert logged == {"parse_failure_rate": 0.5}


# --- count (eq. 5) ----------------------------------------------------------------------------


def test_count_score_equation():
    assert count_score(0, 0) == 1.0
    assert count_score(3, 0) == 0.0
    assert count_score(2, 2) == 1.0
    assert count_score(3, 2) == pytest.approx(math.exp(-1.0))
    assert count_score(0, 4) == pytest.approx(math.exp(-2.0))
    with pytest.raises(ValueError):
        count_score(-1, 2)


def _columns(gt, hw=(1000, 1000), n=1):
    return {"boxes_xyxy_px": [gt] * n, "image_hw": [hw] * n}


def test_count_reward_values_and_edge_cases():
    reward = CountReward(NORM)
    gt2 = [[0, 0, 10, 10], [20, 20, 30, 30]]
    texts = [
        answer("[[0,0,10,10],[20,20,30,30],[50,50,60,60]]"),  # K=3, J=2
        answer("[]"),  # K=0, J=2
        answer("[[2000,2000,3000,3000],[0,0,10,10]]"),  # one box outside the image: K=1
        "no idea",  # unreadable -> 0
    ]
    out = reward(completions=texts, **_columns(gt2, n=4))
    assert out == pytest.approx([math.exp(-1.0), math.exp(-2.0), math.exp(-1.0), 0.0])
    empty = reward(completions=[answer("[]"), answer("[1,1,5,5]"), "garbage"], **_columns([], n=3))
    assert empty == [1.0, 0.0, 0.0]


# --- IoU (eq. 4) ------------------------------------------------------------------------------


def test_iou_reward_hungarian_mean_over_ground_truth():
    reward = IoUReward(NORM)
    gt = [[0, 0, 10, 10], [5, 0, 15, 10]]
    # pred [3,0,13,10] overlaps both; matching pairs it with the second box (IoU 80/120 = 2/3),
    # the exact box with the first (IoU 1): (1 + 2/3) / 2.
    texts = [
        answer("[[3,0,13,10],[0,0,10,10]]"),
        answer("[[0,0,10,10]]"),  # one of two found: (1 + 0) / 2
        answer("[[10,0,0,10]]"),  # inverted corners are swapped: same as above
        answer("[]"),
        answer("[[1500,1500,1600,1600]]"),  # outside the image: dropped
        "garbage",
    ]
    out = reward(completions=texts, **_columns(gt, n=6))
    assert out == pytest.approx([(1 + 2 / 3) / 2, 0.5, 0.5, 0.0, 0.0, 0.0])


def test_iou_reward_no_target_follows_count_logic():
    reward = IoUReward(NORM)
    out = reward(completions=[answer("[]"), answer("[1,1,9,9]"), "x"], **_columns([], n=3))
    assert out == [1.0, 0.0, 0.0]


def test_iou_reward_converts_resized_pixel_frame_to_original_pixels():
    # 560 x 1120 original, budget 280 x 560: Qwen2.5-VL sees a half-size image.
    spec = FrameSpec(frame="resized_px", max_pixels=280 * 560, factor=28)
    assert spec.model_input_hw((560, 1120)) == (280, 560)
    image = Image.new("RGB", (1120, 560))
    cols = {"boxes_xyxy_px": [[[100, 50, 300, 250]]], "image": [image]}
    assert IoUReward(spec)(completions=[answer("[50,25,150,125]")], **cols) == [1.0]
    # read as original pixels the same box would be wrong: intersection 50 x 75 with the gt
    assert IoUReward(FrameSpec(frame="resized_px", max_pixels=10**7))(
        completions=[answer("[50,25,150,125]")], **cols
    ) == pytest.approx([(50 * 75) / (200 * 200 + 100 * 100 - 50 * 75)])


def test_frame_spec_matches_transformers_smart_resize():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    spec = FrameSpec(frame="resized_px", min_pixels=3136, max_pixels=802_816, factor=28)
    for hw in [(800, 800), (900, 900), (1380, 840), (13, 400), (3000, 100)]:
        assert spec.model_input_hw(hw) == smart_resize(*hw, 28, 3136, 802_816)


def test_reward_errors_name_missing_columns():
    with pytest.raises(KeyError, match="boxes_xyxy_px"):
        IoUReward(NORM)(completions=[answer("[]")], image_hw=[(10, 10)])
    with pytest.raises(ValueError, match="unknown model frame"):
        FrameSpec(frame="pixels")


# --- verification (RemoteZero) ----------------------------------------------------------------


class BrightnessVerifier:
    """Deterministic test double for the verifier MLLM: confidence = mean crop brightness / 255.

    Legitimate here because these tests pin the reward's arithmetic (crop window, margin, area
    penalty, aggregation), not the verifier; the real verifier is tested in test_verifier_*.py.
    """

    def __init__(self):
        self.calls = []

    def score(self, crops, queries):
        self.calls.append((list(crops), list(queries)))
        return [float(np.asarray(c.convert("L"), dtype=np.float64).mean() / 255.0) for c in crops]


def _scene():
    """100 x 100 black image with a white 20 x 20 square at [20, 20, 40, 40] (xyxy pixels)."""
    arr = np.zeros((100, 100, 3), dtype=np.uint8)
    arr[20:40, 20:40] = 255
    return Image.fromarray(arr)


def _verify(texts, **options):
    verifier = BrightnessVerifier()
    reward = VerificationReward(verifier, frame=NORM, **options)
    n = len(texts)
    logged = {}
    out = reward(
        completions=texts,
        image=[_scene()] * n,
        query=[f"q{i}" for i in range(n)],
        log_metric=logged.__setitem__,
    )
    return out, verifier, logged


def test_verification_reward_context_crop_and_strict_crop():
    # norm1000 on a 100 px image: model [200,200,400,400] = pixels [20,20,40,40].
    # Context crop (15%): [17,17,43,43], 26 x 26 = 676 px of which 400 white.
    out, verifier, logged = _verify([answer("[200,200,400,400]")])
    assert out == pytest.approx([400 / 676])
    assert verifier.calls[0][0][0].size == (26, 26)
    assert logged["box_area_ratio"] == pytest.approx(0.04)
    assert logged["verifier_confidence"] == pytest.approx(400 / 676)
    strict, _, _ = _verify([answer("[200,200,400,400]")], margin_ratio=0.0)
    assert strict == [1.0]


def test_verification_reward_full_image_box_scores_below_tight_box():
    out, _, _ = _verify([answer("[0,0,1000,1000]"), answer("[200,200,400,400]")], margin_ratio=0)
    # full image: confidence 400/10000, penalty 1.0 * (1.0 - 0.3)
    assert out == pytest.approx([0.04 - 0.7, 1.0])
    assert area_penalty(1.0, 1.0, 0.3) == pytest.approx(0.7)
    assert area_penalty(0.3, 1.0, 0.3) == 0.0
    custom, _, _ = _verify(
        [answer("[0,0,1000,1000]")], margin_ratio=0, area_penalty_weight=2.0, area_threshold=0.5
    )
    assert custom == pytest.approx([0.04 - 1.0])


def test_verification_reward_edge_cases():
    texts = [
        "garbage",  # unreadable: 0, not verified
        answer("[]"),  # nothing to verify: 0
        answer("[[2000,2000,3000,3000]]"),  # outside the image: dropped, 0
        answer("[400,400,200,200]"),  # inverted corners: swapped, same as the tight box
        answer("[200,200,205,205]"),  # 0.5 px box: strict crop window is 1 px, white
        answer("[992,992,1000,1000]"),  # 0.8 px box at the corner: 1 px, black
        answer("[200,200,200,400]"),  # zero width: dropped by the parser, 0, not verified
    ]
    out, verifier, _ = _verify(texts, margin_ratio=0.0)
    assert out == pytest.approx([0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    # one batched call for the whole group, smallest crops first (less padding per batch);
    # the values above prove the scores are mapped back to their completions
    ((crops, queries),) = verifier.calls
    assert [c.size for c in crops] == [(1, 1), (1, 1), (20, 20)]
    assert queries == ["q4", "q5", "q3"]


def test_verification_reward_several_boxes_aggregates():
    texts = [answer("[[200,200,400,400],[600,600,800,800]]")]  # white square + black square
    mean, _, _ = _verify(texts, margin_ratio=0.0)
    assert mean == pytest.approx([0.5])
    best, _, _ = _verify(texts, margin_ratio=0.0, aggregate="max")
    assert best == [1.0]
    swapped = [answer("[[600,600,800,800],[200,200,400,400]]")]
    first, verifier, _ = _verify(swapped, margin_ratio=0.0, aggregate="first")
    assert first == [0.0]
    assert len(verifier.calls[0][0]) == 1


def test_verification_reward_propagates_verifier_errors_and_checks_counts():
    class Down:
        def score(self, crops, queries):
            raise ConnectionError("verifier down")

    class Short:
        def score(self, crops, queries):
            return []

    cols = {"image": [_scene()], "query": ["q"]}
    with pytest.raises(ConnectionError):
        VerificationReward(Down(), frame=NORM)(completions=[answer("[1,1,500,500]")], **cols)
    with pytest.raises(RuntimeError, match="0 scores for 1 crops"):
        VerificationReward(Short(), frame=NORM)(completions=[answer("[1,1,500,500]")], **cols)
    with pytest.raises(ValueError):
        VerificationReward(Short(), aggregate="median")


def test_crop_for_verifier_converts_mode_and_never_empty():
    gray = Image.new("L", (10, 10), 200)
    crop = crop_for_verifier(gray, [3.0, 3.0, 3.0, 3.0], 0.15)  # zero-area box
    assert crop.mode == "RGB" and crop.size == (1, 1)


def test_rewards_are_picklable():
    for reward in (IoUReward(NORM), CountReward(), VerificationReward(BrightnessVerifier())):
        clone = pickle.loads(pickle.dumps(reward))
        assert clone.__name__ == reward.__name__


def test_frame_spec_uses_transformers_smart_resize_and_refuses_extreme_aspect():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    from georeason.errors import UserInputError
    from georeason.rewards import FrameSpec

    spec = FrameSpec("resized_px", min_pixels=3136, max_pixels=802_816, factor=28)
    for hw in [(800, 800), (1, 150), (3000, 4000), (57, 333)]:
        assert spec.model_input_hw(hw) == smart_resize(*hw, 28, 3136, 802_816)
    with pytest.raises(UserInputError, match="10 x 2500 px|2500 x 10 px"):
        spec.model_input_hw((2500, 10))


# the strings on which georeason's format reward and ms-swift's regex differ, and some where they
# agree; (text, georeason, ms-swift)
FORMAT_CONVENTION_TABLE = [
    ("<think>a</think><answer>[1,2,3,4]</answer>", 1.0, 1.0),
    ("<think>a</think>\n<answer>[[1,2,3,4]]</answer>", 1.0, 1.0),  # released single-box grammar
    ("<think>a</think><answer>[]</answer>", 1.0, 1.0),
    ("<think>a</think><answer>a tank</answer>", 0.0, 1.0),  # no box list
    (" <think>a</think><answer>[1,2,3,4]</answer>", 1.0, 0.0),  # leading space
    ("<think>a</think><answer>[1,2,3,4]</answer>\n", 1.0, 1.0),
    ("<think>a</think><answer>[1,2,3,4]</answer>\nextra text", 0.0, 1.0),  # MULTILINE $
    ("<think>a</think><answer>[1,2,3,4]</answer> extra", 0.0, 0.0),
    ("<answer>[1,2,3,4]</answer>", 0.0, 0.0),
    ("<think>a</think><answer>[1,2,3,4]</answer><answer>[5,6,7,8]</answer>", 0.0, 1.0),
]


@pytest.mark.parametrize("text, ours, swift", FORMAT_CONVENTION_TABLE)
def test_format_conventions_table(text, ours, swift):
    from georeason.rewards import FORMAT_REWARDS, ms_swift_format_reward

    assert format_reward(completions=[text]) == [ours]
    assert ms_swift_format_reward(completions=[text]) == [swift]
    assert FORMAT_REWARDS["ms-swift"](completions=[text]) == [swift]


def test_released_single_box_grammar_parses_as_one_box():
    from georeason.parsing import parse_completion

    r = parse_completion("<think>one tank</think><answer>[[10, 20, 30, 40]]</answer>")
    assert r.boxes == [[10.0, 20.0, 30.0, 40.0]] and r.format_ok and r.status == "ok"


def test_format_convention_config_key(tmp_path):
    from georeason.errors import UserInputError
    from georeason.training.config import config_from_dict

    base = {"mode": "remotereasoner", "model": "m", "output_dir": str(tmp_path)}
    assert config_from_dict(base).format_convention == "georeason"
    swift = config_from_dict({**base, "format_convention": "ms-swift"})
    assert swift.format_convention == "ms-swift"
    with pytest.raises(UserInputError, match="format_convention"):
        config_from_dict({**base, "format_convention": "swift"})

"""Test-time Generate-Crop-Verify (best-of-N): exact selection on constructed answers, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from georeason.bestofn import best_of_n
from georeason.models.loading import load_processor
from georeason.models.policy import localization_from_text
from georeason.rewards import frame_spec_for


class ScriptedPolicy:
    """A policy whose sampled answers are given texts (the real parsing path is used)."""

    def __init__(self, processor, texts):
        self.processor, self.arch, self.texts = processor, "qwen3_vl", list(texts)
        self.calls = []

    def locate(self, images, queries, batch_size=None, **kwargs):
        self.calls.append(kwargs)
        frame = frame_spec_for(self.processor, self.arch)
        out = []
        for i, im in enumerate(images):
            hw = (im.size[1], im.size[0])
            text = self.texts[i % len(self.texts)]
            out.append(localization_from_text(text, hw, frame.model_input_hw(hw), "norm1000"))
        return out


class WidthVerifier:
    """Confidence = crop width / 200 (so a wider crop is 'more convincing')."""

    def __init__(self):
        self.seen = []

    def score(self, crops, queries):
        self.seen += list(queries)
        return [min(1.0, c.size[0] / 200.0) for c in crops]


@pytest.fixture(scope="module")
def processor(tiny_qwen3vl_dir):
    return load_processor(tiny_qwen3vl_dir)


def test_picks_the_highest_reward_and_applies_the_area_penalty(processor):
    texts = [
        "<think>a</think><answer>[[0,0,100,100]]</answer>",  # 20 px wide
        "no box at all",
        "<think>b</think><answer>[[0,0,500,500]]</answer>",  # 100 px: area 0.25 < tau
        "<think>c</think><answer>[[0,0,1000,1000]]</answer>",  # whole image: area 1.0
    ]
    policy, verifier = ScriptedPolicy(processor, texts), WidthVerifier()
    image = Image.new("RGB", (200, 200), (90, 120, 60))
    (res,) = best_of_n(policy, verifier, [image], ["q"], n=4, temperature=0.7)
    # crop widths with the 15 % margin, clipped at the image's left edge: 20 -> 23, 100 -> 115
    assert res.scores[1] == 0.0  # unreadable: nothing to verify
    assert res.scores[0] == pytest.approx(23 / 200)
    assert res.scores[2] == pytest.approx(115 / 200)
    assert res.scores[3] == pytest.approx(1.0 - 1.0 * (1.0 - 0.3))  # confidence - penalty
    assert res.best_index == 2
    np.testing.assert_allclose(res.best.boxes_xyxy_px, [[0, 0, 100, 100]])
    assert policy.calls == [{"do_sample": True, "temperature": 0.7}]
    rows = res.to_json()
    assert [r["kept"] for r in rows] == [False, False, True, False]
    assert rows[2]["boxes_xyxy_px"] == [[0.0, 0.0, 100.0, 100.0]]


def test_ties_keep_the_first_sample_and_queries_stay_in_order(processor):
    policy = ScriptedPolicy(processor, ["nothing", "still nothing"])
    images = [Image.new("RGB", (64, 64)), Image.new("RGB", (96, 64))]
    out = best_of_n(policy, WidthVerifier(), images, ["a", "b"], n=2)
    assert [r.best_index for r in out] == [0, 0]
    assert [r.best.original_hw for r in out] == [(64, 64), (64, 96)]


@pytest.mark.parametrize("kw", [{"n": 0}, {"temperature": 0.0}])
def test_bad_options_raise(processor, kw):
    with pytest.raises(ValueError):
        best_of_n(
            ScriptedPolicy(processor, ["x"]),
            WidthVerifier(),
            [Image.new("RGB", (8, 8))],
            ["q"],
            **kw,
        )


def test_locate_cli_lists_every_candidate(tiny_qwen3vl_dir, samples_dir, tmp_path):
    from georeason.cli import main

    image = samples_dir / "images" / "dior_00001.jpg"
    out = tmp_path / "o"
    argv = [
        "locate",
        str(image),
        "a golf course",
        "--model",
        str(tiny_qwen3vl_dir),
        "--samples",
        "3",
        "--segmenter",
        "box",
        "--max-new-tokens",
        "16",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    result = json.loads((out / "result.json").read_text())
    cands = result["candidates"]
    assert len(cands) == 3 and sum(c["kept"] for c in cands) == 1
    assert all(-1.0 <= c["verifier_score"] <= 1.0 for c in cands)
    kept = next(c for c in cands if c["kept"])
    assert result["raw_text"] == kept["text"]


def test_locate_cli_refuses_samples_without_a_model(samples_dir, tmp_path, capsys):
    from georeason.cli import main

    image = samples_dir / "images" / "dior_00001.jpg"
    argv = [
        "locate",
        str(image),
        "q",
        "--boxes",
        "[[1,1,5,5]]",
        "--samples",
        "4",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 2
    assert "--samples" in capsys.readouterr().err

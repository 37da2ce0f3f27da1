"""Policy: post-processing (frames), batched generation on real images, adapters."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

from georeason.data import SAMPLES_DIR, sample_records
from georeason.errors import ModelLoadError
from georeason.io import read_image
from georeason.models.policy import Localization, Policy, localization_from_text

SMALL = 60_000  # pixel budget for tests (ours: keeps a CPU generate well under a second)


@pytest.fixture(scope="module")
def policies(tiny_qwen25vl_dir, tiny_qwen3vl_dir):
    return {
        "qwen2_5_vl": Policy.from_pretrained(tiny_qwen25vl_dir, max_pixels=SMALL, device="cpu"),
        "qwen3_vl": Policy.from_pretrained(tiny_qwen3vl_dir, max_pixels=SMALL, device="cpu"),
    }


@pytest.fixture(scope="module")
def dior():
    rec = next(r for r in sample_records() if r["image"].endswith("dior_00001.jpg"))
    return read_image(SAMPLES_DIR / rec["image"]), rec["query"]


# --- localization_from_text: exact values on constructed completions --------------------------


def test_resized_px_boxes_scale_to_original_pixels():
    text = "<think>two tanks</think><answer>[[28,56,140,112],[0,0,14,14]]</answer>"
    loc = localization_from_text(
        text, original_hw=(400, 600), model_input_hw=(196, 308), frame="resized_px"
    )
    sx, sy = 600 / 308, 400 / 196
    expected = np.array([[28 * sx, 56 * sy, 140 * sx, 112 * sy], [0, 0, 14 * sx, 14 * sy]])
    np.testing.assert_allclose(loc.boxes_xyxy_px, expected)
    assert loc.boxes_xyxy_px.dtype == np.float64
    assert loc.parse.status == "ok" and loc.n_dropped == 0
    assert (loc.original_hw, loc.model_input_hw, loc.frame) == (
        (400, 600),
        (196, 308),
        "resized_px",
    )


def test_norm1000_boxes_scale_to_original_pixels():
    loc = localization_from_text(
        "<think>x</think><answer>[100,250,500,1000]</answer>", (200, 400), (192, 416), "norm1000"
    )
    np.testing.assert_allclose(loc.boxes_xyxy_px, [[40.0, 50.0, 200.0, 200.0]])


def test_boxes_are_clipped_and_empty_ones_dropped():
    text = "<think>x</think><answer>[[-50,-50,100,100],[2000,2000,3000,3000]]</answer>"
    loc = localization_from_text(text, (100, 100), (100, 100), "resized_px")
    np.testing.assert_allclose(loc.boxes_xyxy_px, [[0, 0, 100, 100]])
    assert loc.n_dropped == 1


@pytest.mark.parametrize("text", ["garbage", "", None, "<think>x</think><answer>[]</answer>"])
def test_unparsable_or_empty_text_gives_no_boxes(text):
    loc = localization_from_text(text, (50, 60), (56, 56), "resized_px")
    assert loc.boxes_xyxy_px.shape == (0, 4) and loc.n_dropped == 0


# --- locate: real images through the tiny models ------------------------------------------------


@pytest.mark.parametrize(("arch", "factor"), [("qwen2_5_vl", 28), ("qwen3_vl", 32)])
def test_locate_on_a_real_sample(policies, dior, arch, factor):
    image, query = dior
    policy = policies[arch]
    assert policy.weights == "random" and policy.arch == arch
    h, w = image.height, image.width
    crop = image.rgb[:300, :500]  # a second, differently sized image in the same batch
    locs = policy.locate([image, crop], [query, "the harbour"], max_new_tokens=6)
    assert len(locs) == 2 and all(isinstance(loc, Localization) for loc in locs)
    min_px = policy.processor.image_processor.size["shortest_edge"]
    for loc, (oh, ow) in zip(locs, [(h, w), (300, 500)], strict=True):
        assert loc.original_hw == (oh, ow)
        assert loc.model_input_hw == smart_resize(oh, ow, factor, min_px, SMALL)
        assert loc.model_input_hw[0] * loc.model_input_hw[1] <= SMALL
        assert isinstance(loc.text, str)
        b = loc.boxes_xyxy_px
        assert b.ndim == 2 and b.shape[1] == 4
        assert np.all(b[:, [0, 2]] >= 0) and np.all(b[:, [0, 2]] <= ow)
        assert np.all(b[:, [1, 3]] >= 0) and np.all(b[:, [1, 3]] <= oh)


def test_build_inputs_records_the_size_the_processor_used(policies, dior):
    image, query = dior
    policy = policies["qwen2_5_vl"]
    inputs, original, resized = policy.build_inputs(
        [image.rgb, image.rgb[:100, :300]], [query, "x"]
    )
    grid = inputs["image_grid_thw"].tolist()
    assert [(gh * 14, gw * 14) for _, gh, gw in grid] == resized
    assert original == [(image.height, image.width), (100, 300)]
    assert inputs["pixel_values"].shape[0] == sum(t * gh * gw for t, gh, gw in grid)
    # left padding: every row ends with the assistant header, padding sits on the left
    assert (inputs["attention_mask"][:, -1] == 1).all()
    assert inputs["attention_mask"][1, 0] == 0 or inputs["attention_mask"][0, 0] == 0


def test_locate_chunks_and_validates(policies, dior):
    image, _ = dior
    policy = policies["qwen3_vl"]
    locs = policy.locate([image.rgb] * 3, ["a", "b", "c"], max_new_tokens=2, batch_size=2)
    assert len(locs) == 3
    torch.manual_seed(0)
    sampled = policy.locate(
        [image.rgb] * 2, ["a", "a"], max_new_tokens=8, do_sample=True, temperature=0.9
    )
    assert len(sampled) == 2
    assert policy.locate([], []) == []
    with pytest.raises(ValueError, match="queries"):
        policy.locate([image.rgb], ["a", "b"])
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        policy.locate([np.zeros((10, 10, 3), dtype=np.float32)], ["a"])


def test_constructor_wraps_a_loaded_model(policies):
    loaded = policies["qwen3_vl"]
    policy = Policy(loaded.model, loaded.processor, arch="qwen3_vl")
    assert (policy.frame, policy.weights) == ("norm1000", "random")
    assert policy.model_name == loaded.model_name
    with pytest.raises(ValueError, match="unsupported arch"):
        Policy(loaded.model, loaded.processor, arch="llava")


def test_missing_model_raises(tmp_path):
    with pytest.raises(ModelLoadError):
        Policy.from_pretrained(tmp_path / "missing")


def test_lora_adapter_loads_and_changes_outputs(tiny_qwen25vl_dir, tmp_path, dior):
    from peft import LoraConfig, PeftModel, get_peft_model

    base = Policy.from_pretrained(tiny_qwen25vl_dir, max_pixels=SMALL, device="cpu")
    cfg = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )  # random B, so the adapter is not the identity
    torch.manual_seed(0)
    peft_model = get_peft_model(base.model, cfg)
    peft_model.save_pretrained(tmp_path / "adapter")

    fresh_base = Policy.from_pretrained(tiny_qwen25vl_dir, max_pixels=SMALL, device="cpu")
    adapted = Policy.from_pretrained(
        tiny_qwen25vl_dir, adapter=tmp_path / "adapter", max_pixels=SMALL, device="cpu"
    )
    assert isinstance(adapted.model, PeftModel)
    image, query = dior
    inputs, _, _ = adapted.build_inputs([image.rgb], [query])
    with torch.no_grad():
        la = adapted.model(**inputs).logits
        lp = peft_model.eval()(**inputs).logits
        lb = fresh_base.model(**inputs).logits
    torch.testing.assert_close(la, lp)
    assert not torch.allclose(la, lb)
    assert len(adapted.locate([image.rgb], [query], max_new_tokens=2)) == 1
    # the verifier accepts the same adapter (a peft model) through from_pretrained
    from georeason.models.verifier import LocalVerifier

    verifier = LocalVerifier.from_pretrained(tiny_qwen25vl_dir, adapter=tmp_path / "adapter")
    assert isinstance(verifier.model, PeftModel)
    (conf,) = verifier.score([Image.fromarray(image.rgb[:64, :64])], [query])
    assert 0.0 <= conf <= 1.0


def test_batched_greedy_equals_one_at_a_time(policies, dior):
    """Left padding with the right attention mask/positions: batching must not change outputs."""
    image, query = dior
    policy = policies["qwen2_5_vl"]
    images, queries = [image.rgb, image.rgb[:200, :420]], [query, "the largest building"]
    batched = policy.locate(images, queries, max_new_tokens=6)
    single = [
        policy.locate([im], [q], max_new_tokens=6)[0] for im, q in zip(images, queries, strict=True)
    ]
    assert [b.text for b in batched] == [s.text for s in single]
    assert [b.model_input_hw for b in batched] == [s.model_input_hw for s in single]


def test_policy_prompt_template_reaches_the_chat_prompt(tiny_qwen3vl_dir):
    policy = Policy.from_pretrained(
        tiny_qwen3vl_dir, device="cpu", max_pixels=65536, prompt_template="Find {query}"
    )
    text = policy.prompt_text("the pool")
    assert "Find the pool" in text and "step by step" not in text
    assert "step by step" in Policy.from_pretrained(tiny_qwen3vl_dir, device="cpu").prompt_text("x")
    with pytest.raises(ValueError, match="needs the field"):
        Policy(policy.model, policy.processor, "qwen3_vl", prompt_template="Find it")


def test_cli_prompt_template_is_checked_and_used(tmp_path, tiny_qwen3vl_dir, capsys):
    from georeason.cli import main

    img = str(SAMPLES_DIR / sample_records()[0]["image"])
    base = ["locate", img, "the pool", "--model", str(tiny_qwen3vl_dir), "--out", str(tmp_path)]
    assert main([*base, "--prompt-template", "no field here"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--prompt-template" in err[0] and "{query}" in err[0]
    argv = ["eval", "--dataset", "jsonl", "--model", str(tiny_qwen3vl_dir), "--limit", "1"]
    out = tmp_path / "ev"
    argv += ["--out", str(out), "--max-new-tokens", "4", "--no-progress"]
    assert main([*argv, "--prompt-template", "Find {query}", "--max-pixels", "65536"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["predictor"]["prompt_template"] == "Find {query}"

"""Tiny random-weight models: written offline, loaded through the same code as real checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from georeason.errors import ModelLoadError, UserInputError
from georeason.models import loading, tiny

ARCH_FIXTURES = [("qwen2_5_vl", "tiny_qwen25vl_dir"), ("qwen3_vl", "tiny_qwen3vl_dir")]


@pytest.fixture(scope="module")
def loaded(request, tiny_qwen25vl_dir, tiny_qwen3vl_dir):
    return {
        "qwen2_5_vl": loading.load_model_and_processor(tiny_qwen25vl_dir, device="cpu"),
        "qwen3_vl": loading.load_model_and_processor(tiny_qwen3vl_dir, device="cpu"),
    }


@pytest.mark.parametrize(("arch", "fixture"), ARCH_FIXTURES)
def test_folder_is_small_and_marked_random(arch, fixture, request):
    folder = request.getfixturevalue(fixture)
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "georeason.json"} <= names
    assert sum(p.stat().st_size for p in folder.iterdir()) < 5_000_000
    marker = json.loads((folder / "georeason.json").read_text())
    assert marker["georeason_random_weights"] is True and marker["arch"] == arch
    assert loading.read_weights_kind(folder) == "random"
    assert loading.read_arch(folder) == arch


@pytest.mark.parametrize(
    ("arch", "frame", "patch"), [("qwen2_5_vl", "resized_px", 14), ("qwen3_vl", "norm1000", 16)]
)
def test_loads_with_arch_frame_and_real_patch_size(loaded, arch, frame, patch):
    lm = loaded[arch]
    assert (lm.arch, lm.frame, lm.weights) == (arch, frame, "random")
    assert lm.model.config.model_type == arch
    assert not lm.model.training
    text_cfg = lm.model.config.text_config
    head_dim = (
        getattr(text_cfg, "head_dim", None) or text_cfg.hidden_size // text_cfg.num_attention_heads
    )
    assert sum(text_cfg.rope_parameters["mrope_section"]) == head_dim // 2
    ip = lm.processor.image_processor
    assert (ip.patch_size, ip.merge_size) == (patch, 2)
    assert ip.patch_size * ip.merge_size == loading.FACTOR_BY_ARCH[arch]


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_processor_keeps_images(loaded, arch):
    """The video-less processor must produce pixel_values and one <|image_pad|> per merged patch."""
    proc = loaded[arch].processor
    assert isinstance(proc, loading.processor_class_for(arch))
    assert not hasattr(proc, "video_processor")
    img = Image.fromarray(np.zeros((100, 150, 3), dtype=np.uint8))
    text = "<|vision_start|><|image_pad|><|vision_end|>hi"
    out = proc(text=[text], images=[img], return_tensors="pt")
    assert "pixel_values" in out and out["pixel_values"].shape[0] > 0
    t, gh, gw = out["image_grid_thw"][0].tolist()
    pad_id = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((out["input_ids"] == pad_id).sum()) == t * gh * gw // 4
    assert pad_id == loaded[arch].model.config.image_token_id


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_autoprocessor_returns_the_image_only_processor(arch, request):
    """TRL loads processors with AutoProcessor; it must get a VLM processor, not a tokenizer."""
    from transformers import AutoProcessor, ProcessorMixin

    folder = request.getfixturevalue(dict(ARCH_FIXTURES)[arch])
    proc = AutoProcessor.from_pretrained(str(folder))
    assert isinstance(proc, ProcessorMixin)
    assert isinstance(proc, loading.processor_class_for(arch))


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_yes_no_and_special_tokens(loaded, arch):
    tok = loaded[arch].processor.tokenizer
    for word in ("Yes", "No", "yes", "no"):
        assert len(tok.encode(word, add_special_tokens=False)) == 1
    for special in tiny.QWEN_SPECIAL_TOKENS:
        assert tok.encode(special, add_special_tokens=False) == [tok.convert_tokens_to_ids(special)]
    assert tok.eos_token == "<|im_end|>"
    assert loaded[arch].model.config.text_config.vocab_size >= len(tok)
    # the tiny BPE knows the answer format well enough to round-trip it
    text = "<think>a</think><answer>[[12,34,56,78]]</answer>"
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_forward_with_image_runs_and_is_seeded(tiny_qwen3vl_dir, tmp_path, loaded):
    lm = loaded["qwen3_vl"]
    again = tiny.make_tiny(tmp_path / "again", arch="qwen3_vl", seed=0)
    other = tiny.make_tiny(tmp_path / "other", arch="qwen3_vl", seed=1)
    from safetensors.torch import load_file

    a = load_file(tiny_qwen3vl_dir / "model.safetensors")
    b = load_file(again / "model.safetensors")
    c = load_file(other / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)

    img = Image.fromarray(np.full((64, 64, 3), 128, dtype=np.uint8))
    text = lm.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    inputs = lm.processor(text=[text], images=[img], return_tensors="pt")
    with torch.no_grad():
        logits = lm.model(**inputs).logits
    assert logits.shape[:2] == inputs["input_ids"].shape
    assert torch.isfinite(logits).all()


def test_make_tiny_rejects_unknown_arch(tmp_path):
    with pytest.raises(UserInputError, match="unknown arch"):
        tiny.make_tiny(tmp_path / "x", arch="llava")


def test_cli_make_tiny(tmp_path, capsys):
    from georeason.cli import main

    assert main(["make-tiny", str(tmp_path / "m"), "--arch", "qwen2_5_vl", "--seed", "3"]) == 0
    captured = capsys.readouterr()
    assert "RANDOM" in captured.err
    assert json.loads((tmp_path / "m" / "georeason.json").read_text())["seed"] == 3
    with pytest.raises(SystemExit) as exc:
        main(["make-tiny", str(tmp_path / "n"), "--arch", "llava"])
    assert exc.value.code == 2


def test_missing_folder_raises_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        loading.load_model_and_processor(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        loading.load_model_and_processor(tmp_path / "empty")


def test_unsupported_model_type_raises(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava"}))
    with pytest.raises(ModelLoadError, match="not supported"):
        loading.load_model_and_processor(tmp_path)


def test_uncached_hub_id_fails_fast_when_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="not in the local cache"):
        loading.resolve_checkpoint("Qwen/Qwen2.5-VL-7B-Instruct-does-not-exist")


def test_bad_adapter_folder_raises(tiny_qwen25vl_dir, tmp_path):
    with pytest.raises(ModelLoadError, match="adapter_config.json"):
        loading.load_model_and_processor(tiny_qwen25vl_dir, adapter=tmp_path, device="cpu")


def test_pixel_budget_is_set_on_the_processor(tiny_qwen25vl_dir):
    proc = loading.load_processor(tiny_qwen25vl_dir, max_pixels=802_816, min_pixels=1000)
    assert proc.image_processor.size["longest_edge"] == 802_816
    assert proc.image_processor.size["shortest_edge"] == 1000
    assert proc.tokenizer.padding_side == "left"
    with pytest.raises(ValueError, match="min_pixels"):
        loading.load_processor(tiny_qwen25vl_dir, max_pixels=100, min_pixels=1000)


def _as_hub_layout(src, dst, arch):
    """Rewrite a tiny folder into the file layout of the published checkpoints."""
    import shutil

    shutil.copytree(src, dst)
    ip = json.loads((dst / "processor_config.json").read_text())["image_processor"]
    name = {"qwen2_5_vl": "Qwen2_5_VLProcessor", "qwen3_vl": "Qwen3VLProcessor"}[arch]
    ip["processor_class"] = name
    if arch == "qwen2_5_vl":  # Qwen2.5-VL-7B-Instruct: min/max_pixels keys, slow processor type
        size = ip.pop("size")
        ip.update(min_pixels=size["shortest_edge"], max_pixels=size["longest_edge"])
        ip["image_processor_type"] = "Qwen2VLImageProcessor"
    else:  # Qwen3-VL-8B-Instruct: size dict, fast (torchvision) processor type
        ip["image_processor_type"] = "Qwen2VLImageProcessorFast"
    (dst / "preprocessor_config.json").write_text(json.dumps(ip))
    (dst / "video_preprocessor_config.json").write_text(
        json.dumps({"processor_class": name, "patch_size": ip["patch_size"]})
    )
    tok_cfg = json.loads((dst / "tokenizer_config.json").read_text())
    tok_cfg["processor_class"] = name
    (dst / "tokenizer_config.json").write_text(json.dumps(tok_cfg))
    (dst / "processor_config.json").unlink()
    (dst / "georeason.json").unlink()
    return dst


@pytest.mark.parametrize(("arch", "fixture"), ARCH_FIXTURES)
def test_hub_checkpoint_layout_loads_without_torchvision(arch, fixture, request, tmp_path):
    folder = _as_hub_layout(request.getfixturevalue(fixture), tmp_path / "hub", arch)
    lm = loading.load_model_and_processor(folder, max_pixels=802_816, device="cpu")
    assert lm.weights == "pretrained" and lm.arch == arch
    assert isinstance(lm.processor, loading.processor_class_for(arch))
    assert type(lm.processor.image_processor).__name__ == "Qwen2VLImageProcessorPil"
    assert lm.processor.image_processor.size["longest_edge"] == 802_816
    img = Image.fromarray(np.zeros((56, 84, 3), dtype=np.uint8))
    out = lm.processor(
        text=["<|vision_start|><|image_pad|><|vision_end|>"], images=[img], return_tensors="pt"
    )
    assert "pixel_values" in out

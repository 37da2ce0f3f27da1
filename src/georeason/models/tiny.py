"""Tiny random-weight Qwen-VL checkpoints, built offline in seconds, for tests and CPU smoke runs.

:func:`make_tiny` writes a folder that loads through exactly the same code as a real checkpoint
(:func:`georeason.models.loading.load_model_and_processor`): ``config.json``, ``model.safetensors``,
a byte-level BPE tokenizer trained here with the ``tokenizers`` library and wrapped as the Qwen2
tokenizer (with the Qwen special tokens and an image-capable chat template), the image processor
config of the real architecture (same patch size, merge size, mean/std), and a ``georeason.json``
marker saying the weights are random. **A tiny model's outputs are noise**; it exists to exercise
wiring (shapes, frames, batching, saving/loading), never to produce results.

What is kept from the real architectures (so frame and resize logic is the real one):
Qwen2.5-VL patch 14 / merge 2 / temporal patch 2 (resize factor 28, CLIP mean/std);
Qwen3-VL patch 16 / merge 2 / temporal patch 2 (resize factor 32, mean/std 0.5).
What is shrunk (ours): hidden size 64, 2 text layers, 4 heads (head_dim 16, so the M-RoPE
``mrope_section`` sums to 8 = head_dim/2), vision depth 2 with hidden size 32, a BPE
vocabulary of ~700 tokens learnt from a small built-in corpus (capped at 1,536), embedding
padded to a multiple of 64. The chat template is Qwen2-VL's for both architectures (the real
Qwen3-VL template differs only in not adding a default system turn).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from georeason.errors import UserInputError
from georeason.models.processors import processor_class_for, write_marker

Arch = Literal["qwen2_5_vl", "qwen3_vl"]
ARCHS: tuple[str, ...] = ("qwen2_5_vl", "qwen3_vl")

#: Qwen special tokens, in the order of the real vocabulary (Qwen2.5-VL / Qwen3-VL).
QWEN_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: Words that must be single tokens of the tiny tokenizer (the verifier reads their logits).
SINGLE_TOKEN_WORDS: tuple[str, ...] = ("Yes", "No", "yes", "no", " Yes", " No", " yes", " no")

#: Chat template of the Qwen2-VL / Qwen2.5-VL family (images and videos as content items).
QWEN_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_HIDDEN = 64  # text hidden size (ours: tiny)
_HEADS = 4  # text attention heads -> head_dim 16
_HEAD_DIM = _HIDDEN // _HEADS
_MROPE_SECTION = [2, 3, 3]  # temporal, height, width; must sum to head_dim / 2 = 8
_VOCAB_TARGET = 1536  # BPE vocabulary before special tokens (ours: small but covers the prompts)

ARCH_IMAGE = {
    # Values of the real checkpoints' preprocessor_config.json (Qwen2.5-VL-7B / Qwen3-VL-8B).
    "qwen2_5_vl": {
        "patch_size": 14,
        "merge_size": 2,
        "temporal_patch_size": 2,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "min_pixels": 3136,
        "max_pixels": 12845056,
    },
    "qwen3_vl": {
        "patch_size": 16,
        "merge_size": 2,
        "temporal_patch_size": 2,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "min_pixels": 65536,
        "max_pixels": 16777216,
    },
}


def _corpus() -> list[str]:
    """Small built-in corpus: prompt words, digits, brackets, tags, yes/no (for a usable BPE)."""
    from georeason import prompts

    lines = [
        prompts.policy_prompt("the storage tanks near the harbour", frame="resized_px"),
        prompts.policy_prompt("where could victims be resettled after the earthquake?", "norm1000"),
        prompts.verifier_prompt("a tennis court next to the swimming pool"),
        "<think>The query asks for an open area; the playground is flat and free.</think>"
        "<answer>[[12,34,56,78],[100,200,300,400]]</answer>",
        "<think>No such object is visible.</think><answer>[]</answer>",
        "<think>One airplane at the apron.</think><answer>[415,62,598,233]</answer>",
        "Yes No yes no Yes. No. YES NO",
        "You are a helpful assistant.",
        "0 1 2 3 4 5 6 7 8 9 10 100 1000 [ ] [[ ]] , ( ) { } : ; . ? ! \" ' - _ / \\ < > =",
        "airplane airport bridge building car chimney dam expressway field golf course ground "
        "track "
        "harbor overpass ship stadium storage tank tennis court train station vehicle windmill "
        "river road roof tree forest water farmland parking lot pool playground basketball",
        "image region request match box boxes pixel pixels coordinate coordinates width height "
        "reasoning answer think output format integer integers normalised normalized target query",
    ]
    lines += [f"Yes {w}" for w in ("the", "it", "a")] + [f"No {w}" for w in ("the", "it", "a")]
    return lines * 20 + ["Yes", "No", "yes", "no"] * 200


def build_tokenizer(extra_corpus: Sequence[str] = ()):  # -> transformers.Qwen2Tokenizer
    """Train a byte-level BPE offline and wrap it as ``transformers.Qwen2Tokenizer``.

    ``extra_corpus``: further lines to learn merges from (e.g. the toy world's queries, so that
    its words become single tokens); empty by default (the built-in corpus only).

    The pre-tokenizer is Qwen2's (digits split one by one, GPT-2 byte level), the Qwen special
    tokens are added after the BPE vocabulary, and the chat template is the Qwen2-VL one.

    Returns:
        A ``Qwen2Tokenizer`` in which each of :data:`SINGLE_TOKEN_WORDS` is one token.

    Raises:
        RuntimeError: if a word of :data:`SINGLE_TOKEN_WORDS` did not become a single token.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AddedToken
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=_VOCAB_TARGET,
        min_frequency=1,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus() + list(extra_corpus), trainer=trainer)
    state = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    tok = Qwen2Tokenizer(vocab=state["vocab"], merges=merges)
    tok.add_special_tokens(
        {"additional_special_tokens": [AddedToken(t, special=True) for t in QWEN_SPECIAL_TOKENS]}
    )
    tok.eos_token = "<|im_end|>"  # as in the Instruct checkpoints: a turn ends generation
    tok.pad_token = "<|endoftext|>"
    tok.chat_template = QWEN_VL_CHAT_TEMPLATE
    for word in SINGLE_TOKEN_WORDS:
        ids = tok.encode(word, add_special_tokens=False)
        if len(ids) != 1:
            raise RuntimeError(f"tiny tokenizer splits {word!r} into {len(ids)} tokens")
    return tok


def _config(arch: str, tok):  # -> PretrainedConfig
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    vocab_size = len(tok)
    vocab_size += (-vocab_size) % 64  # pad the embedding like real checkpoints (ours: 64)
    text = {
        "vocab_size": vocab_size,
        "hidden_size": _HIDDEN,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": _HEADS,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": list(_MROPE_SECTION),
        },
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    special = {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }
    img = ARCH_IMAGE[arch]
    if arch == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig

        vision = {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "patch_size": img["patch_size"],
            "spatial_merge_size": img["merge_size"],
            "temporal_patch_size": img["temporal_patch_size"],
            "window_size": 112,
            "out_hidden_size": _HIDDEN,
            "fullatt_block_indexes": [1],
        }
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **special)
    from transformers import Qwen3VLConfig

    text["head_dim"] = _HEAD_DIM
    text["rope_parameters"]["mrope_interleaved"] = True
    vision = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "patch_size": img["patch_size"],
        "spatial_merge_size": img["merge_size"],
        "temporal_patch_size": img["temporal_patch_size"],
        "out_hidden_size": _HIDDEN,
        "num_position_embeddings": 64,
        "deepstack_visual_indexes": [0],
    }
    return Qwen3VLConfig(text_config=text, vision_config=vision, **special)


def make_tiny(out_dir: str | Path, arch: Arch = "qwen2_5_vl", seed: int = 0) -> Path:
    """Write a loadable random-weight Qwen-VL model folder (offline, a few seconds, a few MB).

    Args:
        out_dir: folder to create (or overwrite files in).
        arch: ``"qwen2_5_vl"`` (answers in resized pixels) or ``"qwen3_vl"`` (answers in 0..1000).
        seed: torch seed for the random weights; the same seed gives the same weights.

    Returns:
        The folder path. It holds ``config.json``, ``model.safetensors``, tokenizer files,
        ``preprocessor_config.json``, ``chat_template.jinja`` (or equivalent) and
        ``georeason.json`` with ``{"georeason_random_weights": true, "arch": ...}``.

    Raises:
        UserInputError: on an unknown ``arch`` or if ``out_dir`` is an existing file.
    """
    if arch not in ARCHS:
        raise UserInputError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)

    tok = build_tokenizer()
    return save_random_model(out, arch, _config(arch, tok), tok, seed, "georeason make-tiny")


def save_random_model(
    out: Path,
    arch: str,
    config: Any,
    tokenizer: Any,
    seed: int = 0,
    created_by: str = "georeason make-tiny",
    max_pixels: int | None = None,
    min_pixels: int | None = None,
) -> Path:
    """Instantiate ``config`` with random weights (seeded) and save it as a loadable folder.

    Writes the model, the image-only processor (the real checkpoint's image settings for
    ``arch``, pixel budget ``min_pixels`` / ``max_pixels`` if given) with ``tokenizer`` and the
    chat template, and the ``georeason.json`` marker saying the weights are random. Shared by
    :func:`make_tiny` and the toy-world experiment's wider models.
    """
    import torch
    from transformers import Qwen2VLImageProcessorPil

    img = ARCH_IMAGE[arch]
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=img["patch_size"],
        merge_size=img["merge_size"],
        temporal_patch_size=img["temporal_patch_size"],
        image_mean=img["image_mean"],
        image_std=img["image_std"],
        size={
            "shortest_edge": min_pixels or img["min_pixels"],
            "longest_edge": max_pixels or img["max_pixels"],
        },
    )
    processor = processor_class_for(arch)(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=QWEN_VL_CHAT_TEMPLATE
    )
    if arch == "qwen2_5_vl":
        from transformers import Qwen2_5_VLForConditionalGeneration as model_cls
    else:
        from transformers import Qwen3VLForConditionalGeneration as model_cls
    torch.manual_seed(seed)
    model = model_cls(config).to(torch.float32).eval()
    model.generation_config.eos_token_id = [config.text_config.eos_token_id]
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a one-shard save needs no "Writing model shards" bar
    try:
        model.save_pretrained(out)
        processor.save_pretrained(out)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    write_marker(out, True, arch, created_by, seed=int(seed))
    return out

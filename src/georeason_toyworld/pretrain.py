"""Toy-world "pretraining": a small Qwen3-VL (:data:`TOY_ARCH`) learns the answer format,
grounding of plain referring expressions and yes/no verification of crops (the Hand and the
Eye) from scratch.

This is the analogue of a real MLLM's pretraining in the RemoteZero experiment (ours, not from a
paper). Three kinds of supervised examples, mixed in every step, one next-token loss on the
answer tokens only (plain PyTorch loop, full fine-tuning, AdamW):

* **Hand** (policy format): the full image and a *plain* referring expression ("the blue pool")
  with the toy policy prompt (:data:`TOY_POLICY_TEMPLATE`); target
  ``<think>a pool</think><answer>[[x1,y1,x2,y2]]</answer>`` with the box in the model frame
  of the architecture (0-1000 for Qwen3-VL, resized pixels for Qwen2.5-VL). The short
  reasoning names the category the expression refers to (ours: a one-phrase chain keeps
  completions within 32 tokens).
* **Eye** (verifier format, :func:`georeason.prompts.verifier_prompt`): the RemoteZero context
  crop (:func:`georeason.verifier_inputs.crop_for_verifier`, margin 0.15) of a jittered box
  and a text (plain or implicit, train wordings); target ``Yes`` if the jittered box has
  IoU >= 0.6 with the text's object, ``No`` for crops of other objects and random boxes with
  IoU < 0.25 that do not contain the object's centre (ours: crops that merely contain the
  object among others are left unlabelled, so the Eye's view of large boxes is not taught).
* **Caption** (auxiliary Eye examples, ours, :attr:`PretrainConfig.caption_batch`): the context
  crop of a scene object (box jittered as for the Eye) with the question
  :data:`CAPTION_QUESTION`; target the category's noun (``"swimming pool"``). Without them
  (and with lr 2e-3) the from-scratch Eye stayed at the yes/no prior (loss ln 2 / 2) and
  ignored the crop: the yes/no match of a crop and a text is a conjunction of two features
  (crop category, text category) that the binary loss alone barely teaches; naming the crop
  teaches the crop features directly (probes of 2026-11-22 in
  ``docs/toyworld/runs_2026-11-23_free_layout/README.md``).

**No implicit query is ever paired with a box**: implicit texts appear only in Eye examples
(image-text alignment of a crop), as the issue's premise requires.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from georeason.geometry import box_iou_matrix
from georeason.prompts import policy_messages, verifier_messages
from georeason.verifier_inputs import crop_for_verifier, verifier_images
from georeason_toyworld.queries import (
    IMPLICIT_QUERIES,
    NEUTRAL_FRAMES,
    NEUTRAL_WORDS,
    NOUNS,
    PLAIN_TEMPLATES,
    POSITION_PHRASES,
    neutral_query,
)
from georeason_toyworld.scenes import CATEGORIES, PALETTES

#: Architecture of the toy models (ours): Qwen3-VL, because its vision tower adds a learned
#: absolute position embedding to every patch, so a visual token's *value* says where it is.
#: Qwen2.5-VL encodes position only through rotary phases (in the attention scores, not in the
#: values), and its from-scratch toy Hand never learned to write coordinates (0 % Acc@0.5 on
#: plain expressions after 400-800 SFT steps; ``docs/toyworld/runs_2026-11-23_free_layout/``).
TOY_ARCH = "qwen3_vl"
#: Pixel budgets (min, max) of the toy models per architecture (ours). Qwen3-VL: a 112 px scene
#: becomes 128 x 128 (8 x 8 patches of 16 px, 16 visual tokens after the 2 x 2 merge); crops are
#: upscaled to at least 64 x 64 (4 visual tokens). Qwen2.5-VL: 112 x 112 (16 tokens), crops at
#: least 56 x 56.
TOY_PIXEL_BUDGET: dict[str, tuple[int, int]] = {
    "qwen2_5_vl": (56 * 56, 112 * 112),
    "qwen3_vl": (64 * 64, 224 * 224),
}
#: Max pixel budget of the toy models (:data:`TOY_ARCH`), passed to every loader.
TOY_MAX_PIXELS = TOY_PIXEL_BUDGET[TOY_ARCH][1]
#: Policy prompt template of the toy world (ours): the query and a one-line format reminder
#: instead of :data:`georeason.prompts.POLICY_TEMPLATE`, so that a Hand example has about 115
#: tokens instead of about 240 (answer and 16 image tokens included), which roughly halves the
#: cost of SFT and GRPO steps on CPU. Used by pretraining, GRPO (``prompt_template`` of the
#: train config) and evaluation alike.
TOY_POLICY_TEMPLATE = (
    "{query}\nThink, then give its box: <think>...</think><answer>[[x1,y1,x2,y2]]</answer>"
)
#: Context margin of the Eye's crops (RemoteZero's 15% padding, as in the reward).
EYE_MARGIN = 0.15
#: Query of the think-grounding examples (ours; see :attr:`PretrainConfig.ground_batch`): it
#: names no category and implies none, so the box can only follow the reasoning's noun.
GROUND_QUERY = "Pick one object of this scene."
#: Query of the scene-listing examples (ours; see :attr:`PretrainConfig.detect_batch`).
DETECT_QUERY = "List every object of this scene."
#: Question of the auxiliary caption examples (ours; see :func:`caption_examples`).
CAPTION_QUESTION = "What object is in this image region?"


@dataclass(frozen=True)
class ToyModelSize:
    """Width and depth of a toy Qwen-VL (ours: learnable on CPU in minutes).

    Attributes:
        hidden: text hidden size (head_dim 32, so heads = hidden / 32).
        layers: text decoder layers.
        vision_hidden: vision tower width.
        vision_depth: vision tower blocks.
        vision_pos_init: ``"sincos"`` (default, ours): the vision tower's learned absolute
            position table starts as a 2D sine-cosine table with unit standard deviation
            (:func:`sincos_position_table`); ``"random"``: transformers' init (std 0.02).
            With ``"random"`` the patch features (std ~1) drown the positions (std 0.02): a
            linear probe on the visual tokens of a pretrained toy policy recovered a token's
            grid cell 8 % of the time (chance 6 %) but its category 97 %, and the Hand could
            not localise (``docs/toyworld/README.md``, 2026-12-01).
    """

    hidden: int = 128
    layers: int = 3
    vision_hidden: int = 64
    vision_depth: int = 2
    vision_pos_init: str = "sincos"


def sincos_position_table(grid: int, dim: int) -> np.ndarray:
    """A ``(grid * grid, dim)`` float32 2D sine-cosine position table, unit std (ours).

    Row ``r * grid + c`` encodes the cell ``(r, c)``: the first half of the channels encodes
    the row, the second half the column, each with ``dim / 4`` sine and cosine pairs at
    geometric frequencies (the MAE / ViT 2D sin-cos embedding), scaled to unit standard
    deviation so that it is as strong as the patch features it is added to.

    Raises:
        ValueError: if ``dim`` is not a multiple of 4.
    """
    if dim % 4:
        raise ValueError(f"dim must be a multiple of 4, got {dim}")
    quarter = dim // 4
    freqs = 1.0 / (100.0 ** (np.arange(quarter) / max(1, quarter)))  # (dim/4,)
    coords = np.arange(grid, dtype=np.float64)
    ang = coords[:, None] * freqs[None, :] * (np.pi / 2)  # (grid, dim/4)
    axis = np.concatenate([np.sin(ang), np.cos(ang)], axis=1)  # (grid, dim/2)
    rows = np.repeat(axis, grid, axis=0)  # (grid*grid, dim/2): row of each cell
    cols = np.tile(axis, (grid, 1))  # (grid*grid, dim/2): column of each cell
    table = np.concatenate([rows, cols], axis=1)
    table = (table - table.mean()) / (table.std() + 1e-8)
    return table.astype(np.float32)


def canonical_noun(category: str) -> str:
    """The noun the policy's reasoning names for a category (first of :data:`NOUNS`)."""
    return NOUNS[category][0]


def think_text(category: str) -> str:
    """The short reasoning chain of the Hand's SFT targets, e.g. ``"a swimming pool"``."""
    return f"a {canonical_noun(category)}"


def toy_corpus() -> list[str]:
    """Extra tokenizer corpus: every toy-world wording, so its words become single tokens."""
    lines = []
    for cat in CATEGORIES:
        for ws in IMPLICIT_QUERIES[cat].values():
            lines += list(ws)
        for noun in NOUNS[cat]:
            for colour in PALETTES[cat]:
                for ts in PLAIN_TEMPLATES.values():
                    for t in ts:
                        for where in POSITION_PHRASES.values():
                            lines.append(
                                t.format(noun=noun, colour=colour, size="large", where=where)
                            )
        lines.append(f"<think>{think_text(cat)}</think>")
    lines += [" ".join(ws) for ws in NEUTRAL_WORDS.values()] + list(NEUTRAL_FRAMES)
    lines += ["small large " * 5, "<answer>[[" + ",".join(str(i) for i in range(113)) + "]]"]
    lines += [f"in row {r}, column {c}" for r in range(1, 9) for c in range(1, 9)]
    return lines * 3


def make_toy_model(
    out_dir: str | Path,
    size: ToyModelSize = ToyModelSize(),
    seed: int = 0,
    arch: str = TOY_ARCH,
) -> Path:
    """Write a random-weight toy Qwen-VL folder with a tokenizer that knows the toy words.

    Same layout as :func:`georeason.models.tiny.make_tiny` (loads through
    :func:`georeason.models.loading.load_model_and_processor`), with a configurable width and a
    tokenizer trained on the tiny corpus plus :func:`toy_corpus`. The ``georeason.json`` marker
    says the weights are random; :func:`pretrain` rewrites it after training.

    ``arch``: ``"qwen3_vl"`` (default, :data:`TOY_ARCH`) or ``"qwen2_5_vl"``; the processor's
    pixel budget is :data:`TOY_PIXEL_BUDGET` of ``arch``.

    Raises:
        ValueError: if ``size.hidden`` is not a multiple of 32 or ``arch`` is unknown.
    """
    from transformers import Qwen2_5_VLConfig, Qwen3VLConfig

    from georeason.models.tiny import (
        ARCH_IMAGE,
        QWEN_SPECIAL_TOKENS,
        build_tokenizer,
        save_random_model,
    )

    if size.hidden % 32:
        raise ValueError(f"hidden must be a multiple of 32, got {size.hidden}")
    if arch not in TOY_PIXEL_BUDGET:
        raise ValueError(f"unknown toy arch {arch!r}; choose one of {sorted(TOY_PIXEL_BUDGET)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(toy_corpus())
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    vocab = len(tok) + (-len(tok)) % 64
    heads = size.hidden // 32
    text = {
        "vocab_size": vocab,
        "hidden_size": size.hidden,
        "intermediate_size": 4 * size.hidden,
        "num_hidden_layers": size.layers,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "max_position_embeddings": 4096,
        # head_dim 32: the M-RoPE sections must sum to head_dim / 2 = 16, else the first forward
        # fails in split_with_sizes
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": [4, 6, 6],
        },
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    img = ARCH_IMAGE[arch]
    special = {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }
    vision = {
        "depth": size.vision_depth,
        "hidden_size": size.vision_hidden,
        "intermediate_size": 2 * size.vision_hidden,
        "num_heads": 2,
        "patch_size": img["patch_size"],
        "spatial_merge_size": img["merge_size"],
        "temporal_patch_size": img["temporal_patch_size"],
        "out_hidden_size": size.hidden,
    }
    if arch == "qwen2_5_vl":
        vision.update(window_size=112, fullatt_block_indexes=[size.vision_depth - 1])
        config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, **special)
    else:
        text["head_dim"] = 32
        text["rope_parameters"]["mrope_interleaved"] = True
        # learned positions on a 14 x 14 grid (the patches of a 224 px input), interpolated
        vision.update(num_position_embeddings=196, deepstack_visual_indexes=[0])
        config = Qwen3VLConfig(text_config=text, vision_config=vision, **special)
    lo, hi = TOY_PIXEL_BUDGET[arch]
    out = save_random_model(out, arch, config, tok, seed, "toyworld", max_pixels=hi, min_pixels=lo)
    if arch == "qwen3_vl" and size.vision_pos_init == "sincos":
        from safetensors.torch import load_file, save_file

        path = out / "model.safetensors"
        state = load_file(path)
        key = "model.visual.pos_embed.weight"
        n, dim = state[key].shape
        grid = int(round(n**0.5))
        import torch

        state[key] = torch.from_numpy(sincos_position_table(grid, dim))
        save_file(state, path, metadata={"format": "pt"})
    elif size.vision_pos_init not in ("sincos", "random"):
        raise ValueError(
            f"vision_pos_init must be 'sincos' or 'random', not {size.vision_pos_init!r}"
        )
    return out


def grid_cell_of_box(
    box_xyxy_px: Sequence[float], image_side_px: float, cells: int
) -> tuple[int, int]:
    """``(column, row)``, 0-based, of the ``cells x cells`` grid cell that holds the centre of
    a box (xyxy, original pixels of a square image of side ``image_side_px``); clipped to the
    grid.

    Examples:
        >>> grid_cell_of_box([40, 2, 60, 30], 128, 4)
        (1, 0)
    """
    cx = (float(box_xyxy_px[0]) + float(box_xyxy_px[2])) / 2
    cy = (float(box_xyxy_px[1]) + float(box_xyxy_px[3])) / 2
    step = image_side_px / cells
    return min(cells - 1, max(0, int(cx // step))), min(cells - 1, max(0, int(cy // step)))


def cell_phrase(box_xyxy_px: Sequence[float], image_side_px: float, cells: int) -> str:
    """``"in row R, column C"`` (1-based) of the grid cell that holds the box centre
    (:func:`grid_cell_of_box`).

    Examples:
        >>> cell_phrase([40, 2, 60, 30], 128, 4)
        'in row 1, column 2'
    """
    col, row = grid_cell_of_box(box_xyxy_px, image_side_px, cells)
    return f"in row {row + 1}, column {col + 1}"


def hand_target(
    category: str,
    box_model_frame: Sequence[float],
    where: str | None = None,
    coord_digits: int = 0,
) -> str:
    """SFT target of a Hand example: ``<think>a pool</think><answer>[[x1,y1,x2,y2]]</answer>``.

    Args:
        box_model_frame: xyxy in the model frame (0-1000 for Qwen3-VL, resized pixels for
            Qwen2.5-VL), rounded to integers here.
        where: an optional location phrase appended to the reasoning
            (:func:`cell_phrase`, e.g. ``"in row 2, column 3"``).
        coord_digits: 0 (the models' own format: ``72``) or ``d``: every coordinate
            zero-padded to ``d`` digits and clipped to ``10**d - 1`` (``072``), so that the
            k-th digit token always has the same place value (ours; the parser reads both).

    Examples:
        >>> hand_target("pool", [72.4, 4, 927, 1000], coord_digits=3)
        '<think>a swimming pool</think><answer>[[072,004,927,999]]</answer>'
    """
    coords = [int(round(float(v))) for v in box_model_frame]
    if coord_digits:
        top = 10**coord_digits - 1
        text = ",".join(f"{min(max(c, 0), top):0{coord_digits}d}" for c in coords)
    else:
        text = ",".join(str(c) for c in coords)
    think = think_text(category) + (f" {where}" if where else "")
    return f"<think>{think}</think><answer>[[{text}]]</answer>"


def detect_target(objects: Sequence[dict[str, Any]], frame: str, image_hw: tuple[int, int]) -> str:
    """SFT target of a scene-listing example: every object in reading order (rows of box
    centres top to bottom in bands of a quarter of the image, then left to right), e.g.
    ``<think>a car, a tree</think><answer>[[x1,y1,x2,y2],[...]]</answer>`` (model frame)."""
    from georeason.geometry import boxes_to_model_frame

    h = image_hw[0]

    def key(o: dict[str, Any]) -> tuple[int, float]:
        b = o["box_xyxy_px"]
        return int(((b[1] + b[3]) / 2) // (h / 4)), (b[0] + b[2]) / 2

    ordered = sorted(objects, key=key)
    boxes = boxes_to_model_frame(
        np.asarray([o["box_xyxy_px"] for o in ordered], float), frame, image_hw, image_hw
    )
    think = ", ".join(think_text(o["category"]) for o in ordered)
    inner = ",".join("[" + ",".join(str(int(round(float(v)))) for v in b) + "]" for b in boxes)
    return f"<think>{think}</think><answer>[{inner}]</answer>"


def hand_example(
    image: Any,
    query: str,
    category: str,
    box_xyxy_px: Sequence[float],
    frame: str,
    think_cells: int = 0,
    coord_digits: int = 0,
) -> tuple[list[dict[str, Any]], str, Any]:
    """One Hand example ``(chat messages, target text, image)``: the toy policy prompt with
    ``query``, the answer :func:`hand_target` with the box (original pixels) in the model frame
    (``coord_digits`` as there) and, with ``think_cells``, the cell phrase in the reasoning."""
    from georeason.geometry import boxes_to_model_frame

    w, h = image.size
    box = boxes_to_model_frame(np.asarray([box_xyxy_px], float), frame, (h, w), (h, w))[0]
    where = cell_phrase(box_xyxy_px, w, think_cells) if think_cells else None
    messages = policy_messages(query, frame, TOY_POLICY_TEMPLATE)
    return messages, hand_target(category, box, where, coord_digits), image


def _jitter(box: Sequence[float], rng: np.random.Generator, scale: float, size: int) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    d = rng.normal(0.0, scale, 4) * np.array([w, h, w, h])
    nb = [x1 + d[0], y1 + d[1], x2 + d[2], y2 + d[3]]
    nb = [min(max(v, 0.0), float(size)) for v in nb]
    if nb[2] - nb[0] < 2 or nb[3] - nb[1] < 2:
        return [x1, y1, x2, y2]
    return nb


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    return float(box_iou_matrix(np.asarray([a], float), np.asarray([b], float))[0, 0])


def eye_examples(
    record: dict[str, Any], rng: np.random.Generator, n: int = 4, input_mode: str = "context_crop"
) -> list[tuple[Any, str, str]]:
    """``n`` verification examples ``(views, text, "Yes" | "No")`` from one pretrain record;
    ``views`` is the tuple of images the verifier sees of the box in ``input_mode``
    (:func:`georeason.verifier_inputs.verifier_images`: one context crop by default).

    Half positives (the target or, for its own texts, another object of the scene, box jittered
    to IoU >= 0.6), half negatives (another object's crop or a random box with IoU < 0.25 that
    does not contain the object's centre). Texts: the record's plain expression or an implicit
    query (train wordings) of the object's category, chosen at random.
    """
    image = record["image"]
    size = image.size[0]
    objects = record["objects"]
    target = record["boxes_xyxy_px"][0]
    tcat = record["target_category"]
    out: list[tuple[Any, str, str]] = []
    for k in range(n):
        # the text always describes the record's target (plain expression or implicit query)
        if rng.random() < 0.5:
            text = record["plain_query"]
        else:
            pool = IMPLICIT_QUERIES[tcat]["train"]
            text = pool[int(rng.integers(len(pool)))]
        if k % 2 == 0:  # positive
            box = _jitter(target, rng, 0.06, size)
            if _iou(box, target) < 0.6:
                box = list(target)
            label = "Yes"
        else:
            others = [o for o in objects if o["category"] != tcat]
            if others and rng.random() < 0.6:
                box = _jitter(
                    others[int(rng.integers(len(others)))]["box_xyxy_px"], rng, 0.06, size
                )
            else:
                box = None
                cx, cy = (target[0] + target[2]) / 2, (target[1] + target[3]) / 2
                for _ in range(20):
                    w, h = rng.uniform(0.09, 0.45, 2) * size  # 10-50 px at 112 px
                    x, y = rng.uniform(0, size - w), rng.uniform(0, size - h)
                    cand = [x, y, x + w, y + h]
                    inside = cand[0] <= cx <= cand[2] and cand[1] <= cy <= cand[3]
                    if _iou(cand, target) < 0.25 and not inside:
                        box = cand
                        break
                if box is None:
                    box = _jitter(objects[0]["box_xyxy_px"], rng, 0.0, size)
                    if objects[0]["category"] == tcat:
                        continue
            if _iou(box, target) >= 0.25:
                continue
            label = "No"
        views = verifier_images(image, box, input_mode, EYE_MARGIN, TOY_MAX_PIXELS)
        out.append((views, text, label))
    return out


def caption_messages() -> list[dict[str, Any]]:
    """Chat messages of a caption example: one user turn, the crop first, then the question."""
    return [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": CAPTION_QUESTION}]}
    ]


def caption_examples(
    record: dict[str, Any], rng: np.random.Generator, n: int = 2
) -> list[tuple[Any, str]]:
    """``n`` auxiliary caption examples ``(crop, noun)`` from one pretrain record (ours).

    Each crop is the Eye's context crop (margin :data:`EYE_MARGIN`) of a random object of the
    scene, its box (xyxy, original pixels) jittered as for the Eye's positives; the target is
    :func:`canonical_noun` of the object's category. No query of any kind is involved.
    """
    image = record["image"]
    size = image.size[0]
    objects = record["objects"]
    out: list[tuple[Any, str]] = []
    for _ in range(n):
        obj = objects[int(rng.integers(len(objects)))]
        box = _jitter(obj["box_xyxy_px"], rng, 0.06, size)
        out.append((crop_for_verifier(image, box, EYE_MARGIN), canonical_noun(obj["category"])))
    return out


@dataclass
class PretrainConfig:
    """SFT settings (all ours: chosen so the toy policy learns in a few CPU minutes).

    Attributes:
        steps: optimizer steps.
        hand_batch: Hand examples per step (0: an Eye-only model, e.g. the larger verifier).
        eye_batch: Eye examples per step (0: a Hand-only model, for probes).
        caption_batch: auxiliary caption examples per step (:func:`caption_examples`; 0: none).
            Without them (and with lr 2e-3) the Eye stayed at chance (2026-11-22 diagnosis).
            Batches 32 / 16 / 8 and lr 1e-3 since 2026-11-23 (with the Qwen3-VL toy model and
            the short toy prompt; probes in ``docs/toyworld/runs_2026-11-23_free_layout/``).
        ground_batch: think-grounding examples per step (ours; 0: none): the Hand's format
            with a neutral query (``ground_queries``), a random object of the scene named in the
            reasoning and its box as the answer. They teach the Hand to box *what its reasoning
            names*, so that RL which changes the reasoning moves the box with it. No implicit
            query is involved.
        ground_queries: ``"fixed"`` (default): every think-grounding example asks
            :data:`GROUND_QUERY`; ``"varied"``: a new
            :func:`georeason_toyworld.queries.neutral_query` each (ours). Varied queries are
            the default of the toy-world run: with them, on an implicit query the Hand names a
            different object of the scene from sample to sample, which RemoteZero needs
            (2026-12-02 probes in ``docs/toyworld/README.md``).
        detect_batch: scene-listing examples per step (ours; 0: none): the neutral
            :data:`DETECT_QUERY`, the reasoning names every object in reading order (rows top
            to bottom, then left to right, by box centre) and the answer lists their boxes in
            the same order: every object's position is supervised in every example (the
            grounding/detection data real MLLMs are pretrained on). No implicit query.
        think_cells: 0 (default: the reasoning names the category only) or the grid size
            ``n``: the Hand's reasoning also names the ``n x n`` grid cell of the target
            (:func:`cell_phrase`), a one-token-per-decision location step before the digits
            of the box (ours).
        coord_digits: 0 (default: coordinates as the models write them) or ``d``: the
            Hand's coordinates zero-padded to ``d`` digits (:func:`hand_target`; ours).
        eye_input: what the Eye's examples show of a box (:mod:`georeason.verifier_inputs`;
            default RemoteZero's context crop).
        lr: peak AdamW learning rate (linear warmup over 5% of the steps, cosine decay).
        weight_decay: AdamW weight decay.
        seed: torch / numpy seed of the example sampling.

    Raises:
        ValueError: if no Hand, Eye or caption examples are asked for (nothing to train).
    """

    steps: int = 1500
    hand_batch: int = 32
    eye_batch: int = 16
    caption_batch: int = 8
    ground_batch: int = 0
    ground_queries: str = "fixed"
    detect_batch: int = 0
    think_cells: int = 0
    coord_digits: int = 0
    eye_input: str = "context_crop"
    lr: float = 1e-3
    weight_decay: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.hand_batch or self.eye_batch or self.caption_batch):
            raise ValueError("PretrainConfig: hand_batch, eye_batch and caption_batch are all 0")
        if self.ground_queries not in ("fixed", "varied"):
            raise ValueError(
                f"PretrainConfig.ground_queries must be 'fixed' or 'varied', "
                f"got {self.ground_queries!r}"
            )


def _encode(processor, prompt_texts: list[str], answers: list[str], images: list[Any]):
    """Tokenise prompt + answer + ``<|im_end|>`` (right padding) with answer-only labels."""

    tok = processor.tokenizer
    full = [p + a + "<|im_end|>" for p, a in zip(prompt_texts, answers, strict=True)]
    old_side = tok.padding_side
    tok.padding_side = "right"
    try:
        batch = processor(text=full, images=images, padding=True, return_tensors="pt")
        prompt_only = processor(text=prompt_texts, images=images, padding=True, return_tensors="pt")
    finally:
        tok.padding_side = old_side
    labels = batch["input_ids"].clone()
    plen = prompt_only["attention_mask"].sum(1)
    for i in range(labels.shape[0]):
        labels[i, : int(plen[i])] = -100
    labels[batch["attention_mask"] == 0] = -100
    batch["labels"] = labels
    return batch


def pretrain(
    model_dir: str | Path,
    records: Sequence[dict[str, Any]],
    config: PretrainConfig,
    log_path: str | Path | None = None,
    progress: str | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Supervised pretraining of a toy model folder in place (module docstring: data, loss).

    Args:
        model_dir: a folder from :func:`make_toy_model` (weights are overwritten).
        records: ``build_split("pretrain", ...)`` records (plain expressions with boxes and
            ``objects``; the image is a 112 px RGB PIL image, boxes xyxy in original pixels).
        config: :class:`PretrainConfig`.
        log_path: JSONL of ``{"step", "loss", "hand_loss", "eye_loss", "caption_loss", "lr",
            "wall_s"}`` every 10 steps.
        progress: label of a tqdm progress bar (stderr, updated at most every 5 s); None: no bar.
        device: ``"cpu"`` or ``"cuda"`` (float32 either way).

    Returns:
        ``{"steps", "wall_s", "final_loss"}``.

    Raises:
        ValueError: if ``records`` is empty.
    """
    import torch

    from georeason.models.loading import (
        FRAME_BY_ARCH,
        load_model_and_processor,
        read_arch,
    )
    from georeason.models.processors import write_marker

    if not records:
        raise ValueError("pretraining needs records")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    arch = read_arch(model_dir)
    frame = FRAME_BY_ARCH[arch]
    lm = load_model_and_processor(model_dir, max_pixels=TOY_PIXEL_BUDGET[arch][1], device=device)
    model, processor = lm.model.train(), lm.processor
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    from transformers import get_cosine_schedule_with_warmup

    # linear warmup over 5 % of the steps, then cosine decay to 0 (transformers' schedule)
    schedule = get_cosine_schedule_with_warmup(opt, max(1, config.steps // 20), config.steps)

    def prompt(messages) -> str:
        return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    log = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
    start = time.perf_counter()
    losses: list[float] = []
    bar = None
    if progress is not None:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, desc=progress, unit="step", mininterval=5.0)
    for step in range(config.steps):
        idx = rng.integers(len(records), size=config.hand_batch)
        hand: list[tuple[list[dict[str, Any]], str, Any]] = []

        for i in idx:
            rec = records[int(i)]
            hand.append(
                hand_example(
                    rec["image"],
                    rec["query"],
                    rec["target_category"],
                    rec["boxes_xyxy_px"][0],
                    frame,
                    config.think_cells,
                    config.coord_digits,
                )
            )
        for _ in range(config.ground_batch):
            rec = records[int(rng.integers(len(records)))]
            obj = rec["objects"][int(rng.integers(len(rec["objects"])))]
            query = neutral_query(rng) if config.ground_queries == "varied" else GROUND_QUERY
            hand.append(
                hand_example(
                    rec["image"],
                    query,
                    obj["category"],
                    obj["box_xyxy_px"],
                    frame,
                    config.think_cells,
                    config.coord_digits,
                )
            )
        for _ in range(config.detect_batch):
            rec = records[int(rng.integers(len(records)))]
            img = rec["image"]
            w, h = img.size
            messages = policy_messages(DETECT_QUERY, frame, TOY_POLICY_TEMPLATE)
            hand.append((messages, detect_target(rec["objects"], frame, (h, w)), img))
        h_prompts = [prompt(m) for m, _, _ in hand]
        h_answers = [a for _, a, _ in hand]
        h_images = [im for _, _, im in hand]
        e_prompts, e_answers, e_images = [], [], []
        while len(e_prompts) < config.eye_batch:
            rec = records[int(rng.integers(len(records)))]
            for views, text, label in eye_examples(rec, rng, n=2, input_mode=config.eye_input):
                e_prompts.append(prompt(verifier_messages(text, config.eye_input)))
                e_answers.append(label)
                e_images.extend(views)
        c_prompts, c_answers, c_images = [], [], []
        c_text = prompt(caption_messages()) if config.caption_batch else ""
        while len(c_prompts) < config.caption_batch:
            rec = records[int(rng.integers(len(records)))]
            for crop, noun in caption_examples(rec, rng, n=2):
                c_prompts.append(c_text)
                c_answers.append(noun)
                c_images.append(crop)
        lr_now = schedule.get_last_lr()[0]
        zero = torch.zeros((), device=device)
        eye_loss = hand_loss = caption_loss = zero
        if e_prompts:  # none: a Hand-only probe
            eb = _encode(processor, e_prompts, e_answers, e_images).to(device)
            eye_loss = model(**eb).loss
        if h_prompts:  # none: an Eye-only model (the distillation verifier)
            hb = _encode(processor, h_prompts, h_answers, h_images).to(device)
            hand_loss = model(**hb).loss
        if c_prompts:
            cb = _encode(processor, c_prompts, c_answers, c_images).to(device)
            caption_loss = model(**cb).loss
        loss = hand_loss + eye_loss + caption_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if bar is not None:
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
        if log and (step % 10 == 0 or step == config.steps - 1):
            log.write(
                json.dumps(
                    {
                        "step": step,
                        "loss": float(loss.detach()),
                        "hand_loss": float(hand_loss.detach()),
                        "eye_loss": float(eye_loss.detach()),
                        "caption_loss": float(caption_loss.detach()),
                        "lr": lr_now,
                        "wall_s": time.perf_counter() - start,
                    }
                )
                + "\n"
            )
            log.flush()
    if bar is not None:
        bar.close()
    if log:
        log.close()
    model.eval()
    model.save_pretrained(model_dir)
    write_marker(model_dir, False, arch, "toyworld pretrain")
    wall = time.perf_counter() - start
    return {"steps": config.steps, "wall_s": wall, "final_loss": float(np.mean(losses[-20:]))}

"""Seeded toy-world splits (pretrain / rl / eval) and a writer for the ``rs-samples`` layout.

Scene seeds (how splits never overlap)
--------------------------------------
Scene ``i`` of split ``name`` built with ``seed`` uses the generator seed::

    scene_seed(name, seed, i) = 3 * (seed * MAX_SCENES_PER_SEED + i) + SPLIT_CODES[name]

with ``SPLIT_CODES = {"pretrain": 0, "rl": 1, "eval": 2}`` and ``0 <= i < MAX_SCENES_PER_SEED``.
The residue modulo 3 names the split, so two different splits never share a scene seed, whatever
their ``seed``; within a split the map ``(seed, i) -> seed * MAX + i`` is injective, so different
seeds give disjoint scenes too. (``numpy.random.default_rng`` hashes the integer through
``SeedSequence``, so neighbouring scene seeds give unrelated scenes.)

The target category of scene ``i`` is balanced: a per-``(split, seed)`` permutation of
:data:`CATEGORIES` is cycled, so every block of 8 consecutive records has each category once.

What each split carries
-----------------------
* ``pretrain``: plain referring expressions (train wordings) with the target box, the same
  target's implicit query (train wordings, for verification SFT) and every object of the scene
  (category, colour, box; the negatives of verification SFT).
* ``rl``: image, query (implicit, train wordings), kind and nothing else: **no box of any kind,
  no category, no scene seed** (RemoteZero's RL reads no annotation).
* ``eval``: implicit queries with held-out wordings and the target box. Evaluate on several
  ``seed`` values; none is fixed in code.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from georeason.errors import UserInputError
from georeason_toyworld.grid import GRID_CATEGORIES
from georeason_toyworld.queries import (
    DISAMBIGUATION_SUFFIX,
    KINDS,
    WORDINGS,
    implicit_query,
    make_sample,
    plain_query,
    strip_position_phrases,
)
from georeason_toyworld.scenes import CATEGORIES, generate_scene

SPLITS: tuple[str, ...] = ("pretrain", "rl", "eval")
SPLIT_CODES: dict[str, int] = {"pretrain": 0, "rl": 1, "eval": 2}
#: Largest number of scenes one ``(split, seed)`` may hold (keeps scene seeds injective).
MAX_SCENES_PER_SEED = 1_000_000
#: Default ``(kind, wordings)`` per split (the issue's protocol: pretrain on plain expressions,
#: RL and evaluate on implicit queries, evaluation with held-out wordings).
DEFAULT_QUERIES: dict[str, tuple[str, str]] = {
    "pretrain": ("plain", "train"),
    "rl": ("implicit", "train"),
    "eval": ("implicit", "heldout"),
}
#: Record keys that reveal the target's location or identity; never present in ``rl`` records.
ANNOTATION_KEYS: tuple[str, ...] = (
    "boxes_xyxy_px",
    "gt_boxes",
    "gt_mask",
    "gt_union_box",
    "target_category",
    "target_class",
    "target_box_xyxy_px",
    "objects",
    "scene_seed",
    "num_targets",
)


def scene_seed(name: str, seed: int, index: int) -> int:
    """Generator seed of scene ``index`` of split ``name`` (formula in the module docstring).

    Raises:
        UserInputError: for an unknown split, a negative seed, or an index outside
            ``[0, MAX_SCENES_PER_SEED)``.
    """
    if name not in SPLIT_CODES:
        raise UserInputError(f"unknown split {name!r}; choose from {list(SPLITS)}")
    if seed < 0:
        raise UserInputError(f"seed must be non-negative, got {seed}")
    if not 0 <= index < MAX_SCENES_PER_SEED:
        raise UserInputError(f"scene index {index} outside [0, {MAX_SCENES_PER_SEED})")
    return 3 * (int(seed) * MAX_SCENES_PER_SEED + int(index)) + SPLIT_CODES[name]


def _category_order(name: str, seed: int, layout: str = "free") -> list[str]:
    cats = GRID_CATEGORIES if layout == "grid" else CATEGORIES
    perm = np.random.default_rng([SPLIT_CODES[name], int(seed), 7]).permutation(len(cats))
    return [cats[int(i)] for i in perm]


def build_split(
    name: str,
    n: int,
    seed: int,
    size_px: int = 112,
    *,
    kind: str | None = None,
    wordings: str | None = None,
    same_category_distractors: bool = False,
    layout: str = "free",
    grid_cells: int = 4,
    with_boxes: bool = False,
    position_phrases: bool = True,
) -> list[dict[str, Any]]:
    """Build ``n`` records of split ``name``: one scene and one query per record.

    Args:
        name: ``"pretrain"``, ``"rl"`` or ``"eval"``.
        n: number of records, ``0 <= n <= MAX_SCENES_PER_SEED``.
        seed: non-negative split seed (scene seeds derive from ``(name, seed)``, module doc).
        size_px: image side in pixels.
        kind, wordings: override the split's :data:`DEFAULT_QUERIES`.
        same_category_distractors: the harder scene variant (see ``generate_scene``).
        layout, grid_cells: the scene layout (``"free"`` or ``"grid"``, see
            :func:`georeason_toyworld.scenes.generate_scene`); stored in every record as
            ``layout`` / ``grid_cells`` so that a scene can be regenerated from its seed.
        with_boxes: ``rl`` only: keep ``boxes_xyxy_px`` and ``target_category`` (the same
            records with their answers, for the supervised ceiling and for diagnostics that
            training never reads). False for the RemoteZero data.
        position_phrases: False: plain expressions lose their position phrases
            (:func:`georeason_toyworld.queries.strip_position_phrases`; same scenes, targets
            and other words). On the grid layout "in the top-left corner" *is* the target's
            cell: a Hand pretrained with them located 87 % of the plain expressions that had
            one and 8 % of the others, reading the position from the text instead of the
            image (2026-12-02, ``docs/toyworld/README.md``).

    Returns:
        Records with ``id`` (``"{name}-s{seed}-{i:06d}"``), ``split``, ``image`` (RGB
        ``PIL.Image``, ``size_px x size_px``), ``query``, ``kind``, ``wordings``; pretrain and
        eval records add ``boxes_xyxy_px`` (``[[x1, y1, x2, y2]]``, original pixels),
        ``target_category``, ``wording_id`` and ``scene_seed``; pretrain records also
        ``plain_query``, ``implicit_query`` and ``objects`` (``[{"category", "colour",
        "box_xyxy_px"}]``). ``rl`` records carry none of :data:`ANNOTATION_KEYS`.

    Raises:
        UserInputError: for an unknown split, kind or wording set, or a bad ``n`` / ``seed``.
    """
    if name not in SPLIT_CODES:
        raise UserInputError(f"unknown split {name!r}; choose from {list(SPLITS)}")
    if seed < 0:
        raise UserInputError(f"seed must be non-negative, got {seed}")
    if not 0 <= n <= MAX_SCENES_PER_SEED:
        raise UserInputError(f"n must be in [0, {MAX_SCENES_PER_SEED}], got {n}")
    kind = kind or DEFAULT_QUERIES[name][0]
    wordings = wordings or DEFAULT_QUERIES[name][1]
    if kind not in KINDS:
        raise UserInputError(f"kind must be one of {KINDS}, got {kind!r}")
    if wordings not in WORDINGS:
        raise UserInputError(f"wordings must be one of {WORDINGS}, got {wordings!r}")
    order = _category_order(name, seed, layout)
    records = []
    for i in range(n):
        ss = scene_seed(name, seed, i)
        category = order[i % len(order)]
        scene = generate_scene(
            ss,
            size_px,
            required=(category,),
            same_category_distractors=same_category_distractors,
            layout=layout,
            grid_cells=grid_cells,
        )
        qrng = np.random.default_rng([ss, 1])
        sample = make_sample(scene, qrng, kind, wordings, category=category)
        if not position_phrases:
            sample["query"] = strip_position_phrases(sample["query"])
        rec: dict[str, Any] = {
            "id": f"{name}-s{seed}-{i:06d}",
            "split": name,
            "image": Image.fromarray(scene.image, mode="RGB"),
            "query": sample["query"],
            "kind": kind,
            "wordings": wordings,
            "layout": layout,
            "grid_cells": grid_cells,
        }
        if name == "rl":
            if with_boxes:
                rec["boxes_xyxy_px"] = [sample["target_box_xyxy_px"]]
                rec["target_category"] = category
            records.append(rec)
            continue
        rec.update(
            boxes_xyxy_px=[sample["target_box_xyxy_px"]],
            target_category=category,
            wording_id=sample["wording_id"],
            scene_seed=ss,
        )
        if name == "pretrain":
            t = scene.objects[sample["target_index"]]
            ambiguous = len(scene.indices_of(category)) > 1
            if kind == "plain":
                rec["plain_query"] = sample["query"]
                text = implicit_query(category, qrng, "train")[0]
                if ambiguous:
                    text += DISAMBIGUATION_SUFFIX.format(colour=t.colour_name)
                rec["implicit_query"] = text
            else:
                rec["implicit_query"] = sample["query"]
                rec["plain_query"] = plain_query(
                    category,
                    t.colour_name,
                    t.size_name,
                    t.position_name,
                    qrng,
                    "train",
                    need_colour=ambiguous,
                )[0]
            if not position_phrases:
                rec["plain_query"] = strip_position_phrases(rec["plain_query"])
            rec["objects"] = [
                {
                    "category": o.category,
                    "colour": o.colour_name,
                    "box_xyxy_px": [float(v) for v in o.bbox_xyxy_px],
                }
                for o in scene.objects
            ]
        records.append(rec)
    return records


def write_split(
    records: Sequence[dict[str, Any]],
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    manifest: dict[str, Any] | None = None,
) -> Path:
    """Write records in the ``rs-samples`` layout: ``OUT/images/<id>.png`` + ``OUT/queries.jsonl``.

    Each JSONL line holds ``id``, ``image`` (``"images/<id>.png"``, relative to ``OUT``; an image
    given as a file path is copied with its own suffix),
    ``query``, ``kind``, ``wordings``, ``split``; records with boxes add ``gt_boxes`` (xyxy,
    original pixels), ``gt_mask`` (null), ``target_class``, ``num_targets`` and the remaining
    fields (``objects``, ``plain_query``, ...). ``rl`` records stay box-free. This is what
    ``georeason eval --dataset jsonl --root OUT`` and the training JSONL loader read.

    Args:
        manifest: written to ``OUT/manifest.json`` if given (split, seed, n, size, ...).

    Returns:
        The path of ``queries.jsonl``.

    Raises:
        UserInputError: if ``OUT/queries.jsonl`` exists and ``overwrite`` is False, or a record
            has no ``id`` / ``image`` or a duplicate id.
    """
    out = Path(out_dir).expanduser()
    jsonl = out / "queries.jsonl"
    if jsonl.exists() and not overwrite:
        raise UserInputError(f"{jsonl} exists; pass overwrite=True (--overwrite) to replace it")
    (out / "images").mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    lines = []
    for n, rec in enumerate(records):
        if "id" not in rec or "image" not in rec:
            raise UserInputError(f"record {n} needs 'id' and 'image'")
        rid = str(rec["id"])
        if rid in seen or "/" in rid or rid.startswith("."):
            raise UserInputError(f"record {n}: duplicate or unsafe id {rid!r}")
        seen.add(rid)
        image = rec["image"]
        rel = f"images/{rid}.png"
        if isinstance(image, np.ndarray):
            image = Image.fromarray(image)
        if isinstance(image, Image.Image):
            image.save(out / rel, format="PNG")
        elif isinstance(image, str | Path):
            src = Path(image).expanduser()
            if not src.is_file():
                raise UserInputError(f"record {n}: image {src} not found")
            rel = f"images/{rid}{src.suffix.lower()}"
            shutil.copyfile(src, out / rel)
        else:
            raise UserInputError(f"record {n}: 'image' must be a PIL image, an array or a path")
        line: dict[str, Any] = {"id": rid, "image": rel}
        for key, value in rec.items():
            if key in ("id", "image"):
                continue
            if key == "boxes_xyxy_px":
                line["gt_boxes"] = value
                line["gt_mask"] = None
                line["num_targets"] = len(value)
            elif key == "target_category":
                line["target_class"] = value
            else:
                line[key] = value
        lines.append(json.dumps(line))
    tmp = jsonl.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    tmp.replace(jsonl)
    if manifest is not None:
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return jsonl

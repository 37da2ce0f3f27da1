"""Training data for TRL's GRPOTrainer (vision-language contract of TRL 1.16).

Each row the trainer sees has:

* ``prompt``: chat messages ``[{"role": "user", "content": POLICY_PROMPT}]`` (text only; TRL
  inserts the image placeholder before the first user text because an ``image`` column exists),
  after an optional ``system`` message. A template with an ``<image>`` marker (the
  ``remotereasoner`` preset) gets structured content with the image at the marker, built when a
  row is read (Arrow would merge the text and image parts' keys if it stored them);
* ``image``: the original image as an RGB PIL image (read lazily with
  :func:`georeason.io.read_image`, so GeoTIFFs of any dtype work);
* ``query``: the request (the verification reward needs it);
* ``boxes_xyxy_px``: ground-truth boxes ``[[x1, y1, x2, y2], ...]`` in original pixels (``[]`` =
  no target; ``remotereasoner`` only);
* ``id``: a record identifier (logged with the rewards).

Reward functions receive every column but ``prompt``, one entry per completion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from georeason.errors import UserInputError
from georeason.prompts import policy_prompt
from georeason.training.config import DataConfig


def read_records(data: DataConfig) -> tuple[list[dict[str, Any]], Path]:
    """The raw records and the folder their relative image paths start from.

    Raises:
        FileNotFoundError: if the JSONL file does not exist.
        UserInputError: on a malformed line or a record without ``image``/``query``.
    """
    if data.path == "samples":
        from georeason.data import SAMPLES_DIR, sample_records

        records, root = sample_records(), SAMPLES_DIR
    else:
        from georeason.jsonl import read_jsonl

        path = Path(data.path).expanduser()
        if not path.is_file():
            raise UserInputError(f"training data {path} not found")
        records = read_jsonl(path, torn_tail="error")
        root = path.parent
    if data.image_root:
        root = Path(data.image_root).expanduser()
    if data.max_samples is not None:
        records = records[: data.max_samples]
    if not records:
        raise UserInputError(f"no training records in {data.path}")
    for n, rec in enumerate(records):
        if not isinstance(rec, dict) or "image" not in rec or "query" not in rec:
            raise UserInputError(f"record {n} of {data.path} needs 'image' and 'query'")
    return records, root


def build_rows(
    records: list[dict[str, Any]],
    root: Path,
    frame: str,
    need_boxes: bool,
    prompt_template: str | None = None,
    system_prompt: str | None = None,
) -> list[dict[str, Any]]:
    """Rows with ``prompt``, ``image_path``, ``query``, ``boxes_xyxy_px``, ``id`` (no pixels yet).

    ``prompt_template``: the policy prompt template or preset name
    (:func:`georeason.prompts.policy_prompt`; None = the default one). ``system_prompt``: a
    preset name (:data:`georeason.prompts.SYSTEM_PRESETS`) or text; None = none.

    Raises:
        UserInputError: if ``need_boxes`` and a record has no boxes, or an image is missing.
    """
    from georeason.prompts import system_prompt_text

    system = system_prompt_text(system_prompt)
    head = [{"role": "system", "content": system}] if system else []
    rows = []
    for n, rec in enumerate(records):
        text = policy_prompt(rec["query"], frame, prompt_template)
        boxes = rec.get("boxes_xyxy_px", rec.get("gt_boxes"))
        if boxes is None and need_boxes:
            raise UserInputError(
                f"record {n} ({rec.get('id', rec['image'])}) has no 'boxes_xyxy_px': "
                "remotereasoner mode needs box annotations (use [] for 'no target')"
            )
        image_path = Path(rec["image"]).expanduser()
        if not image_path.is_absolute():
            image_path = root / image_path
        if not image_path.is_file():
            raise UserInputError(f"record {n}: image {image_path} not found")
        rows.append(
            {
                "prompt": [
                    *head,
                    {"role": "user", "content": text},
                ],
                "image_path": str(image_path),
                "query": str(rec["query"]),
                "boxes_xyxy_px": [[float(v) for v in b] for b in (boxes or [])],
                "id": str(rec.get("id", n)),
            }
        )
    return rows


def _expand_image_marker(prompt: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from georeason.prompts import IMAGE_MARKER, image_content

    return [
        {"role": m["role"], "content": image_content(m["content"])}
        if m["role"] == "user" and IMAGE_MARKER in m["content"]
        else m
        for m in prompt
    ]


def _load_images(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """``datasets`` transform: add the ``image`` column (RGB PIL) from ``image_path``; put the
    image at an ``<image>`` marker of the prompt where there is one."""
    from georeason.io import read_image

    out = dict(batch)
    out["image"] = [read_image(p).pil() for p in batch["image_path"]]
    if "prompt" in batch:
        out["prompt"] = [_expand_image_marker(p) for p in batch["prompt"]]
    return out


def build_dataset(
    data: DataConfig,
    frame: str,
    need_boxes: bool,
    prompt_template: str | None = None,
    system_prompt: str | None = None,
):  # -> datasets.Dataset
    """A ``datasets.Dataset`` in TRL's VLM format (module docstring); images load on access."""
    from datasets import Dataset

    records, root = read_records(data)
    rows = build_rows(records, root, frame, need_boxes, prompt_template, system_prompt)
    dataset = Dataset.from_list(rows)
    dataset.set_transform(_load_images)
    return dataset

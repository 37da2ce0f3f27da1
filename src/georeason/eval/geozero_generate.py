"""Model mode of the GeoZero evaluation: answer each record with GeoZero's decoding presets.

Decoding per task, as in GeoZero's ``single_infer_eval_qwen3vl_think.py``: scene_cls greedy;
caption beam search (5 beams, length penalty 0.8, early stopping); vqa and grounding sampling
at temperature 0.9, top-p 0.95, top-k 50. ``max_new_tokens`` 2048 there (``--max-new-tokens``
here). The optional system prompt is the script's "Type1" text (``--geozero-system``).

Sampling is seeded per record (``seed + index``), so a resumed run draws what an uninterrupted
run would have drawn for the same record. With ``--policy-url`` the records go to the server
``--concurrency`` at a time, each request carrying its record's seed and the task's decoding
settings (:meth:`georeason.serving.policy_client.ServedPolicy.generate_chat`).

Answers are appended to ``OUT/predictions.jsonl`` (one ``{"id", "raw_output", "pred", "label",
"image_path"}`` a line) as they finish; rerunning skips the records already there.
``OUT/predictions.json`` is the same list in the format GeoZero's script writes, so either tool
can re-score it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from georeason.eval.datasets.geozero import GeoZeroRecord

#: GeoZero's "Type1" system prompt (``system_prompt`` in its evaluation script), verbatim.
GEOZERO_SYSTEM_PROMPT = (
    "When answering, first describe your reasoning or visual observations in natural language, "
    "and then provide the final answer enclosed in <answer></answer>."
)
#: ``generate`` settings per task (GeoZero's script).
DECODING_PRESETS: dict[str, dict[str, Any]] = {
    "scene_cls": {"do_sample": False},
    "caption": {"do_sample": False, "num_beams": 5, "length_penalty": 0.8, "early_stopping": True},
    "vqa": {"do_sample": True, "temperature": 0.9, "top_p": 0.95, "top_k": 50},
    "grounding": {"do_sample": True, "temperature": 0.9, "top_p": 0.95, "top_k": 50},
}


def chat_for(record: GeoZeroRecord, system: bool) -> list[dict[str, Any]]:
    """The record's chat, with GeoZero's system prompt first when ``system`` (a record's own
    ``system`` turn is kept as written)."""
    msgs = list(record.messages)
    if system and not (msgs and msgs[0]["role"] == "system"):
        msgs.insert(0, {"role": "system", "content": GEOZERO_SYSTEM_PROMPT})
    return msgs


def generate_answers(
    args: argparse.Namespace, records: list[GeoZeroRecord], task: str, root: str | Path
) -> list[dict[str, Any]]:
    """Answer every record (resuming from ``OUT/predictions.jsonl``); returns the prediction
    records in data order, labels included (captions: the reference list). Image paths
    resolve against ``root``. One record per ``generate`` call: sampling is seeded per record,
    which batching would break (a batch shares one random stream).

    Raises:
        georeason.errors.UserInputError: a missing image or a bad ``--limit``.
        georeason.errors.ModelLoadError: the checkpoint cannot be loaded.
    """
    import torch
    from tqdm.auto import tqdm

    from georeason.eval.geozero_eval import resolve_image
    from georeason.eval.geozero_rules import extract_answer_block
    from georeason.io import read_image, write_json
    from georeason.jsonl import JsonlAppender, read_jsonl

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shard = out / "predictions.jsonl"
    if args.overwrite and shard.exists():
        shard.unlink()
    done = {r["id"]: r for r in read_jsonl(shard, torn_tail="repair", missing_ok=True)}
    todo = records if args.limit is None else records[: args.limit]
    pending = [r for r in todo if str(r.index) not in done]
    if pending:
        served = getattr(args, "policy_url", None) is not None
        if served:
            from georeason.commands import load_policy_arg

            policy = load_policy_arg(args)
        else:
            from georeason.models.policy import Policy

            policy = Policy.from_pretrained(
                args.model, adapter=args.adapter, max_pixels=args.max_pixels
            )
        if policy.weights == "random":
            print("NOTE: the model has RANDOM weights (a test model): the metrics test the "
                  "pipeline only.")  # fmt: skip
        preset = {**DECODING_PRESETS[task], "max_new_tokens": args.max_new_tokens}
        chunk = policy.concurrency if served else 1  # a server answers chunks concurrently
        with (
            JsonlAppender(shard) as log,
            tqdm(total=len(pending), desc=f"GeoZero {task}", disable=args.no_progress) as bar,
        ):
            for start in range(0, len(pending), chunk):
                recs = pending[start : start + chunk]
                chats = [chat_for(rec, args.geozero_system) for rec in recs]
                images = [[read_image(resolve_image(p, root)) for p in r.images] for r in recs]
                seeds = [args.seed + rec.index for rec in recs]
                if served:
                    raws = policy.generate_chat(chats, images, seeds=seeds, **preset)
                else:
                    torch.manual_seed(seeds[0])
                    raws = policy.generate_chat(chats, images, **preset)
                for rec, raw in zip(recs, raws, strict=True):
                    row = {
                        "id": str(rec.index),
                        "raw_output": raw.strip(),
                        "pred": extract_answer_block(raw),
                        "label": list(rec.refs) if task == "caption" else rec.label,
                        "image_path": rec.images[0],
                    }
                    log.write(row)
                    done[row["id"]] = row
                bar.update(len(recs))
    rows = [done[str(r.index)] for r in todo]
    write_json(out / "predictions.json", [{k: v for k, v in r.items() if k != "id"} for r in rows])
    return rows

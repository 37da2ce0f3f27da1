"""Manifests of self-evolution rounds: config and data hashes, atomic writes, reward summaries."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import Any

from georeason.io import write_json
from georeason.training.config import TrainConfig

#: File of each round folder that records its configuration, status and results.
MANIFEST_FILE = "manifest.json"


def config_hash(cfg: TrainConfig, run_dir: str | Path) -> str:
    """sha256 of a round's training config (the run folder written as ``<run>``)."""
    text = json.dumps(cfg.to_dict(), sort_keys=True).replace(str(Path(run_dir)), "<run>")
    return hashlib.sha256(text.encode()).hexdigest()


def data_hash(cfg: TrainConfig) -> str:
    """sha256 of the training records (canonical JSON) and each image file's byte size (ours:
    the pixels are not read; a replaced image of another size changes the hash).

    Raises:
        UserInputError, FileNotFoundError: as :func:`georeason.training.data.read_records`.
    """
    from georeason.training.data import read_records

    records, root = read_records(cfg.data)
    h = hashlib.sha256()
    for rec in records:
        h.update(json.dumps(rec, sort_keys=True, default=str).encode())
        image = Path(str(rec["image"])).expanduser()
        image = image if image.is_absolute() else root / image
        h.update(str(image.stat().st_size if image.is_file() else -1).encode())
    return h.hexdigest()


def now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """A round folder's manifest, or None if it has none."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_manifest(folder: str | Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically (temporary file + rename)."""
    path = Path(folder) / MANIFEST_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, manifest)


def reward_summary(train_log: str | Path) -> dict[str, Any]:
    """Per-round summary of ``train_log.jsonl`` (the last record of each step counts: a step
    logged again after a resume replaces the earlier one).

    Returns:
        ``steps`` and, for ``reward``, ``verifier_confidence``, ``box_area_ratio`` and
        ``parse_failure_rate``: ``<key>_first``, ``<key>_last``, ``<key>_mean`` (None if never
        logged); ``reward`` is TRL's weighted reward sum (format + verification).
    """
    from georeason.jsonl import read_jsonl

    by_step: dict[int, dict[str, Any]] = {}
    for rec in read_jsonl(train_log, missing_ok=True):
        if "reward" in rec:
            by_step[int(rec["step"])] = rec
    steps = [by_step[s] for s in sorted(by_step)]
    out: dict[str, Any] = {"steps": len(steps)}
    for key in ("reward", "verifier_confidence", "box_area_ratio", "parse_failure_rate"):
        values = [float(r[key]) for r in steps if r.get(key) is not None]
        out[f"{key}_first"] = values[0] if values else None
        out[f"{key}_last"] = values[-1] if values else None
        out[f"{key}_mean"] = sum(values) / len(values) if values else None
    return out


# --- probe set and per-round evaluation ---------------------------------------------------------

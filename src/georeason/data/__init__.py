"""Bundled real sample data (see ``rs-samples/README.md`` for sources and licences)."""

from __future__ import annotations

import json
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent / "rs-samples"


def sample_records() -> list[dict]:
    """The records of ``rs-samples/queries.jsonl``, paths left relative to :data:`SAMPLES_DIR`."""
    with open(SAMPLES_DIR / "queries.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]

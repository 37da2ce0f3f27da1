"""Bundled real sample data (see ``rs-samples/README.md`` for sources and licences)."""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent / "rs-samples"


def sample_records() -> list[dict]:
    """The records of ``rs-samples/queries.jsonl``, paths left relative to :data:`SAMPLES_DIR`."""
    from georeason.jsonl import read_jsonl

    return read_jsonl(SAMPLES_DIR / "queries.jsonl", torn_tail="error")

"""An evaluation folder: ``run.json`` (what was evaluated), ``results.jsonl`` (one scored record
per sample, appended as it finishes; shards ``results.rank{i}.jsonl`` in a data-parallel run),
``metrics.json``. Opening one checks that it holds the same evaluation and reads back what is
done, so the same command resumes."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from georeason.errors import UserInputError
from georeason.eval.datasets import EvalDataset
from georeason.io import write_json
from georeason.jsonl import JsonlAppender, read_jsonl

RESULTS_FILE = "results.jsonl"
SHARD_GLOB = "results.rank*.jsonl"
RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"


def read_results(path: Path) -> dict[str, dict[str, Any]]:
    """Finished records by id; a torn last line (killed mid-write) is dropped and the file
    rewritten without it (:func:`georeason.jsonl.read_jsonl`, ``torn_tail="repair"``)."""
    return {rec["id"]: rec for rec in read_jsonl(path, torn_tail="repair", missing_ok=True)}


def shard_path(out_dir: Path, index: int) -> Path:
    """The results shard of process ``index`` in a data-parallel run."""
    return out_dir / f"results.rank{index}.jsonl"


def merge_shards(out_dir: Path) -> int:
    """Move the records of every shard (``results.rank*.jsonl``, left by a data-parallel run,
    finished or interrupted) that ``results.jsonl`` lacks into it, then delete the shards.
    Returns how many records were added. Torn last lines are dropped
    (:func:`read_results`)."""
    shards = sorted(out_dir.glob(SHARD_GLOB))
    if not shards:
        return 0
    have = read_results(out_dir / RESULTS_FILE)
    new = []
    for shard in shards:
        for sid, rec in read_results(shard).items():
            if sid not in have:
                have[sid] = rec
                new.append(rec)
    with JsonlAppender(out_dir / RESULTS_FILE, fsync=True) as f:
        for rec in new:
            f.write(rec)
    for shard in shards:
        shard.unlink()
    return len(new)


def check_run_file(out_dir: Path, run: dict[str, Any], overwrite: bool) -> None:
    run_path = out_dir / RUN_FILE
    results = out_dir / RESULTS_FILE
    has_results = results.exists() or any(out_dir.glob(SHARD_GLOB))
    if overwrite:
        for p in (results, out_dir / METRICS_FILE, *out_dir.glob(SHARD_GLOB)):
            if p.exists():
                p.unlink()
    elif run_path.exists() and has_results:
        old = json.loads(run_path.read_text(encoding="utf-8"))
        # ``limit`` only says how many samples to score; per-sample results do not depend on it.
        keys = (set(old) | set(run)) - {"limit"}
        diff = []
        for k in sorted(keys):
            a, b = old.get(k), run.get(k)
            if isinstance(a, dict) and isinstance(b, dict):  # name the nested key that differs
                diff += [f"{k}.{n}" for n in sorted(set(a) | set(b)) if a.get(n) != b.get(n)]
            elif a != b:
                diff.append(k)
        if diff:
            raise UserInputError(
                f"{out_dir} holds results of a different evaluation (differs in: "
                f"{', '.join(diff)}); use a new --out, or --overwrite to start again"
            )
    write_json(run_path, run)


@dataclass
class RunState:
    """An evaluation folder opened by :func:`open_run`.

    Attributes:
        out: the folder. ids: the sample ids evaluated (``limit`` applied). run: ``run.json``.
        done: finished records by id (resumed). pending: dataset indices still to score.
    """

    out: Path
    ids: list[str]
    run: dict[str, Any]
    done: dict[str, dict[str, Any]]
    pending: list[int]

    @property
    def results_path(self) -> Path:
        return self.out / RESULTS_FILE


def open_run(
    dataset: EvalDataset,
    out_dir: str | Path,
    limit: int | None,
    overwrite: bool,
    settings: dict[str, Any],
) -> RunState:
    """Create or resume an evaluation folder: ``run.json`` = the dataset's identity, ``limit``
    and ``settings`` (checked against an existing one, :func:`check_run_file`); finished records
    are read back from ``results.jsonl``."""
    n = len(dataset) if limit is None else min(limit, len(dataset))
    ids = dataset.ids[:n]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = {
        "dataset": dataset.name,
        "root": str(Path(dataset.root).resolve()),
        "split": dataset.split,
        "limit": limit,
        **settings,
    }
    check_run_file(out, run, overwrite)
    wanted = set(ids)
    done = {k: v for k, v in read_results(out / RESULTS_FILE).items() if k in wanted}
    pending = [i for i, sid in enumerate(ids) if sid not in done]
    return RunState(out, ids, run, done, pending)


def write_metrics(out: Path, metrics: dict[str, Any], n_samples: int, **extra: Any) -> None:
    """``OUT/metrics.json``: the metrics (NaN written as null), ``n_samples`` and ``extra``."""
    doc = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}
    write_json(out / METRICS_FILE, {**doc, "n_samples": n_samples, **extra})

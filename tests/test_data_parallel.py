"""Data-parallel evaluation: ``accelerate launch --num_processes 2 -m georeason eval`` shards the
samples, each process writes its own results shard, the main process merges and scores; the
metrics equal a one-process run's exactly, and an interrupted run resumes from its shards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from georeason.eval.runner import RESULTS_FILE, merge_shards, shard_path
from georeason.jsonl import read_jsonl


def _eval_args(out: Path, *source: str) -> list[str]:
    return [
        "eval",
        "--dataset",
        "jsonl",
        "--task",
        "region",
        "--no-progress",
        "--batch-size",
        "2",
        "--out",
        str(out),
        *source,
    ]


def _launch(n: int, args: list[str]) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--cpu",
        "--num_processes",
        str(n),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "georeason",
        *args,
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture
def predictions_file(sample_records_list, tmp_path):
    """Boxes shifted from the human ones (so the metrics are not all zero or one)."""
    path = tmp_path / "preds.jsonl"
    lines = []
    for k, rec in enumerate(sample_records_list):
        shift = 7.0 * k
        boxes = [[x1 + shift, y1, x2 + shift, y2] for x1, y1, x2, y2 in rec["gt_boxes"]]
        lines.append(json.dumps({"id": rec["id"], "boxes_xyxy_px": boxes}))
    path.write_text("\n".join(lines) + "\n")
    return path


def _records(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read_jsonl(out / RESULTS_FILE)}


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path, predictions_file, tiny_qwen25vl_dir):
    from georeason.cli import main

    for source in (
        ["--predictions", str(predictions_file)],
        ["--model", str(tiny_qwen25vl_dir), "--max-new-tokens", "32"],
    ):
        kind = source[0].strip("-")
        one, two = tmp_path / f"{kind}-1", tmp_path / f"{kind}-2"
        assert main(_eval_args(one, *source)) == 0
        proc = _launch(2, _eval_args(two, *source))
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.count("samples (0 resumed)") == 1  # only the main process reports
        m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (one, two))
        assert m1 == m2
        if kind == "predictions":
            assert 0.0 < m1["box_Acc@0.5"] < 100.0  # a real mix of hits and misses (percent)
        r1, r2 = _records(one), _records(two)
        assert r1 == r2
        assert not list(two.glob("results.rank*.jsonl"))  # shards merged away
        assert (two / "report.md").is_file()


def test_merge_shards_resumes_an_interrupted_run(tmp_path, predictions_file):
    """Shards left by a killed data-parallel run (one with a torn last line) are folded into
    ``results.jsonl`` by the next run, which scores only what is missing."""
    from georeason.cli import main

    full = tmp_path / "full"
    assert main(_eval_args(full, "--predictions", str(predictions_file))) == 0
    recs = list(_records(full).values())
    assert len(recs) == 7

    out = tmp_path / "resumed"
    out.mkdir()
    (out / "run.json").write_text((full / "run.json").read_text())
    shard_path(out, 0).write_text("".join(json.dumps(r) + "\n" for r in recs[0:3]))
    torn = json.dumps(recs[4])[:20]
    shard_path(out, 1).write_text(json.dumps(recs[3]) + "\n" + torn)
    assert main(_eval_args(out, "--predictions", str(predictions_file))) == 0
    assert not list(out.glob("results.rank*.jsonl"))
    assert _records(out) == _records(full)
    assert json.loads((out / "metrics.json").read_text()) == json.loads(
        (full / "metrics.json").read_text()
    )


def test_merge_shards_keeps_existing_records(tmp_path):
    (tmp_path / RESULTS_FILE).write_text(json.dumps({"id": "a", "v": 1}) + "\n")
    shard_path(tmp_path, 0).write_text(
        json.dumps({"id": "a", "v": 2}) + "\n" + json.dumps({"id": "b", "v": 3}) + "\n"
    )
    shard_path(tmp_path, 1).write_text(json.dumps({"id": "c", "v": 4}) + "\n")
    assert merge_shards(tmp_path) == 2
    assert [(r["id"], r["v"]) for r in read_jsonl(tmp_path / RESULTS_FILE)] == [
        ("a", 1),
        ("b", 3),
        ("c", 4),
    ]
    assert merge_shards(tmp_path) == 0


def test_shards_of_a_different_evaluation_are_refused(tmp_path, predictions_file):
    from georeason.cli import main

    out = tmp_path / "o"
    assert main(_eval_args(out, "--predictions", str(predictions_file))) == 0
    shard_path(out, 0).write_text(json.dumps({"id": "x"}) + "\n")
    (out / RESULTS_FILE).unlink()
    assert (
        main([*_eval_args(out, "--predictions", str(predictions_file)), "--box-mode", "union"]) == 2
    )

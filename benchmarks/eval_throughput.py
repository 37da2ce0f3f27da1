"""Evaluation throughput (samples/s) of the three ways to run a policy: in process, behind an
OpenAI-compatible server (``transformers serve`` on loopback, ``--policy-url``), and
data-parallel (``accelerate launch --num_processes 2``), same tiny random-weight model, same
samples, same settings.

Each mode is timed as a user runs it: the whole ``georeason eval`` command, start-up and model
loading included (the server's start-up is not: it is started once beforehand, as in practice).
Every run is a fresh ``--out`` (no resume). The tiny model decodes ``--max-new-tokens`` tokens of
noise per sample (it never stops early), so the work per sample is the same in every mode.

    python benchmarks/eval_throughput.py [--samples-repeat 4] [--max-new-tokens 64]

Writes ``benchmarks/results/eval_throughput.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(port: int) -> subprocess.Popen:
    code = (
        "import sys\nimport georeason.models.processors\n"
        "from transformers.cli.transformers import main\n"
        f"sys.argv = ['transformers', 'serve', '--port', '{port}', '--host', '127.0.0.1',"
        " '--device', 'cpu']\nsys.exit(main())\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("transformers serve did not start")


def _dataset(root: Path, repeat: int) -> Path:
    """The bundled samples, each repeated ``repeat`` times under new ids (more work per run)."""
    from georeason.data import SAMPLES_DIR, sample_records

    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for k in range(repeat):
        for rec in sample_records():
            rec = dict(rec, id=f"{rec['id']}-{k}", image=str(SAMPLES_DIR / rec["image"]))
            rec.pop("gt_mask", None)
            lines.append(json.dumps(rec))
    (root / "queries.jsonl").write_text("\n".join(lines) + "\n")
    return root


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ...: {proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples-repeat", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()

    from georeason.models.tiny import make_tiny

    tmp = Path(tempfile.mkdtemp(prefix="eval-throughput-"))
    model = str(make_tiny(tmp / "tiny", arch="qwen2_5_vl", seed=0))
    data = _dataset(tmp / "data", args.samples_repeat)
    n = len((data / "queries.jsonl").read_text().splitlines())
    env = dict(os.environ, OMP_NUM_THREADS="1")
    common = [
        "eval",
        "--dataset",
        "jsonl",
        "--root",
        str(data),
        "--task",
        "region",
        "--no-progress",
        "--batch-size",
        "1",
        "--max-new-tokens",
        str(args.max_new_tokens),
    ]
    georeason = [sys.executable, "-m", "georeason"]
    port = _free_port()
    server = _start_server(port)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        runs = {
            "in_process (1 process, batch 1)": georeason
            + [*common, "--model", model, "--out", str(tmp / "a")],
            f"served (transformers serve, --concurrency {args.concurrency})": georeason
            + [
                *common,
                "--policy-url",
                url,
                "--policy-model",
                model,
                "--model-family",
                "qwen2_5_vl",
                "--concurrency",
                str(args.concurrency),
                "--out",
                str(tmp / "b"),
            ],
            "data_parallel (accelerate, 2 processes, batch 1)": [
                sys.executable,
                "-m",
                "accelerate.commands.launch",
                "--cpu",
                "--num_processes",
                "2",
                "--num_machines",
                "1",
                "--mixed_precision",
                "no",
                "--dynamo_backend",
                "no",
                "-m",
                "georeason",
                *common,
                "--model",
                model,
                "--out",
                str(tmp / "c"),
            ],
        }
        rows = {}
        for name, cmd in runs.items():
            seconds = _timed(cmd, env)
            rows[name] = {"seconds": round(seconds, 2), "samples_per_s": round(n / seconds, 3)}
            print(f"{name}: {seconds:.1f} s, {n / seconds:.3f} samples/s", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    out = {
        "samples": n,
        "max_new_tokens": args.max_new_tokens,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "omp_num_threads": 1,
        "runs": rows,
        "note": "whole `georeason eval` command timed (start-up and model loading included); the "
        "server runs on the same CPUs as the client, so serving shows its overhead here, not "
        "the batching gains of vLLM on a GPU",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "eval_throughput.json").write_text(json.dumps(out, indent=2) + "\n")
    md = [
        "# Evaluation throughput, tiny random-weight Qwen2.5-VL, CPU",
        "",
        f"{n} samples (bundled rs-samples x {args.samples_repeat}), region task, "
        f"{args.max_new_tokens} new tokens each; {out['machine']}, OMP_NUM_THREADS=1.",
        "",
        "| mode | seconds | samples/s |",
        "|---|---|---|",
        *[f"| {k} | {v['seconds']} | {v['samples_per_s']} |" for k, v in rows.items()],
        "",
        out["note"] + ".",
    ]
    (RESULTS / "eval_throughput.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()

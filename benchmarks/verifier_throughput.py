"""Verifier throughput: crops per second, batched vs one at a time (and over HTTP).

RemoteZero's reward calls the verifier once per predicted box of every rollout, so its throughput
bounds the training step. This measures :class:`georeason.models.verifier.LocalVerifier` on a tiny
RANDOM-weight model (the speed of the code path, not of a real 8B verifier): the same crops
scored in batches of ``--batch-size`` vs one per call, and through ``VerifierServer`` +
``HTTPVerifier`` on 127.0.0.1.

    python benchmarks/verifier_throughput.py [--arch qwen2_5_vl] [--crops 32] [--repeats 3]

Writes ``benchmarks/results/verifier_throughput.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def sample_crops(n: int):
    """``n`` crops (PIL, varied sizes) from the bundled real images, with their queries."""
    from georeason.data import SAMPLES_DIR, sample_records
    from georeason.io import read_image
    from georeason.rewards import crop_for_verifier

    records = sample_records()
    crops, queries = [], []
    i = 0
    while len(crops) < n:
        rec = records[i % len(records)]
        image = read_image(SAMPLES_DIR / rec["image"]).pil()
        box = rec["gt_boxes"][(i // len(records)) % len(rec["gt_boxes"])]
        crops.append(crop_for_verifier(image, box, 0.15))
        queries.append(rec["query"])
        i += 1
    return crops, queries


def timed(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="qwen2_5_vl", choices=("qwen2_5_vl", "qwen3_vl"))
    parser.add_argument("--crops", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-pixels", type=int, default=200_704)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from georeason.models.tiny import make_tiny
    from georeason.models.verifier import LocalVerifier
    from georeason.serving.verifier_client import HTTPVerifier
    from georeason.serving.verifier_server import VerifierServer

    load1 = os.getloadavg()[0]
    crops, queries = sample_crops(args.crops)
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_tiny(Path(tmp) / "tiny", arch=args.arch)
        batched = LocalVerifier.from_pretrained(
            folder, device="cpu", batch_size=args.batch_size, max_pixels=args.max_pixels
        )
        single = LocalVerifier(
            batched.model, batched.processor, max_pixels=args.max_pixels, batch_size=1
        )
        rows = []
        t_batched = timed(lambda: batched.score(crops, queries), args.repeats)
        rows.append(("local, batched (mixed crop sizes)", args.batch_size, t_batched))
        t_single = timed(lambda: single.score(crops, queries), args.repeats)
        rows.append(("local, one at a time (mixed crop sizes)", 1, t_single))
        # what the verification reward does: smallest crops first, so batches pad less
        order = sorted(range(len(crops)), key=lambda i: crops[i].size[0] * crops[i].size[1])
        crops_s, queries_s = [crops[i] for i in order], [queries[i] for i in order]
        t_sorted = timed(lambda: batched.score(crops_s, queries_s), args.repeats)
        rows.append(("local, batched (mixed sizes, sorted by size)", args.batch_size, t_sorted))
        # the same crops resized to one size: no padding inside a batch
        uniform = [c.resize((224, 224)) for c in crops]
        t_batched_u = timed(lambda: batched.score(uniform, queries), args.repeats)
        rows.append(("local, batched (all 224x224)", args.batch_size, t_batched_u))
        t_single_u = timed(lambda: single.score(uniform, queries), args.repeats)
        rows.append(("local, one at a time (all 224x224)", 1, t_single_u))
        server = VerifierServer(batched, "tiny", port=0, max_batch=args.batch_size).start()
        try:
            client = HTTPVerifier(server.base_url, "tiny", max_concurrency=args.batch_size)
            t_http = timed(lambda: client.score(crops, queries), args.repeats)
        finally:
            server.shutdown()
        rows.append(("HTTP (serve-verifier), concurrent", args.batch_size, t_http))

    result = {
        "benchmark": "verifier_throughput",
        "model": f"tiny random-weight {args.arch} (georeason make-tiny)",
        "crops": args.crops,
        "crop_max_pixels": args.max_pixels,
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": round(load1, 2),
        "machine": f"{platform.machine()} CPU, {platform.system()}",
        "rows": [
            {
                "setting": name,
                "batch": b,
                "seconds": round(t, 4),
                "crops_per_second": round(args.crops / t, 2),
            }
            for name, b, t in rows
        ],
        "speedup_batched_over_single_mixed": round(t_single / t_batched, 2),
        "speedup_sorted_batched_over_single_mixed": round(t_single / t_sorted, 2),
        "speedup_batched_over_single_uniform": round(t_single_u / t_batched_u, 2),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "verifier_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Verifier throughput (crops per second)",
        "",
        f"{result['model']}, {args.crops} context crops (15% margin) of the bundled real images, "
        f"crop budget {args.max_pixels} px, {result['machine']}, {result['torch_threads']} torch "
        f"threads; median of {args.repeats} runs after a warm-up. "
        "Command: `python benchmarks/verifier_throughput.py`.",
        "",
        "| setting | batch | seconds | crops/s |",
        "|---|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['setting']} | {row['batch']} | {row['seconds']} | {row['crops_per_second']} |"
        )
    lines += [
        "",
        "Batched over one-at-a-time: "
        f"{result['speedup_batched_over_single_mixed']}x with mixed crop sizes "
        f"({result['speedup_sorted_batched_over_single_mixed']}x when sorted by size, as the "
        "verification reward sends them), "
        f"{result['speedup_batched_over_single_uniform']}x with equal sizes. A batch is padded to "
        "its largest crop (visual tokens), so mixed sizes waste part of the gain. The HTTP path "
        "adds PNG encoding (lossless, zlib level 1) and decoding of every crop plus one request "
        "per crop. The machine is shared (2 cores, other jobs): load average at start "
        f"{result['load_average_1min']}; expect run-to-run variation.",
        "",
    ]
    (RESULTS / "verifier_throughput.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Speed of the model layer on tiny random-weight models (wiring cost, not real-model speed).

Measures, for each architecture: ``make_tiny`` time, load time, ``Policy.locate`` wall time per
image on the bundled real samples (pixel budget 802,816 as in the papers, greedy, fixed
``--max-new-tokens``), and ``LocalVerifier.score`` throughput on random crops (one prefill per
batch of ``--batch-size``). The tiny models have 2 text layers of width 64, so the numbers show
the cost of preprocessing, the vision tower at full token count and the framework overhead; a
real 7-8B model is orders of magnitude slower.

Usage::

    python benchmarks/model_speed.py [--out benchmarks/results] [--max-new-tokens 32]

Writes ``model_speed.json`` and ``model_speed.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from georeason.data import SAMPLES_DIR, sample_records
from georeason.io import read_image
from georeason.models.policy import DEFAULT_MAX_PIXELS, Policy
from georeason.models.tiny import make_tiny
from georeason.models.verifier import LocalVerifier


def bench_arch(arch: str, tmp: Path, max_new_tokens: int, batch_size: int, n_crops: int) -> dict:
    t0 = time.perf_counter()
    folder = make_tiny(tmp / arch, arch=arch)
    t_make = time.perf_counter() - t0

    t0 = time.perf_counter()
    policy = Policy.from_pretrained(folder, max_pixels=DEFAULT_MAX_PIXELS, device="cpu")
    t_load = time.perf_counter() - t0

    records = sample_records()
    images = [read_image(SAMPLES_DIR / r["image"]) for r in records]
    queries = [r["query"] for r in records]
    policy.locate(images[:1], queries[:1], max_new_tokens=2)  # warm-up
    t0 = time.perf_counter()
    locs = policy.locate(images, queries, max_new_tokens=max_new_tokens, batch_size=1)
    t_locate = time.perf_counter() - t0

    verifier = LocalVerifier(policy.model, policy.processor, batch_size=batch_size)
    rng = np.random.default_rng(0)
    crops = [
        Image.fromarray(rng.integers(0, 256, (int(h), int(w), 3), dtype=np.uint8))
        for h, w in rng.integers(32, 400, size=(n_crops, 2))
    ]
    verifier.score(crops[:2], ["warm-up"] * 2)
    t0 = time.perf_counter()
    verifier.score(crops, ["a storage tank next to the harbour"] * n_crops)
    t_verify = time.perf_counter() - t0

    return {
        "arch": arch,
        "make_tiny_s": round(t_make, 3),
        "load_s": round(t_load, 3),
        "locate_images": len(images),
        "locate_s_per_image": round(t_locate / len(images), 3),
        "model_input_hw": [list(loc.model_input_hw) for loc in locs],
        "verifier_crops": n_crops,
        "verifier_batch_size": batch_size,
        "verifier_crops_per_s": round(n_crops / t_verify, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--crops", type=int, default=64)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            bench_arch(arch, Path(tmp), args.max_new_tokens, args.batch_size, args.crops)
            for arch in ("qwen2_5_vl", "qwen3_vl")
        ]
    result = {
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "max_new_tokens": args.max_new_tokens,
        "max_pixels": DEFAULT_MAX_PIXELS,
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Model layer speed (tiny random-weight models, CPU)",
        "",
        f"max_pixels {DEFAULT_MAX_PIXELS:,}, greedy, max_new_tokens {args.max_new_tokens}; "
        f"{result['machine']['cpu_count']} CPUs, torch {torch.__version__}.",
        "",
        "| arch | make-tiny s | load s | locate s/image | verifier crops/s (batch) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['arch']} | {r['make_tiny_s']} | {r['load_s']} | {r['locate_s_per_image']} | "
            f"{r['verifier_crops_per_s']} ({r['verifier_batch_size']}) |"
        )
    (out / "model_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

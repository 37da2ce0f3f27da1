"""Speed of the toy-world generator: scenes, and full split records (scene + query + PIL image).

Usage::

    python benchmarks/toyworld_gen.py [--n 1000] [--size 112] [--out benchmarks/results]

Writes ``toyworld_gen.json`` and ``toyworld_gen.md`` to ``--out``: wall and CPU (process) time of
``generate_scene`` for ``--n`` scenes (every category required in turn, as the splits do), of
``build_split("pretrain", n, 0)`` (records with queries and PIL images), and of ``write_split``
(PNG + JSONL on disk). Single process. The target is well under 10 s per 1,000 scenes of 112 px.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from georeason_toyworld.scenes import CATEGORIES, generate_scene
from georeason_toyworld.splits import build_split, write_split


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args()
    n, size = args.n, args.size

    _, scene_wall, scene_cpu = _timed(
        lambda: [generate_scene(i, size, required=(CATEGORIES[i % 8],)) for i in range(n)]
    )
    records, split_wall, split_cpu = _timed(lambda: build_split("pretrain", n, 0, size))
    with tempfile.TemporaryDirectory() as tmp:
        _, write_wall, write_cpu = _timed(lambda: write_split(records, tmp))
        disk_kb = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 1024

    result = {
        "n": n,
        "size_px": size,
        "generate_scene_wall_s": round(scene_wall, 3),
        "generate_scene_cpu_s": round(scene_cpu, 3),
        "build_split_wall_s": round(split_wall, 3),
        "build_split_cpu_s": round(split_cpu, 3),
        "write_split_wall_s": round(write_wall, 3),
        "write_split_cpu_s": round(write_cpu, 3),
        "ms_per_scene_cpu": round(1000 * scene_cpu / n, 3),
        "disk_kib": round(disk_kb, 1),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible",
        "load_average_1min": round(os.getloadavg()[0], 2),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "toyworld_gen.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = [
        (f"`generate_scene` x {n}", scene_wall, scene_cpu),
        (
            f'`build_split("pretrain", {n}, 0)` (scenes + queries + PIL images)',
            split_wall,
            split_cpu,
        ),
        (f"`write_split` (PNG + queries.jsonl, {disk_kb / 1024:.1f} MiB)", write_wall, write_cpu),
    ]
    table = "\n".join(f"| {name} | {w:.2f} | {c:.2f} |" for name, w, c in rows)
    md = f"""# Toy-world generator speed

{n} scenes of {size}x{size} px, one process ({result["machine"]}; 1-min load average
{result["load_average_1min"]} at the end: the machine is shared), {result["date_utc"]}.

| step | wall s | CPU s |
|---|---|---|
{table}

**{n} scenes in {scene_cpu:.2f} s of CPU ({1000 * scene_cpu / n:.2f} ms per scene)**; target:
well under 10 s per 1,000 scenes of 112 px.

Command: `python benchmarks/toyworld_gen.py --n {n} --size {size}`
"""
    (out / "toyworld_gen.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()

"""Whole-scene ``locate`` on a 20,000 x 20,000 px 3-band GeoTIFF: peak memory and time.

The scene is synthetic (made window by window here, never whole in memory): a smooth ground
with 400 bright discs ("storage tanks") on a 1,000 px grid, UTM 16N, 0.3 m pixels, tiled and
DEFLATE-compressed. Two runs, each a fresh ``georeason locate`` process:

1. the tiny random-weight policy on every tile (``--tile-size 1024``): tiling, windowed reads,
   policy calls, an empty label COG of the whole scene;
2. the 400 tank boxes given with ``--boxes`` (a random policy finds nothing, so this run is the
   one that exercises segmentation windows, the label COG with content, and the GeoJSON).

Peak memory = the child process's maximum resident set size (``getrusage``). Checks: every
GeoJSON coordinate inside the scene's WGS 84 footprint, and ``rio_cogeo``'s validation of
``mask.tif``.

    python benchmarks/scene_tiling.py [--side 20000] [--tile-size 1024]

Writes ``benchmarks/results/scene_tiling.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
GRID_PX = 1000
RADIUS_PX = 40


def make_scene(path: Path, side: int) -> list[list[float]]:
    """Write the synthetic scene block row by block row; returns the tank boxes (px)."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff",
        "width": side,
        "height": side,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:32616",
        "transform": from_origin(733_000.0, 3_730_000.0, 0.3, 0.3),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
    }
    centres = [
        (c, r)
        for r in range(GRID_PX // 2, side, GRID_PX)
        for c in range(GRID_PX // 2, side, GRID_PX)
    ]
    rows = 512
    with rasterio.open(path, "w", **profile) as ds:
        xx = np.arange(side)[None, :]
        for r0 in range(0, side, rows):
            h = min(rows, side - r0)
            yy = np.arange(r0, r0 + h)[:, None]
            ground = (60 + 40 * np.sin(xx / 900.0) * np.cos(yy / 1300.0)).astype(np.uint8)
            block = np.broadcast_to(ground, (h, side)).copy()
            for cx, cy in centres:
                if cy + RADIUS_PX < r0 or cy - RADIUS_PX >= r0 + h:
                    continue
                ys = slice(max(r0, cy - RADIUS_PX), min(r0 + h, cy + RADIUS_PX + 1))
                xs = slice(cx - RADIUS_PX, cx + RADIUS_PX + 1)
                gy, gx = np.mgrid[ys, xs]
                disc = (gx - cx) ** 2 + (gy - cy) ** 2 <= RADIUS_PX**2
                sub = block[ys.start - r0 : ys.stop - r0, xs]
                sub[disc] = 230
            ds.write(
                np.stack([block, block, (block * 0.9).astype(np.uint8)]),
                window=Window(0, r0, side, h),
            )
    return [
        [cx - RADIUS_PX, cy - RADIUS_PX, cx + RADIUS_PX + 1, cy + RADIUS_PX + 1]
        for cx, cy in centres
    ]


_WRAP = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[2:]).returncode\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(rc)\n"
)


def run_locate(args: list[str], rss_file: Path) -> tuple[float, float, str]:
    """Run ``georeason locate`` in a child of a fresh wrapper process (so the peak RSS is this
    run's alone); returns (seconds, peak RSS GiB, stdout)."""
    env = dict(os.environ, OMP_NUM_THREADS="2")
    cmd = [sys.executable, "-m", "georeason", "locate", *args, "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _WRAP, str(rss_file), *cmd], capture_output=True, text=True, env=env
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return seconds, int(rss_file.read_text()) / 2**20, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=20_000)
    ap.add_argument("--tile-size", type=int, default=1024)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    args = ap.parse_args()

    import rasterio
    from rasterio.warp import transform_bounds
    from rio_cogeo.cogeo import cog_validate

    from georeason.models.tiny import make_tiny

    tmp = Path(tempfile.mkdtemp(prefix="scene-tiling-"))
    scene = tmp / "scene.tif"
    t0 = time.perf_counter()
    tanks = make_scene(scene, args.side)
    make_s = time.perf_counter() - t0
    model = str(make_tiny(tmp / "tiny", arch="qwen2_5_vl", seed=0))
    with rasterio.open(scene) as ds:
        west, south, east, north = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)

    common = [str(scene), "the storage tanks", "--tile-size", str(args.tile_size)]
    runs = {}
    s, gib, out = run_locate(
        [
            *common,
            "--model",
            model,
            "--max-new-tokens",
            str(args.max_new_tokens),
            "--out",
            str(tmp / "policy"),
        ],
        tmp / "rss1",
    )
    runs["tiny policy on every tile"] = {
        "seconds": round(s, 1),
        "peak_rss_gib": round(gib, 3),
        "stdout": out.strip()[:300],
    }
    s, gib, out = run_locate(
        [*common, "--boxes", json.dumps(tanks), "--out", str(tmp / "boxes"), "--format", "gpkg"],
        tmp / "rss2",
    )
    runs["400 given boxes: segment + label COG + GeoJSON"] = {
        "seconds": round(s, 1),
        "peak_rss_gib": round(gib, 3),
        "stdout": out.strip()[:300],
    }

    fc = json.loads((tmp / "boxes" / "result.geojson").read_text())
    coords = np.array(
        [pt for f in fc["features"] for ring in f["geometry"]["coordinates"] for pt in ring]
    )
    inside = bool(
        (
            (coords[:, 0] >= west)
            & (coords[:, 0] <= east)
            & (coords[:, 1] >= south)
            & (coords[:, 1] <= north)
        ).all()
    )
    checks = {
        "geojson_features": len(fc["features"]),
        "geojson_crs": fc["properties"]["crs"],
        "all_coordinates_inside_footprint": inside,
        "cog_valid_policy_run": cog_validate(str(tmp / "policy" / "mask.tif"))[0],
        "cog_valid_boxes_run": cog_validate(str(tmp / "boxes" / "mask.tif"))[0],
    }
    with rasterio.open(tmp / "boxes" / "mask.tif") as ds:
        checks["mask_tif_px"] = [ds.width, ds.height]
        checks["mask_overviews"] = ds.overviews(1)
    result = {
        "scene": f"{args.side} x {args.side} px, 3 bands uint8, EPSG:32616, 0.3 m, "
        f"{scene.stat().st_size / 2**20:.0f} MiB on disk (DEFLATE)",
        "make_scene_s": round(make_s, 1),
        "tile_size": args.tile_size,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "runs": runs,
        "checks": checks,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scene_tiling.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# Whole-scene locate (tiling)",
        "",
        f"Scene: {result['scene']}; `--tile-size {args.tile_size}` (overlap 128); "
        f"{result['machine']}.",
        "",
        "| run | seconds | peak RSS (GiB) |",
        "|---|---|---|",
        *[f"| {k} | {v['seconds']} | {v['peak_rss_gib']} |" for k, v in runs.items()],
        "",
        "Checks: " + ", ".join(f"{k} = {v}" for k, v in checks.items()) + ".",
    ]
    (RESULTS / "scene_tiling.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()

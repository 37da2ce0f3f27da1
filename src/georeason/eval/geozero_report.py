"""``metrics.json`` and ``report.md`` of a GeoZero evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from georeason.eval.geozero_rules import PRED_BOX_FRAMES
from georeason.io import write_text_atomic

_FRAME_NOTE = (
    "GeoZero's script reads every predicted box as pixels of a factor-28 `smart_resize` of the "
    "image (`reverse_from_qwen3vl_format`), but Qwen3-VL, the model GeoZero trains, writes "
    "boxes normalised to 0..1000. Its published grounding numbers therefore come from the "
    "`geozero-script` frame; `qwen3-norm1000` is the model's own convention. For an image "
    "near 1000 px wide both readings nearly coincide; for other sizes they differ by the "
    "ratio of the image side to 1000 (e.g. on a 800 x 800 px image a box the model meant at "
    "[100, 100, 300, 300]/1000 is read by the script as pixels [99, 99, 296, 296] instead of "
    "[80, 80, 240, 240])."
)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def write_geozero_outputs(
    out_dir: str | Path,
    task: str,
    metrics: dict[str, Any],
    meta: dict[str, Any],
    frames_table: dict[str, dict[str, Any]] | None = None,
) -> tuple[Path, Path]:
    """Write ``metrics.json`` (the metrics, flat, plus ``geozero_task`` and ``meta``) and
    ``report.md``, each atomically.

    Args:
        out_dir: output folder (created).
        task: the GeoZero task.
        metrics: :func:`georeason.eval.geozero_eval.score_task`'s result.
        meta: run description (source, data file, box frame, counts).
        frames_table: grounding only: the metrics under every ``--pred-box-frame``.

    Returns:
        The two paths.
    """
    from georeason.io import write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", {**metrics, "geozero_task": task, "meta": meta})
    lines = [f"# GeoZero evaluation: {task}", ""]
    lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in meta.items() if v is not None]
    lines += ["", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in metrics.items()]
    if task == "grounding" and frames_table:
        lines += ["", "## The same answers under every box frame", ""]
        lines += [
            "| --pred-box-frame | acc50 | acc50_S | acc50_M | acc50_L |",
            "|---|---|---|---|---|",
        ]
        for f in PRED_BOX_FRAMES:
            if f in frames_table:
                m = frames_table[f]
                cells = " | ".join(
                    _fmt(m.get(k)) for k in ("acc50", "acc50_S", "acc50_M", "acc50_L")
                )
                lines.append(f"| {f} | {cells} |")
        lines += ["", _FRAME_NOTE]
    if task == "vqa":
        lines += [
            "",
            "GeoZero's loose match counts an empty answer as correct (the empty string is "
            "contained in every label); `accuracy_empty_as_wrong` counts it wrong.",
        ]
    if metrics.get("METEOR_unavailable"):
        lines += ["", f"METEOR was not computed: {metrics['METEOR_unavailable']}."]
    lines += [
        "",
        "Scoring rules: GeoZero's `single_infer_eval_qwen3vl_think.py` (arXiv 2511.22645). "
        "GeoZero's published numbers are not bundled with georeason: compare with the paper's "
        "tables for the same benchmark files.",
    ]
    report = out / "report.md"
    write_text_atomic(report, "\n".join(lines) + "\n")
    return out / "metrics.json", report

"""``report.md`` and ``reliability.png`` of ``eval --task verify`` (Eye vs Hand)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from georeason.eval.asymmetry import ECE_BINS, reliability_bins
from georeason.io import atomic_path, write_text_atomic

#: Percentage points within which Eye and Hand count as even, and above chance the Eye must be
#: to count as informative (ours: a few points is within the noise of a few hundred samples).
EVEN_BAND_PP = 5.0


def asymmetry_verdict(metrics: dict[str, Any]) -> str:
    """A short reading of the numbers for someone deciding between self-evolution, distillation
    and supervised rewards (thresholds: :data:`EVEN_BAND_PP`)."""
    eye, hand = metrics.get("eye_select_acc"), metrics.get("hand_acc50")
    chance = metrics.get("eye_select_chance")
    if (
        eye is None
        or hand is None
        or any(isinstance(v, float) and math.isnan(v) for v in (eye, hand))
    ):
        return "No sample had a target box: the Eye could not be measured."
    gap = eye - hand
    lines = []
    if chance is not None and eye - chance < EVEN_BAND_PP:
        lines.append(
            f"The Eye is at chance level (selection {eye:.1f} % vs chance {chance:.1f} %): its "
            "confidence carries no information about the target, so a verification reward "
            "from this verifier is noise. Neither self-evolution nor distillation from it can "
            "teach the policy; use a stronger verifier or supervised (IoU) rewards."
        )
    elif gap > EVEN_BAND_PP:
        lines.append(
            f"Eye > Hand by {gap:.1f} points: the model recognises the target among candidates "
            f"more often ({eye:.1f} %) than it localizes it ({hand:.1f} % Acc@0.5). This is the "
            "asymmetry RemoteZero relies on: a verification reward carries signal the policy "
            "does not yet use, so self-evolution (the policy as its own verifier) can bootstrap, "
            "and distillation from this verifier can teach a weaker policy."
        )
    elif gap < -EVEN_BAND_PP:
        lines.append(
            f"Hand > Eye by {-gap:.1f} points: the model localizes ({hand:.1f} % Acc@0.5) better "
            f"than it verifies ({eye:.1f} % selection). A verification reward from this model "
            "would pull the policy towards boxes it already beats; self-evolution is not "
            "expected to help. Use a stronger verifier (distillation) or supervised rewards."
        )
    else:
        lines.append(
            f"Eye and Hand are even (selection {eye:.1f} % vs Acc@0.5 {hand:.1f} %, within "
            f"{EVEN_BAND_PP:.0f} points): self-evolution has little margin to exploit; expect "
            "small gains at best, and prefer a stronger verifier if one is available."
        )
    return " ".join(lines)


def plot_reliability(bins: list[dict[str, float]], path: Path, title: str) -> Path:
    """Reliability diagram: share of targets per confidence bin against the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=100)
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfect calibration")
    if bins:
        ax.bar(
            [(b["lo"] + b["hi"]) / 2 for b in bins],
            [b["accuracy"] for b in bins],
            width=1.0 / ECE_BINS * 0.9,
            color="tab:blue",
            alpha=0.8,
            label="share of targets",
        )
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color="k")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="verifier P(yes)", ylabel="share that are targets")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path


def _fmt(v: Any, pct: bool = True) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.2f}" if pct else f"{v:.3f}"


def write_verify_report(result: Any) -> Path:
    """Write ``report.md`` and ``reliability.png`` into ``result.out_dir``; returns the report."""
    out: Path = result.out_dir
    m, run = result.metrics, result.run
    confs, labels = [], []
    for rec in result.records:
        if rec.get("eye"):
            confs.extend(rec["eye"]["scores"])
            labels.extend(rec["eye"]["is_target"])
    bins = reliability_bins(confs, labels)
    plot_reliability(bins, out / "reliability.png", f"{run['dataset']}: verifier calibration")
    pred, ver, vo = run["predictor"], run["verifier"], run["verify"]
    lines = [f"# Eye vs Hand: {run['dataset']} / {run['split']}", ""]
    if pred.get("weights") == "random" or ver.get("weights") == "random":
        lines += [
            "> **RANDOM WEIGHTS.** A tiny random-weight model took part: these numbers test the "
            "wiring only and say nothing about any real model.",
            "",
        ]
    lines += [
        f"Policy (Hand): `{pred.get('model', pred.get('path'))}`; verifier (Eye): "
        f"`{ver.get('model')}`; verifier input: `{vo['input_mode']}` (margin "
        f"{vo['margin_ratio']}); {vo['n_distractors']} distractors per sample (other annotated "
        f"objects first, then random boxes at the targets' sizes, seed {vo['seed']}).",
        "",
        "| metric | value |",
        "|---|---|",
        f"| Hand: Acc@0.5 (%) | {_fmt(m.get('hand_acc50'))} |",
        f"| Hand: mean IoU (%) | {_fmt(m.get('hand_gIoU'))} |",
        f"| Eye: selection accuracy (%) | {_fmt(m.get('eye_select_acc'))} |",
        f"| Eye: selection chance level (%) | {_fmt(m.get('eye_select_chance'))} |",
        f"| Eye: pair accuracy / AUC (%) | {_fmt(m.get('eye_pair_acc'))} |",
        f"| Eye: ECE (fraction) | {_fmt(m.get('eye_ece'), pct=False)} |",
        f"| asymmetry = Eye selection - Hand (points) | {_fmt(m.get('asymmetry'))} |",
        f"| samples (with a target and a distractor, for the Eye) | {result.counts['samples']} "
        f"({int(m.get('eye_samples', 0))}) |",
        "",
        "## Verdict",
        "",
        asymmetry_verdict(m),
        "",
        "Selection among a few candidates is easier than free localization; that gap is what a "
        "verification reward exploits (RemoteZero, section 2), so the two are compared as the "
        "paper compares them.",
        "",
        "## Calibration",
        "",
        "![reliability diagram](reliability.png)",
        "",
    ]
    path = out / "report.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path

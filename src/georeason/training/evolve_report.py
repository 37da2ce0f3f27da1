"""``evolve_report.md``: what the rounds of a RemoteZero evolve run did.

Per round (from each round's ``manifest.json`` and ``train_log.jsonl``):

* reward curves per step (``reward_curves.png``: TRL's weighted reward and the verifier's mean
  confidence on the policy's boxes), one line per round;
* verifier agreement with the previous round: the verifiers of rounds t and t-1 scored the same
  fixed probe crops (:data:`georeason.training.round_probe.PROBE_BOXES`); we report the share of
  crops on which both make the same yes/no decision (confidence >= 0.5), the mean absolute
  difference and Pearson's r;
* the box area ratio trend (``box_area_ratio.png``): mean box area / image area per step. A rising
  area with flat accuracy is the reward hack RemoteZero's area penalty exists to stop; the report
  flags it (:func:`area_hack_warning`).
* Acc@0.5 / gIoU per round when the run evaluates after each round.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from georeason.io import atomic_path, write_text_atomic
from georeason.jsonl import read_jsonl

REPORT_FILE = "evolve_report.md"
#: Decision threshold on a verifier confidence for the agreement rate (yes iff >= 0.5).
DECISION_THRESHOLD = 0.5
#: Relative rise of the mean box area ratio between the first and last round above which, with
#: Acc@0.5 up by less than :data:`FLAT_ACCURACY_POINTS`, the report warns (ours).
AREA_RISE = 0.25
FLAT_ACCURACY_POINTS = 1.0


def verifier_agreement(current: Sequence[float], previous: Sequence[float]) -> dict[str, Any]:
    """Agreement of two verifiers' confidences on the same probe crops.

    Args:
        current, previous: confidences in ``[0, 1]``, same length and order.

    Returns:
        ``{"n", "decision_agreement" (fraction in [0, 1]), "mean_abs_diff", "pearson_r"}``;
        ``pearson_r`` is None when either side is constant or ``n < 2``; all None when ``n`` is 0.

    Raises:
        ValueError: if the lengths differ.

    Examples:
        >>> verifier_agreement([0.9, 0.2], [0.6, 0.4])["decision_agreement"]
        1.0
    """
    a = np.asarray(current, dtype=np.float64)
    b = np.asarray(previous, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"probe lengths differ: {a.size} vs {b.size}")
    if a.size == 0:
        return {"n": 0, "decision_agreement": None, "mean_abs_diff": None, "pearson_r": None}
    agree = float(np.mean((a >= DECISION_THRESHOLD) == (b >= DECISION_THRESHOLD)))
    r = None
    if a.size >= 2 and a.std() > 0 and b.std() > 0:
        r = float(np.corrcoef(a, b)[0, 1])
    return {
        "n": int(a.size),
        "decision_agreement": agree,
        "mean_abs_diff": float(np.mean(np.abs(a - b))),
        "pearson_r": r,
    }


def area_hack_warning(manifests: Sequence[dict[str, Any]]) -> str | None:
    """A warning when the mean box area ratio rose by more than :data:`AREA_RISE` (relative)
    from the first to the last round while Acc@0.5 (if evaluated) rose by less than
    :data:`FLAT_ACCURACY_POINTS` points; None otherwise or with fewer than two rounds."""
    areas = [(m.get("reward_summary") or {}).get("box_area_ratio_mean") for m in manifests]
    if len(areas) < 2 or areas[0] is None or areas[-1] is None or areas[0] <= 0:
        return None
    rise = areas[-1] / areas[0] - 1.0
    if rise <= AREA_RISE:
        return None
    accs = [(m.get("eval") or {}).get("box_Acc@0.5") for m in manifests]
    if accs[0] is not None and accs[-1] is not None:
        gain = accs[-1] - accs[0]
        if gain >= FLAT_ACCURACY_POINTS:
            return None
        return (
            f"box area ratio rose {rise:+.0%} while Acc@0.5 changed {gain:+.2f} points: the "
            "policy may be enlarging boxes to please the verifier (raise "
            "verifier.area_penalty_weight or lower verifier.area_threshold)"
        )
    return (
        f"box area ratio rose {rise:+.0%} across rounds and no accuracy was measured: check "
        "for box inflation (enable evolve.eval)"
    )


def _steps(round_dir: Path) -> list[dict[str, Any]]:
    by_step: dict[int, dict[str, Any]] = {}
    for rec in read_jsonl(round_dir / "train_log.jsonl", missing_ok=True):
        if "reward" in rec:
            by_step[int(rec["step"])] = rec
    return [by_step[s] for s in sorted(by_step)]


def _plot(
    curves: dict[str, list[tuple[int, float]]], ylabel: str, title: str, path: Path
) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not any(curves.values()):
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for label, points in curves.items():
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", label=label)
    ax.set_xlabel("step (within the round)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def write_evolve_report(run_dir: str | Path, manifests: Sequence[dict[str, Any]]) -> Path:
    """Write ``RUN/evolve_report.md`` and its PNGs for the given round manifests (in order).

    Returns:
        The report path.
    """
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    rewards: dict[str, list[tuple[int, float]]] = {}
    confidences: dict[str, list[tuple[int, float]]] = {}
    areas: dict[str, list[tuple[int, float]]] = {}
    for m in manifests:
        name = f"round {m['round']}"
        steps = _steps(run / f"round-{m['round']:02d}")
        for key, target in (
            ("reward", rewards),
            ("verifier_confidence", confidences),
            ("box_area_ratio", areas),
        ):
            target[name] = [(r["step"], float(r[key])) for r in steps if r.get(key) is not None]
    curves = {**{f"{k} reward": v for k, v in rewards.items()}}
    curves.update({f"{k} verifier conf.": v for k, v in confidences.items()})
    reward_png = _plot(curves, "value", "reward and verifier confidence", run / "reward_curves.png")
    area_png = _plot(areas, "box area / image area", "box area ratio", run / "box_area_ratio.png")

    lines = [
        "# RemoteZero evolve report",
        "",
        f"Run folder: `{run}`. Round t's verifier is round t-1's policy (round 0: see below).",
        "",
        "| round | verifier | shared base | steps | reward first → last (mean) | verifier conf. "
        "(mean) | box area ratio first → last (mean) | agreement w/ prev. verifier | "
        "Acc@0.5 | gIoU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    previous_probe = None
    for m in manifests:
        s = m.get("reward_summary") or {}
        v = m.get("verifier") or {}
        probe = m.get("verifier_probe") or []
        agreement = None
        if previous_probe and probe and len(probe) == len(previous_probe):
            agreement = verifier_agreement(probe, previous_probe)
        previous_probe = probe
        agree_txt = "–"
        if agreement is not None:
            agree_txt = (
                f"{agreement['decision_agreement']:.0%} same decision, "
                f"|Δ| {agreement['mean_abs_diff']:.3f}, r {_fmt(agreement['pearson_r'], 2)}"
            )
        ev = m.get("eval") or {}
        source = v.get("source", "?")
        if source == "external":
            source = f"external ({v.get('kind')}: {v.get('model') or v.get('url')})"
        lines.append(
            f"| {m['round']} | {source} | {'yes' if v.get('shared') else 'no'} | "
            f"{s.get('steps', '–')} | {_fmt(s.get('reward_first'))} → "
            f"{_fmt(s.get('reward_last'))} ({_fmt(s.get('reward_mean'))}) | "
            f"{_fmt(s.get('verifier_confidence_mean'))} | {_fmt(s.get('box_area_ratio_first'))} → "
            f"{_fmt(s.get('box_area_ratio_last'))} ({_fmt(s.get('box_area_ratio_mean'))}) | "
            f"{agree_txt} | {_fmt(ev.get('box_Acc@0.5'), 2)} | {_fmt(ev.get('box_gIoU'), 2)} |"
        )
    lines += [""]
    warning = area_hack_warning(manifests)
    if warning:
        lines += [f"**Warning:** {warning}.", ""]
    if reward_png:
        lines += ["## Reward curves", "", f"![reward curves]({reward_png.name})", ""]
    if area_png:
        lines += [
            "## Box area ratio",
            "",
            "A rising area with flat accuracy is the reward hack the area penalty exists to stop.",
            "",
            f"![box area ratio]({area_png.name})",
            "",
        ]
    lines += [
        "## Notes",
        "",
        "- reward: TRL's weighted sum of the rewards (format + verification); verifier conf.: "
        "mean confidence of the round's verifier on the policy's context crops.",
        "- agreement: the round's verifier and the previous round's verifier scored the same "
        "fixed probe crops (quadrants and centre of the first training images); same decision = "
        "both confidences on the same side of 0.5.",
        "- Acc@0.5 and gIoU in percent (region task, `georeason.eval`), when evaluated.",
        "",
        "Round timing and hashes are in each `round-XX/manifest.json`.",
        "",
    ]
    path = run / REPORT_FILE
    write_text_atomic(path, "\n".join(lines))
    return path

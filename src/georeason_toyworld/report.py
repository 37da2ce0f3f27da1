"""The toy-world experiment's report: ``results.json``, ``report.md`` and PNG curves.

Aggregates the per-seed results of :func:`georeason_toyworld.experiment.run_seed` (mean and
sample standard deviation over seeds) and checks the issue's targets as measured, without
adjusting anything: (a) RemoteZero raises Acc@0.5 on implicit evaluation queries by >= 20 points
over the pretrained baseline; (b) self-evolution round 2 is not worse than round 1.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Stages in report order: (key, label). ``baseline`` reads ``results["baseline"]``.
STAGES: tuple[tuple[str, str], ...] = (
    ("baseline", "pretrained policy (baseline)"),
    ("remotezero_distill", "RemoteZero, distillation (larger verifier)"),
    ("remotezero_selfevo_r1", "RemoteZero, self-evolution round 1"),
    ("remotezero_selfevo_r2", "RemoteZero, self-evolution round 2"),
    ("remotereasoner_ceiling", "ceiling: supervised IoU reward (RemoteReasoner)"),
    ("ablation_no_area_penalty", "ablation: round 1 without area penalty"),
    ("ablation_strict_crop", "ablation: round 1 with strict crop (margin 0)"),
)
EVAL_LABELS = {
    "implicit_heldout": "implicit, held-out wordings",
    "implicit_train_wordings": "implicit, train wordings (new scenes)",
    "plain": "plain expressions",
}
TARGET_GAIN = 0.20


def last_run(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the last run in an appended step log (rows after the last step reset).

    Args:
        records: log rows with an integer ``"step"``, in file order.

    Returns:
        The rows from the last row whose step is not larger than its predecessor's on (all
        rows if the steps only increase).
    """
    start = 0
    for i in range(1, len(records)):
        if records[i]["step"] <= records[i - 1]["step"]:
            start = i
    return list(records[start:])


def hand_of(result: dict[str, Any], stage: str) -> dict[str, Any] | None:
    """The Hand metrics of one stage of one seed (None if the stage did not run)."""
    if stage == "baseline":
        return result["baseline"]["hand"]
    run = result["runs"].get(stage)
    return run["hand"] if run else None


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value) of finite values; NaN if none."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], float)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def _fmt(m: float, s: float, pct: bool = True) -> str:
    if not math.isfinite(m):
        return "n/a"
    k = 100.0 if pct else 1.0
    return f"{m * k:.1f} ± {s * k:.1f}" if pct else f"{m:.3f} ± {s:.3f}"


def aggregate(per_seed: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean/std over seeds of Acc@0.5, mIoU and box area per stage and eval set, the Eye's
    accuracy, and the target checks.

    Returns:
        ``{"seeds", "stages": {stage: {eval_set: {metric: [mean, std, per-seed list]}}},
        "eye": {...}, "targets": {...}}``.
    """
    stages: dict[str, Any] = {}
    for key, _ in STAGES:
        per = [p for p in (hand_of(r, key) for r in per_seed) if p is not None]
        if not per:  # e.g. ablations run for some seeds only: averaged over those that have it
            continue
        stages[key] = {"n_seeds": len(per)}
        for es in EVAL_LABELS:
            stages[key][es] = {}
            for metric in ("acc50", "miou", "box_area_ratio", "format_rate", "think_hit_rate"):
                vals = [p[es][metric] for p in per]
                m, s = mean_std(vals)
                stages[key][es][metric] = {"mean": m, "std": s, "per_seed": vals}
    eye: dict[str, Any] = {}
    for who in ("eye_policy", "eye_teacher"):
        eye[who] = {}
        for es in ("implicit_heldout", "implicit_train_wordings"):
            eye[who][es] = {}
            for metric in ("select_acc", "pair_acc", "chance_select"):
                vals = [r["baseline"][who][es][metric] for r in per_seed]
                m, s = mean_std(vals)
                eye[who][es][metric] = {"mean": m, "std": s, "per_seed": vals}
    targets: dict[str, Any] = {}
    for es in ("implicit_heldout", "implicit_train_wordings"):
        base = stages["baseline"][es]["acc50"]["per_seed"]
        t: dict[str, Any] = {}
        for key in ("remotezero_distill", "remotezero_selfevo_r1", "remotezero_selfevo_r2"):
            if key not in stages:
                continue
            gains = [a - b for a, b in zip(stages[key][es]["acc50"]["per_seed"], base, strict=True)]
            m, s = mean_std(gains)
            t[key] = {
                "gain_mean": m,
                "gain_std": s,
                "per_seed": gains,
                "met": m >= TARGET_GAIN - 1e-9,
            }
        if "remotezero_selfevo_r2" in stages:
            r1 = stages["remotezero_selfevo_r1"][es]["acc50"]["per_seed"]
            r2 = stages["remotezero_selfevo_r2"][es]["acc50"]["per_seed"]
            diff = [b - a for a, b in zip(r1, r2, strict=True)]
            m, s = mean_std(diff)
            t["r2_minus_r1"] = {"mean": m, "std": s, "per_seed": diff, "met": m >= -1e-9}
        targets[es] = t
    return {
        "seeds": [r["seed"] for r in per_seed],
        "stages": stages,
        "eye": eye,
        "targets": targets,
    }


def _plot(out: Path, per_seed: Sequence[dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    for curve, fname, ylabel in (
        ("reward", "reward_curves.png", "mean total reward per step"),
        ("box_area_ratio", "box_area_trend.png", "mean box area / image area"),
    ):
        fig, ax = plt.subplots(figsize=(7, 4))
        labelled: set[str] = set()
        for i, (key, label) in enumerate(STAGES[1:]):
            for r in per_seed:
                run = r["runs"].get(key)
                if not run:
                    continue
                ys = np.asarray([np.nan if v is None else v for v in run["curves"][curve]], float)
                if ys.size == 0 or np.all(np.isnan(ys)):
                    continue
                k = max(1, ys.size // 20)
                smooth = np.convolve(np.nan_to_num(ys), np.ones(k) / k, mode="valid")
                ax.plot(smooth, color=f"C{i}", alpha=0.8, label=None if key in labelled else label)
                labelled.add(key)
        ax.set_xlabel("GRPO step (moving average)")
        ax.set_ylabel(ylabel)
        if labelled:
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / fname, dpi=100)
        plt.close(fig)
        files.append(fname)
    fig, ax = plt.subplots(figsize=(7, 4))
    losses = (
        ("hand_loss", "C0", "Hand (box) loss"),
        ("eye_loss", "C1", "Eye (yes/no) loss"),
        ("caption_loss", "C2", "caption loss"),
    )
    labelled: set[str] = set()
    for r in per_seed:
        log = Path(r["out_dir"]) / "pretrain_policy_log.jsonl" if "out_dir" in r else None
        if log is None or not log.is_file():
            continue
        recs = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
        recs = last_run(recs)
        for key, colour, label in losses:
            pts = [(x["step"], x[key]) for x in recs if x.get(key)]  # 0 = not trained
            if pts:
                steps, values = zip(*pts, strict=True)
                ax.plot(steps, values, colour, alpha=0.7, label=None if key in labelled else label)
                labelled.add(key)
    ax.set_xlabel("pretraining step")
    ax.set_ylabel("token cross-entropy")
    ax.set_yscale("log")
    if labelled:
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "pretrain_loss.png", dpi=100)
    plt.close(fig)
    files.append("pretrain_loss.png")
    return files


def _setup_text(result: dict[str, Any]) -> str:
    """The setup paragraph of the report, from one seed's ``results.json`` content."""
    from georeason_toyworld.pretrain import TOY_ARCH

    st = result["settings"]
    ps, ts = st["policy_size"], st["teacher_size"]
    pc = result.get("pretrain", {}).get("policy", {}).get("config")
    arch = {"qwen3_vl": "Qwen3-VL", "qwen2_5_vl": "Qwen2.5-VL"}.get(TOY_ARCH, TOY_ARCH)
    mix = (
        f" (AdamW lr {pc['lr']}, cosine; per step {pc['hand_batch']} Hand, {pc['eye_batch']} "
        f"Eye and {pc['caption_batch']} caption examples)"
        if pc
        else ""
    )
    return (
        f"Toy {arch} policy (text hidden {ps['hidden']}, {ps['layers']} layers; vision "
        f"{ps['vision_hidden']} x {ps['vision_depth']}), random init, {st.get('scene_px', 112)} "
        f"px scenes. Pretraining: {st['pretrain_steps']} SFT steps{mix} on {st['n_pretrain']} "
        "scenes: plain referring expressions -> `<think>a NOUN</think><answer>[[box]]</answer>` "
        "(Hand), yes/no verification of context crops against plain and implicit texts (Eye), "
        "and naming the object of a context crop (caption, auxiliary Eye examples). No "
        "implicit query is ever paired with a box. Larger verifier (distillation): Eye-only model "
        f"(hidden {ts['hidden']}, {ts['layers']} layers), {st['teacher_steps']} steps. GRPO "
        f"(TRL via `georeason.training.trainer.train`, LoRA r {st['lora_r']}): {st['grpo_steps']} "
        f"steps x {st['prompts_per_step']} prompts x {st['num_generations']} rollouts at "
        f"temperature {st['temperature']}, lr {st['grpo_lr']}, on {st['n_rl']} RL scenes "
        "(implicit queries, train wordings, no boxes). RemoteZero reward = format + "
        f"verification (context margin {st['margin_ratio']}, area penalty lambda "
        f"{st['area_penalty_weight']}, tau {st['area_threshold']}). Ceiling: the same budget "
        "with the supervised IoU + count + format reward on the same RL scenes' boxes. "
        f"Evaluation: {st['n_eval']} eval scenes per seed, greedy decoding, Acc@0.5 and mIoU of "
        "the answer box (unparsable = miss); three query sets on the same scenes: implicit "
        "queries with held-out wordings (never seen in any training), implicit queries with the "
        "train wordings, and plain expressions. Self-evolution: round 2 trains the merged "
        "round-1 policy with the merged round-1 policy as frozen verifier."
    )


def render_markdown(
    agg: dict[str, Any], per_seed: Sequence[dict[str, Any]], figures: list[str]
) -> str:
    """The report body (tables of measured numbers; the discussion is written by hand)."""
    n = len(per_seed)
    lines = [
        "# Toy world: does annotation-free GRPO (RemoteZero) teach localisation?",
        "",
        f"Seeds: {', '.join(str(s) for s in agg['seeds'])} ({n} seed{'s' if n != 1 else ''}); "
        "numbers are mean ± sample std over seeds, in percent (Acc@0.5, mIoU).",
        "",
        "## Setup",
        "",
        _setup_text(per_seed[0]),
        "",
        "## Targets (as measured)",
        "",
    ]
    for es, t in agg["targets"].items():
        lines.append(f"**{EVAL_LABELS[es]}**")
        lines.append("")
        for key, v in t.items():
            if key == "r2_minus_r1":
                r1 = t.get("remotezero_selfevo_r1", {}).get("gain_mean")
                empty = v["met"] and r1 is not None and r1 < 0.05
                lines.append(
                    f"- round 2 − round 1 Acc@0.5: {_fmt(v['mean'], v['std'])} points "
                    f"(per seed {[round(x * 100, 1) for x in v['per_seed']]}) → "
                    f"{'met' if v['met'] else 'NOT met'}"
                    + (
                        " (only in the empty sense: round 1 gained less than 5 points)"
                        if empty
                        else ""
                    )
                )
            else:
                lines.append(
                    f"- {key}: Acc@0.5 gain over baseline {_fmt(v['gain_mean'], v['gain_std'])} "
                    f"points (per seed {[round(x * 100, 1) for x in v['per_seed']]}) → "
                    f"{'met (>= 20)' if v['met'] else 'NOT met (< 20)'}"
                )
        lines.append("")
    for es, label in EVAL_LABELS.items():
        lines += [
            f"## Hand: {label}",
            "",
            "| stage | seeds | Acc@0.5 | mIoU | box area / image | format ok "
            "| reasoning names target |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, stage_label in STAGES:
            if key not in agg["stages"]:
                continue
            m = agg["stages"][key][es]
            lines.append(
                f"| {stage_label} | {agg['stages'][key]['n_seeds']} | "
                f"{_fmt(m['acc50']['mean'], m['acc50']['std'])} | "
                f"{_fmt(m['miou']['mean'], m['miou']['std'])} | "
                f"{_fmt(m['box_area_ratio']['mean'], m['box_area_ratio']['std'], pct=False)} | "
                f"{_fmt(m['format_rate']['mean'], m['format_rate']['std'])} | "
                f"{_fmt(m['think_hit_rate']['mean'], m['think_hit_rate']['std'])} |"
            )
        lines.append("")
    lines += [
        "## Eye vs Hand before RL",
        "",
        "Eye `select_acc`: share of eval scenes in which the verifier scores the target object's "
        "context crop highest among all objects of the scene (chance = mean 1/objects). Hand: "
        "the pretrained policy's Acc@0.5.",
        "",
        "| eval set | Hand Acc@0.5 | Eye (policy) select | Eye (policy) pair acc | "
        "Eye (larger verifier) select | chance select |",
        "|---|---|---|---|---|---|",
    ]
    for es in ("implicit_heldout", "implicit_train_wordings"):
        h = agg["stages"]["baseline"][es]["acc50"]
        ep, et = agg["eye"]["eye_policy"][es], agg["eye"]["eye_teacher"][es]
        lines.append(
            f"| {EVAL_LABELS[es]} | {_fmt(h['mean'], h['std'])} | "
            f"{_fmt(ep['select_acc']['mean'], ep['select_acc']['std'])} | "
            f"{_fmt(ep['pair_acc']['mean'], ep['pair_acc']['std'])} | "
            f"{_fmt(et['select_acc']['mean'], et['select_acc']['std'])} | "
            f"{_fmt(ep['chance_select']['mean'], ep['chance_select']['std'])} |"
        )
    lines += [
        "",
        "## Wall time (seconds, per seed)",
        "",
        "| stage | " + " | ".join(f"seed {r['seed']}" for r in per_seed) + " |",
    ]
    lines.append("|---|" + "---|" * n)
    stages = list(per_seed[0]["wall_s"].keys())
    for st in stages:
        lines.append(
            f"| {st} | "
            + " | ".join(
                f"{r['wall_s'][st]:.0f}" if st in r["wall_s"] else "not run" for r in per_seed
            )
            + " |"
        )
    lines += [
        "",
        "Per seed: "
        + "; ".join(
            f"seed {r['seed']}: {r['settings'].get('workers', 1)} worker(s)"
            + (", pretraining reused from an earlier run" if r.get("pretrain_reused") else "")
            for r in per_seed
        )
        + ". Wall times depend on what else ran on the machine at the same time.",
    ]
    lines += ["", "## Figures", ""]
    lines += [f"![{f}]({f})" for f in figures]
    lines.append("")
    return "\n".join(lines)


def write_report(out_dir: str | Path, per_seed: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Write ``results.json`` (per seed + aggregate), ``report.md`` and PNGs into ``out_dir``.

    Returns:
        The aggregate dict written under ``"aggregate"`` in ``results.json``.

    Raises:
        ValueError: if ``per_seed`` is empty.
    """
    if not per_seed:
        raise ValueError("no seed results to report")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    agg = aggregate(per_seed)
    figures = _plot(out, per_seed)
    (out / "results.json").write_text(
        json.dumps({"aggregate": agg, "per_seed": list(per_seed)}, indent=2) + "\n",
        encoding="utf-8",
    )
    (out / "report.md").write_text(render_markdown(agg, per_seed, figures), encoding="utf-8")
    return agg

"""``georeason-toyworld run``: does annotation-free GRPO (RemoteZero) teach localisation?

One seed of the experiment (:func:`run_seed`) climbs a sanity ladder; each rung is measured
before the next is trusted (everything seeded by ``seed``: scenes, model init, SFT, GRPO):

0. **Pretraining** (:mod:`georeason_toyworld.pretrain`): the policy (Hand + Eye) and a larger
   Eye-only verifier, on token-aligned grid scenes (:mod:`georeason_toyworld.grid`). Measured
   before any RL: the Hand on plain expressions and on implicit queries, the Eye's selection.
1. **Supervised RL on what the Hand already does**: GRPO with the true IoU reward
   (RemoteReasoner's IoU + count + format) on plain expressions of new scenes.
2. **Does the verifier's signal point the right way?** Test-time Generate-Crop-Verify on
   implicit queries (:func:`georeason.bestofn.best_of_n`, the policy's own Eye): greedy vs
   Eye-picked vs oracle-picked Acc@0.5 among N samples.
3. **RemoteZero** (format + verification reward, the larger verifier; no box anywhere in its
   data or reward) on implicit queries.
4. **Ceiling**: the same budget with the supervised IoU reward on the same implicit queries.
5. **Self-evolution**: round 1 (the frozen pretrained policy verifies), round 2 (the merged
   round-1 policy trains with itself as the verifier).

Every GRPO run goes through :func:`georeason.training.trainer.train` (TRL's ``GRPOTrainer``) and
logs per step TRL's reward mean/std, share of groups with tied rewards, KL, clip ratio and
completion length, plus two logged-only monitors (weight 0) that read the sampled boxes against
targets that training never sees (:class:`SampledBoxMonitor`).

Results go to ``OUT/seed{S}/results.json`` (with the ``summary`` of the issue's contract);
:func:`run_experiment` runs several seeds (reusing finished ones) and writes the report.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from georeason_toyworld.grpo import (
    GRPO_CURVES,
    SampledBoxMonitor,
    grpo_config,
    grpo_job,
    run_jobs,
)
from georeason_toyworld.settings import QUICK, ExperimentSettings
from georeason_toyworld.stages import (
    EVAL_SETS,
    baseline_metrics,
    bestofn_metrics,
    build_data,
    pretrain_models,
    summary_of,
)

__all__ = [
    "EVAL_SETS",
    "GRPO_CURVES",
    "QUICK",
    "ExperimentSettings",
    "SampledBoxMonitor",
    "run_experiment",
    "run_jobs",
    "run_seed",
]


def _grpo_rungs(
    out: Path, seed: int, s: ExperimentSettings, data: dict[str, Any], log
) -> tuple[dict[str, Any], float]:
    """Rungs 1, 3, 4 and 5: five GRPO runs, two at a time with 2 workers.

    Returns the runs by name and the seconds the reused ones (finished by an earlier,
    interrupted call) add to this call's wall time (:func:`_reused_train_s`, per batch).
    """
    grpo_dir, policy = out / "grpo", str(out / "models" / "policy")
    teacher = {"kind": "local", "model": str(out / "models" / "teacher")}
    evals, boxes = data["evals"], data["monitor_boxes"]
    runs: dict[str, Any] = {}
    long = s.distill_grpo_steps  # rung 3 and its ceiling: the same, longer budget

    def job(name: str, mode: str, data_key: str, base: str = policy, **kw) -> tuple:
        raw = grpo_config(s, mode, base, grpo_dir / name, data[data_key], seed, **kw)
        return grpo_job(name, raw, evals, base, boxes)

    batches = [  # two runs of the same length side by side with 2 workers
        [
            job("remotezero_distill", "remotezero", "rl", verifier=teacher, steps=long),
            job("remotereasoner_ceiling", "remotereasoner", "rl_boxes", steps=long),
        ],
        [
            job("sanity_iou_plain", "remotereasoner", "plain_rl_boxes"),
            job("remotezero_selfevo_r1", "remotezero", "rl", merge=True),
        ],
    ]

    def collect(results: list[dict[str, Any]], workers: int) -> float:
        reused = _reused_train_s(results, workers)
        for r in results:
            runs[r["name"]] = r
            log(f"[seed {seed}] {r['name']}: {_acc_line(r['hand'])}")
        return reused

    reused_s = 0.0
    for batch in batches:
        log(f"[seed {seed}] GRPO: {', '.join(j[1][0] for j in batch)}")
        reused_s += collect(run_jobs(batch, s.workers), s.workers)
    r1 = runs["remotezero_selfevo_r1"]["merged_dir"]
    log(f"[seed {seed}] GRPO: remotezero_selfevo_r2 (verifier and policy: merged round 1)")
    r2 = run_jobs([job("remotezero_selfevo_r2", "remotezero", "rl", base=r1)], 1)
    reused_s += collect(r2, 1)
    return runs, reused_s


def _reused_train_s(results: list[dict[str, Any]], workers: int) -> float:
    """Seconds that the reused runs of one batch add to its wall time; pops their ``"reused"``.

    A reused run (:func:`georeason_toyworld.grpo.grpo_run` found it finished) took no time in
    this call; it counts with its stored ``train_wall_s`` (its evaluation is not counted). With
    1 worker the batch's runs ran one after another: the reused runs' sum. With 2 or more they
    ran side by side: the longest run of the batch minus the longest that trained in this call
    (already in the call's wall time).
    """
    reused = [r.pop("reused", False) for r in results]
    walls = [float(r["train_wall_s"]) for r in results]
    if workers <= 1:
        return sum(w for w, was in zip(walls, reused, strict=True) if was)
    fresh = [w for w, was in zip(walls, reused, strict=True) if not was]
    return max(walls, default=0.0) - max(fresh, default=0.0)


def _acc_line(hand: dict[str, Any]) -> str:
    return ", ".join(f"{k} Acc@0.5 {v['acc50']:.3f}" for k, v in hand.items())


def run_seed(
    out_dir: str | Path, seed: int, settings: ExperimentSettings, log=print
) -> dict[str, Any]:
    """Run every rung for one seed; write ``out_dir/results.json`` and return the results.

    Raises:
        georeason.errors.UserInputError: invalid settings (e.g. a negative seed).
    """
    import torch

    torch.manual_seed(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    walls: dict[str, float] = {}
    s = settings

    def tick(stage: str, since: float) -> float:
        now = time.perf_counter()
        walls[stage] = now - since
        log(f"[seed {seed}] {stage}: {walls[stage]:.0f} s")
        return now

    t = time.perf_counter()
    data = build_data(out, seed, s)
    t = tick("splits", t)
    pre = pretrain_models(out, seed, s, log)
    walls["pretrain"] = pre["stage_wall_s"]
    # with a model reused, the stage's wall is what a fresh stage takes (recorded per model),
    # and the time this call spent is left out of the total instead
    spent = time.perf_counter() - t if pre["reused"] else 0.0
    t = time.perf_counter() if pre["reused"] else tick("pretrain", t)
    baseline = baseline_metrics(out, data["evals"], s.device)
    t = tick("baseline_eval", t)
    log(f"[seed {seed}] pretrained: {_acc_line(baseline['hand'])}")
    greedy = baseline["hand"]["implicit_train_wordings"]["acc50"]
    bestofn = bestofn_metrics(out / "models" / "policy", data["evals"], s, seed, greedy)
    t = tick("bestofn", t)
    runs, reused_s = _grpo_rungs(out, seed, s, data, log)
    t = tick("grpo", t)
    # GRPO runs reused from an interrupted call count with the time they took to train, as the
    # reused pretrained models do, so that a resumed seed reports its work, not its last call
    walls["grpo_reused_train"] = reused_s
    total = time.perf_counter() - t0 + ((walls["pretrain"] - spent) if pre["reused"] else 0.0)
    total += reused_s
    results = {
        "seed": seed,
        "out_dir": str(out),
        "settings": dataclasses.asdict(s),
        "pretrain": {k: pre[k] for k in ("policy", "teacher")},
        "pretrain_reused": pre["reused"],
        "baseline": baseline,
        "bestofn": bestofn,
        "runs": runs,
        "wall_s": {**walls, "total": total},
        "threads": torch.get_num_threads(),
        "self_evolution": "two calls of georeason.training.trainer.train: round 2 trains the "
        "merged round-1 policy with the merged round-1 policy as its (frozen) verifier",
    }
    results["summary"] = summary_of(results)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


def _reusable(done: Path, settings: ExperimentSettings) -> dict[str, Any] | None:
    if not done.is_file():
        return None
    prev = json.loads(done.read_text(encoding="utf-8"))
    want = json.loads(json.dumps(dataclasses.asdict(settings)))
    have = dict(prev.get("settings", {}))
    defaults = json.loads(json.dumps(dataclasses.asdict(ExperimentSettings())))
    for key in set(want) - set(have):  # a setting added since: the run had its default
        have[key] = defaults[key]
    for key in ("workers",):  # does not change results
        have.pop(key, None)
        want.pop(key, None)
    return prev if have == want and "summary" in prev else None


def run_experiment(
    out_dir: str | Path,
    seeds: Sequence[int],
    settings: ExperimentSettings,
    reuse: bool = True,
    log=print,
) -> dict[str, Any]:
    """Run (or reuse) every seed under ``out_dir/seed{S}`` and write the aggregate report.

    Args:
        reuse: keep a seed whose ``results.json`` exists with the same settings (``workers``
            aside).

    Returns:
        The aggregate results (also written to ``out_dir/results.json``; ``report.md`` and
        ``*.png`` beside it).
    """
    from georeason_toyworld.report import write_report

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = Path(out_dir)
    per_seed = []
    for seed in seeds:
        done = out / f"seed{seed}" / "results.json"
        prev = _reusable(done, settings) if reuse else None
        if prev is not None:
            log(f"[seed {seed}] reusing {done}")
            per_seed.append(prev)
            continue
        per_seed.append(run_seed(out / f"seed{seed}", seed, settings, log=log))
    return write_report(out, per_seed)

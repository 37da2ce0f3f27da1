"""Stages of one toy-world seed: data, pretraining, measurements before RL, best-of-N, summary."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from georeason_toyworld.pretrain import PretrainConfig, make_toy_model, pretrain

#: Evaluation query sets: name -> (kind, wordings) of ``build_split("eval", ...)``.
EVAL_SETS: dict[str, tuple[str, str]] = {
    "implicit_heldout": ("implicit", "heldout"),
    "implicit_train_wordings": ("implicit", "train"),
    "plain": ("plain", "train"),
}


def build_data(out: Path, seed: int, s: Any) -> dict[str, Any]:
    """Write the GRPO data and build the eval sets.

    Returns:
        ``{"rl": JSONL of implicit queries without any box (RemoteZero's data),
        "rl_boxes": the same records with their boxes (ceiling), "plain_rl_boxes": plain
        expressions on the same scenes with boxes (rung 1), "evals": {name: records},
        "monitor_boxes": {record id: boxes}}`` (boxes xyxy, original pixels). The monitor
        boxes reach only the logged-only monitors, never a reward.
    """
    from georeason_toyworld.splits import build_split, write_split

    kw = s.split_kwargs()
    rl = build_split("rl", s.n_rl, seed, **kw)
    rl_boxes = build_split("rl", s.n_rl, seed, with_boxes=True, **kw)
    plain = build_split("rl", s.n_rl, seed, kind="plain", with_boxes=True, **kw)
    return {
        "rl": write_split(rl, out / "data" / "rl", overwrite=True),
        "rl_boxes": write_split(rl_boxes, out / "data" / "rl_boxes", overwrite=True),
        "plain_rl_boxes": write_split(plain, out / "data" / "plain_rl_boxes", overwrite=True),
        "evals": {
            name: build_split("eval", s.n_eval, seed, kind=kind, wordings=w, **kw)
            for name, (kind, w) in EVAL_SETS.items()
        },
        "monitor_boxes": {r["id"]: r["boxes_xyxy_px"] for r in rl_boxes},
    }


def _pretrained_model(
    model_dir: Path,
    size: Any,
    model_seed: int,
    split: dict[str, Any],
    configs: list[PretrainConfig],
    log_path: Path,
    device: str = "cpu",
) -> dict[str, Any]:
    """One job of :func:`georeason_toyworld.grpo.run_jobs`: build the pretrain split in the
    worker (not pickled), write a random toy model, pretrain it in place, one stage per config.

    Returns:
        ``{"steps", "wall_s", "final_loss"}`` over all stages (the loss of the last) and
        ``"stages"``, each stage's own :func:`~georeason_toyworld.pretrain.pretrain` result.
    """
    from georeason_toyworld.splits import build_split

    records = build_split("pretrain", **split)
    make_toy_model(model_dir, size, seed=model_seed)
    stages = []
    for k, config in enumerate(configs, 1):
        label = f"pretrain {Path(model_dir).name} (seed {split['seed']}, stage {k}/{len(configs)})"
        stages.append(
            pretrain(model_dir, records, config, log_path=log_path, progress=label, device=device)
        )
    return {
        "steps": sum(x["steps"] for x in stages),
        "wall_s": sum(x["wall_s"] for x in stages),
        "final_loss": stages[-1]["final_loss"],
        "stages": stages,
    }


def teacher_config(s: Any, seed: int) -> PretrainConfig:
    """The SFT config of the larger Eye-only verifier of seed ``seed`` (settings ``s``)."""
    # the Eye-only verifier at lr 5e-4: 93 % select in the 2026-11-22 probe B
    return PretrainConfig(
        steps=s.teacher_steps, hand_batch=0, eye_batch=16, lr=5e-4, seed=seed + 1000
    )


def _model_keys(split: dict[str, Any], s: Any, policy_cfgs, teacher_cfg) -> dict[str, Any]:
    """What each pretrained model depends on (its split, size and SFT stages), JSON-normalised."""
    return json.loads(
        json.dumps(
            {
                "policy": {
                    "split": split,
                    "size": dataclasses.asdict(s.policy_size),
                    "config": [dataclasses.asdict(c) for c in policy_cfgs],
                },
                "teacher": {
                    "split": split,
                    "size": dataclasses.asdict(s.teacher_size),
                    "config": dataclasses.asdict(teacher_cfg),
                },
            }
        )
    )


def _stored_pretrain(path: Path) -> dict[str, Any]:
    """``pretrain.json`` as ``{name: {"key", ...result}}``; files in the layout used until
    2026-12-02 (one key for both models) are read into the per-model layout; unreadable files
    give {}."""
    try:
        done = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    old = done.get("key")
    if isinstance(old, dict):  # the one-key layout of 2026-12-01/02
        for name in ("policy", "teacher"):
            if isinstance(done.get(name), dict):
                done[name]["key"] = {
                    "split": old.get("split"),
                    "size": old.get(f"{name}_size"),
                    "config": old.get(f"{name}_config"),
                }
    return {n: done[n] for n in ("policy", "teacher") if isinstance(done.get(n), dict)}


def pretrain_models(out: Path, seed: int, s: Any, log) -> dict[str, Any]:
    """Pretrain the policy and the larger Eye-only verifier (side by side with 2 workers); each
    model whose entry in ``out/pretrain.json`` has the same settings (split, size, SFT stages)
    and whose weights exist is reused instead, so a change of the verifier's settings retrains
    the verifier only.

    Returns:
        ``{"policy", "teacher"}`` (each ``{"steps", "wall_s", "final_loss", "config", "key",
        "reused"}``), ``"stage_wall_s"`` (measured when both were trained here; otherwise what
        a fresh stage takes, from the models' own recorded ``wall_s``: their maximum with 2+
        workers, their sum with 1) and ``"reused"`` (True when any model was reused, so that
        ``stage_wall_s`` is not a measurement of this call).
    """
    from georeason.io import write_json
    from georeason_toyworld.grpo import run_jobs

    mixed = PretrainConfig(
        steps=s.pretrain_steps,
        ground_batch=s.ground_batch,
        ground_queries=s.ground_queries,
        coord_digits=s.coord_digits,
        seed=seed,
    )
    policy_cfgs = [mixed]
    if s.hand_stage_steps:  # Hand examples only first: with the Eye and captions mixed in from
        # the start, the Hand had not learned to look after 1,500 steps (8 % plain, 2026-12-02)
        hand = dataclasses.replace(mixed, steps=s.hand_stage_steps, eye_batch=0, caption_batch=0)
        policy_cfgs = [hand, mixed]
    teacher_cfg = teacher_config(s, seed)
    split = {"n": s.n_pretrain, "seed": seed, **s.split_kwargs()}
    keys = _model_keys(split, s, policy_cfgs, teacher_cfg)
    path, models = out / "pretrain.json", out / "models"
    stored = _stored_pretrain(path) if path.is_file() else {}
    specs = {
        "policy": (s.policy_size, seed, policy_cfgs),
        "teacher": (s.teacher_size, seed + 1000, [teacher_cfg]),
    }
    done: dict[str, Any] = {}
    jobs, names = [], []
    for name, (size, model_seed, cfgs) in specs.items():
        prev = stored.get(name, {})
        if prev.get("key") == keys[name] and (models / name / "model.safetensors").is_file():
            log(f"[seed {seed}] reusing the pretrained {name} in {models / name}")
            done[name] = {**prev, "reused": True}
            continue
        log_path = out / f"pretrain_{name}_log.jsonl"
        log_path.unlink(missing_ok=True)  # the loss log is appended to
        job_args = (models / name, size, model_seed, split, cfgs, log_path, s.device)
        jobs.append((_pretrained_model, job_args))
        names.append(name)
    if set(names) & set(stored):  # their weights are about to be overwritten in place: a
        # killed retraining must not leave an entry that vouches for half-trained weights
        kept = {n: v for n, v in stored.items() if n not in names}
        write_json(path, {**kept, "workers": s.workers})
    t0 = time.perf_counter()
    if jobs:
        log(f"[seed {seed}] pretraining: {', '.join(names)} ({s.workers} workers)")
        for name, res in zip(names, run_jobs(jobs, s.workers), strict=True):
            cfg = [dataclasses.asdict(c) for c in specs[name][2]]
            done[name] = {**res, "config": cfg if name == "policy" else cfg[0], "reused": False}
            done[name]["key"] = keys[name]
    reused = any(done[n]["reused"] for n in specs)
    if reused:  # what a fresh stage takes, from the models' own walls
        walls = [float(done[n].get("wall_s", 0.0)) for n in specs]
        stage_wall = max(walls) if s.workers >= 2 else sum(walls)
    else:
        stage_wall = time.perf_counter() - t0
    if jobs:
        stored_form = {n: {k: v for k, v in done[n].items() if k != "reused"} for n in specs}
        write_json(path, {**stored_form, "workers": s.workers})  # atomic: the next run
        # trusts this file
    return {**done, "stage_wall_s": stage_wall, "workers": s.workers, "reused": reused}


def baseline_metrics(
    out: Path, evals: dict[str, list[dict[str, Any]]], device: str = "cpu"
) -> dict[str, Any]:
    """The pretrained policy's Hand on every eval set; its Eye and the larger verifier's Eye on
    the implicit sets (:mod:`georeason_toyworld.evaluate`)."""
    from georeason_toyworld.evaluate import eye_metrics, hand_metrics

    policy, teacher = out / "models" / "policy", out / "models" / "teacher"
    eye_sets = ("implicit_heldout", "implicit_train_wordings")
    return {
        "hand": {k: hand_metrics(policy, v, device=device) for k, v in evals.items()},
        "eye_policy": {k: eye_metrics(policy, evals[k], device=device) for k in eye_sets},
        "eye_teacher": {k: eye_metrics(teacher, evals[k], device=device) for k in eye_sets},
    }


def bestofn_metrics(
    policy_dir: Path,
    evals: dict[str, list[dict[str, Any]]],
    s: Any,
    seed: int,
    greedy_acc50: float,
) -> dict[str, Any]:
    """Rung 2: test-time Generate-Crop-Verify on implicit queries (train wordings, new scenes).

    N answers per query at ``s.temperature`` (:func:`georeason.bestofn.best_of_n`, the policy's
    own model as the Eye); Acc@0.5 of greedy decoding, of the Eye-picked sample and of the
    oracle-picked sample (highest true IoU among the N: what the samples contain at all).
    ``greedy_acc50``: the pretrained Hand's greedy Acc@0.5 on the same records (measured by
    :func:`baseline_metrics`; not decoded twice).
    """
    import torch

    from georeason.models.verifier import LocalVerifier
    from georeason_toyworld.evaluate import record_iou, sample_best_of_n, toy_policy
    from georeason_toyworld.pretrain import TOY_MAX_PIXELS

    recs = evals["implicit_train_wordings"]
    policy = toy_policy(policy_dir, device=s.device)
    eye = LocalVerifier(policy.model, policy.processor, max_pixels=TOY_MAX_PIXELS, batch_size=64)
    torch.manual_seed(seed)
    picked = sample_best_of_n(policy, eye, recs, s)
    e = np.asarray([record_iou(b.best, r) for b, r in zip(picked, recs, strict=True)])
    all_ious = np.asarray(
        [[record_iou(c, r) for c in b.candidates] for b, r in zip(picked, recs, strict=True)]
    )
    return {
        "n_samples": s.bestofn_samples,
        "temperature": s.temperature,
        "greedy_acc50": float(greedy_acc50),
        "eye_acc50": float(np.mean(e >= 0.5)),
        "oracle_acc50": float(np.mean(all_ious.max(1) >= 0.5)),
        "sample_acc50": float(np.mean(all_ious >= 0.5)),
        "sample_mean_iou": float(all_ious.mean()),
        "n": len(recs),
    }


def summary_of(results: dict[str, Any]) -> dict[str, float]:
    """The ``summary`` of the results contract: Acc@0.5 etc. in percent, ``wall_s`` in s."""
    base, runs, bon = results["baseline"], results["runs"], results["bestofn"]

    def acc(hand: dict[str, Any], key: str) -> float:
        return round(100.0 * hand[key]["acc50"], 2)

    return {
        "plain_acc50_pretrained": acc(base["hand"], "plain"),
        "implicit_acc50_pretrained": acc(base["hand"], "implicit_train_wordings"),
        "implicit_heldout_acc50_pretrained": acc(base["hand"], "implicit_heldout"),
        "eye_select_implicit": round(
            100.0 * base["eye_policy"]["implicit_train_wordings"]["select_acc"], 2
        ),
        "sanity_plain_acc50_after_iou_grpo": acc(runs["sanity_iou_plain"]["hand"], "plain"),
        "greedy_implicit_acc50": round(100.0 * bon["greedy_acc50"], 2),
        "bestofn_eye_implicit_acc50": round(100.0 * bon["eye_acc50"], 2),
        "bestofn_oracle_implicit_acc50": round(100.0 * bon["oracle_acc50"], 2),
        "remotezero_implicit_acc50": acc(
            runs["remotezero_distill"]["hand"], "implicit_train_wordings"
        ),
        "remotezero_implicit_heldout_acc50": acc(
            runs["remotezero_distill"]["hand"], "implicit_heldout"
        ),
        "ceiling_implicit_acc50": acc(
            runs["remotereasoner_ceiling"]["hand"], "implicit_train_wordings"
        ),
        "selfevo_r1_implicit_acc50": acc(
            runs["remotezero_selfevo_r1"]["hand"], "implicit_train_wordings"
        ),
        "selfevo_r2_implicit_acc50": acc(
            runs["remotezero_selfevo_r2"]["hand"], "implicit_train_wordings"
        ),
        "wall_s": round(float(results["wall_s"]["total"]), 1),
    }

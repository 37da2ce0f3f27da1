"""``georeason-toyworld run``: does annotation-free GRPO (RemoteZero) teach localisation?

One seed of the experiment (:func:`run_seed`), all on CPU, everything seeded by ``seed`` (scene
seeds of every split, model init, SFT sampling, GRPO):

1. Splits (:func:`georeason_toyworld.build_split`): ``pretrain`` (plain expressions with boxes),
   ``rl`` (implicit queries, train wordings, **no box**), ``eval`` scenes asked three ways:
   implicit queries with held-out wordings (the split's default), implicit queries with the
   train wordings (new scenes, known wordings), plain expressions (the pretrained skill).
2. Pretraining (:mod:`georeason_toyworld.pretrain`): the policy (Hand + Eye); a larger Eye-only
   model as the distillation verifier.
3. Baseline: Hand and Eye metrics before RL (:mod:`georeason_toyworld.evaluate`).
4. RemoteZero GRPO through :func:`georeason.training.trainer.train` (the project's rewards:
   format + verification with context crop and area penalty): distillation (verifier = the
   larger model), self-evolution round 1 (verifier = the frozen pretrained policy), round 2
   (policy and verifier = the merged round-1 policy); ablations of round 1 without the area
   penalty and with the strict crop.
5. Ceiling: the same GRPO budget with RemoteReasoner's supervised rewards (IoU + count + format)
   on the same RL scenes with their (regenerated) target boxes.

Results go to ``OUT/seed{S}/results.json``; :func:`run_experiment` runs several seeds (reusing
finished ones) and writes the aggregate report (:mod:`georeason_toyworld.report`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from georeason_toyworld.pretrain import (
    TOY_MAX_PIXELS,
    TOY_POLICY_TEMPLATE,
    PretrainConfig,
    ToyModelSize,
    make_toy_model,
    pretrain,
)


@dataclass
class ExperimentSettings:
    """Sizes and budgets of one run (defaults: the full setting, ours; see :data:`QUICK`).

    Attributes:
        n_pretrain, n_rl, n_eval: scenes per split (one query each).
        scene_px: side of the square scenes in pixels.
        pretrain_steps: SFT steps of the policy.
        policy_size: width/depth of the policy.
        teacher_size, teacher_steps: the larger Eye-only verifier used for distillation.
        grpo_steps: optimizer steps of every GRPO run (the same budget for all of them).
        num_generations: rollouts per prompt (RemoteZero: 4; ours 8: more exploration per
            prompt for a tiny policy).
        prompts_per_step: prompts per GRPO step (batch = prompts x generations).
        temperature: rollout temperature (both papers: 0.9).
        grpo_lr: LoRA learning rate (ours; the papers' 1e-6 is for 7-8B models).
        lora_r, lora_alpha: LoRA rank and alpha (ours: 16 / 32).
        area_penalty_weight, area_threshold, margin_ratio: the verification reward's lambda,
            tau and context margin (project defaults 1.0 / 0.3 / 0.15).
        ablations: also run the no-area-penalty and strict-crop ablations.
        workers: processes that run independent stages at the same time (ours: 2, one per
            core of the target machine; each uses one thread). Pretraining of the policy and of
            the larger verifier run side by side, then the GRPO runs two at a time. 1 runs
            everything in this process, one after another.
    """

    n_pretrain: int = 4000
    n_rl: int = 256
    n_eval: int = 100
    scene_px: int = 112
    pretrain_steps: int = 700
    policy_size: ToyModelSize = field(default_factory=ToyModelSize)
    teacher_size: ToyModelSize = field(
        default_factory=lambda: ToyModelSize(hidden=192, layers=3, vision_hidden=96, vision_depth=2)
    )
    teacher_steps: int = 500
    grpo_steps: int = 100
    num_generations: int = 8
    prompts_per_step: int = 4
    temperature: float = 0.9
    grpo_lr: float = 3e-4
    lora_r: int = 16
    lora_alpha: int = 32
    area_penalty_weight: float = 1.0
    area_threshold: float = 0.3
    margin_ratio: float = 0.15
    ablations: bool = True
    workers: int = 2


#: The ``--quick`` variant: every stage runs, on a few samples and steps (checks wiring only).
QUICK = ExperimentSettings(
    n_pretrain=64,
    n_rl=8,
    n_eval=8,
    pretrain_steps=6,
    teacher_steps=4,
    grpo_steps=2,
    num_generations=4,
    prompts_per_step=1,
    teacher_size=ToyModelSize(hidden=64, layers=1, vision_hidden=32, vision_depth=1),
    policy_size=ToyModelSize(hidden=64, layers=1, vision_hidden=32, vision_depth=1),
    workers=1,  # spawning worker processes would cost more than the quick stages themselves
)

#: Evaluation query sets: name -> (kind, wordings) of ``build_split("eval", ...)``.
EVAL_SETS: dict[str, tuple[str, str]] = {
    "implicit_heldout": ("implicit", "heldout"),
    "implicit_train_wordings": ("implicit", "train"),
    "plain": ("plain", "train"),
}


def rl_oracle_records(n: int, seed: int, size_px: int = 112) -> list[dict[str, Any]]:
    """The ``rl`` split's scenes and queries WITH their target boxes (for the ceiling only).

    Re-derives each RL record exactly as :func:`georeason_toyworld.splits.build_split` does
    (same scene seed, category order and query RNG) and adds ``boxes_xyxy_px``.

    Raises:
        RuntimeError: if a regenerated query differs from the ``rl`` split's.
    """
    from PIL import Image

    from georeason_toyworld.queries import make_sample
    from georeason_toyworld.scenes import generate_scene
    from georeason_toyworld.splits import _category_order, build_split, scene_seed

    plain = build_split("rl", n, seed, size_px)
    order = _category_order("rl", seed)
    out = []
    for i, rec in enumerate(plain):
        ss = scene_seed("rl", seed, i)
        category = order[i % len(order)]
        scene = generate_scene(ss, size_px, required=(category,))
        sample = make_sample(
            scene, np.random.default_rng([ss, 1]), "implicit", "train", category=category
        )
        if sample["query"] != rec["query"]:
            raise RuntimeError(f"rl record {i} does not reproduce (query differs)")
        out.append(
            {
                "id": rec["id"],
                "image": Image.fromarray(scene.image, mode="RGB"),
                "query": rec["query"],
                "boxes_xyxy_px": [list(sample["target_box_xyxy_px"])],
            }
        )
    return out


def _grpo_raw(
    settings: ExperimentSettings,
    mode: str,
    model: str,
    out: Path,
    data: Path,
    seed: int,
    verifier: dict[str, Any] | None = None,
    merge: bool = False,
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "mode": mode,
        "model": model,
        "output_dir": str(out),
        "max_pixels": TOY_MAX_PIXELS,
        "prompt_template": TOY_POLICY_TEMPLATE,
        "dtype": "float32",
        "data": {"path": str(data)},
        "lora": {
            "r": settings.lora_r,
            "alpha": settings.lora_alpha,
            "dropout": 0.0,
            "target_modules": "all-linear",
        },
        "merge_final": merge,
        "grpo": {
            "use_cpu": True,
            "num_generations": settings.num_generations,
            "temperature": settings.temperature,
            "per_device_train_batch_size": settings.num_generations * settings.prompts_per_step,
            "gradient_accumulation_steps": 1,
            "max_completion_length": 32,
            "learning_rate": settings.grpo_lr,
            "lr_scheduler_type": "constant",
            "max_steps": settings.grpo_steps,
            "save_strategy": "no",
            "logging_steps": 1,
            "report_to": [],
            "seed": seed,
            "dataloader_num_workers": 0,
            "gradient_checkpointing": False,
            "disable_tqdm": True,
        },
    }
    if mode == "remotezero":
        v = {
            "max_pixels": TOY_MAX_PIXELS,
            "batch_size": 64,
            "margin_ratio": settings.margin_ratio,
            "area_penalty_weight": settings.area_penalty_weight,
            "area_threshold": settings.area_threshold,
        }
        v.update(verifier or {"kind": "initial_policy"})
        raw["verifier"] = v
    return raw


def _train_log(run_dir: Path) -> list[dict[str, Any]]:
    from georeason.training.logs import read_jsonl

    return read_jsonl(run_dir / "train_log.jsonl")


def _grpo_run(
    name: str,
    raw: dict[str, Any],
    eval_sets: dict[str, list[dict[str, Any]]],
    base_model: str,
) -> dict[str, Any]:
    """Train one GRPO run (fresh folder) and evaluate its adapter on every eval set."""
    from georeason.training.config import config_from_dict
    from georeason.training.trainer import train
    from georeason_toyworld.evaluate import hand_metrics

    out = Path(raw["output_dir"])
    if out.exists():
        shutil.rmtree(out)
    start = time.perf_counter()
    result = train(config_from_dict(raw))
    train_s = time.perf_counter() - start
    log = [r for r in _train_log(out) if "reward" in r]
    hand = {
        k: hand_metrics(base_model, recs, adapter=result.adapter_dir)
        for k, recs in eval_sets.items()
    }
    return {
        "name": name,
        "mode": raw["mode"],
        "verifier": raw.get("verifier"),
        "steps": result.global_step,
        "train_wall_s": train_s,
        "hand": hand,
        "curves": {
            "reward": [r.get("reward") for r in log],
            "format": [r.get("rewards/format_reward/mean") for r in log],
            "verification": [r.get("rewards/verification_reward/mean") for r in log],
            "iou": [r.get("rewards/iou_reward/mean") for r in log],
            "box_area_ratio": [
                next((v for k, v in r.items() if "box_area_ratio" in k), None) for r in log
            ],
            "verifier_confidence": [
                next((v for k, v in r.items() if "verifier_confidence" in k), None) for r in log
            ],
        },
        "merged_dir": str(result.merged_dir) if result.merged_dir else None,
        "adapter_dir": str(result.adapter_dir),
    }


def _pretrained_model(
    model_dir: Path,
    size: ToyModelSize,
    model_seed: int,
    split: tuple[int, int, int],
    config: PretrainConfig,
    log_path: Path,
) -> dict[str, Any]:
    """Build the pretrain split ``(n, seed, scene_px)``, write a random toy model and pretrain it
    in place (one job of :func:`_run_jobs`; the split is built in the worker, not pickled)."""
    from georeason_toyworld.splits import build_split

    n, seed, scene_px = split
    records = build_split("pretrain", n, seed, scene_px)
    make_toy_model(model_dir, size, seed=model_seed)
    label = f"pretrain {Path(model_dir).name} (seed {split[1]})"
    return pretrain(model_dir, records, config, log_path=log_path, progress=label)


#: Settings that decide the pretrained models (a rerun that changes only GRPO settings reuses them).
PRETRAIN_SETTINGS = (
    "n_pretrain",
    "scene_px",
    "pretrain_steps",
    "policy_size",
    "teacher_size",
    "teacher_steps",
)


def _pretrain_key(s: ExperimentSettings, policy_cfg: PretrainConfig, teacher_cfg: PretrainConfig):
    key = {k: dataclasses.asdict(s)[k] for k in PRETRAIN_SETTINGS}
    key["policy_config"] = dataclasses.asdict(policy_cfg)
    key["teacher_config"] = dataclasses.asdict(teacher_cfg)
    return json.loads(json.dumps(key))


def _reusable_pretrain(out: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The pretraining results in ``out/pretrain.json`` if they were made with ``key`` and both
    model folders are there (ours: GRPO-only changes do not repeat the longest stage)."""
    path = out / "pretrain.json"
    if not path.is_file():
        return None
    try:
        done = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    models = [out / "models" / name / "model.safetensors" for name in ("policy", "teacher")]
    if done.get("key") != key or "stage_wall_s" not in done or not all(m.is_file() for m in models):
        return None
    return done


def _run_jobs(jobs: Sequence[tuple[Any, tuple]], workers: int) -> list[Any]:
    """Run ``fn(*args)`` for each job, ``workers`` at a time in spawned processes (in order).

    With ``workers <= 1`` or a single job, everything runs in this process. A failing job
    re-raises its exception here after the others finished.
    """
    if workers <= 1 or len(jobs) <= 1:
        return [fn(*args) for fn, args in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")  # fork after torch threads started is unsafe
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
        futures = [pool.submit(fn, *args) for fn, args in jobs]
        return [f.result() for f in futures]


def _pretrain_both(
    out: Path,
    seed: int,
    s: ExperimentSettings,
    pre_split: tuple[int, int, int],
    policy_cfg: PretrainConfig,
    teacher_cfg: PretrainConfig,
    log,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pretrain the policy and the larger verifier (side by side with 2 workers)."""
    policy_dir = out / "models" / "policy"
    teacher_dir = out / "models" / "teacher"
    log(f"[seed {seed}] pretraining the policy and the larger verifier ({s.workers} workers)")
    for name in ("pretrain_policy_log.jsonl", "pretrain_teacher_log.jsonl"):
        (out / name).unlink(missing_ok=True)  # the loss logs are appended to
    pre_policy, pre_teacher = _run_jobs(
        [
            (
                _pretrained_model,
                (
                    policy_dir,
                    s.policy_size,
                    seed,
                    pre_split,
                    policy_cfg,
                    out / "pretrain_policy_log.jsonl",
                ),
            ),
            (
                _pretrained_model,
                (
                    teacher_dir,
                    s.teacher_size,
                    seed + 1000,
                    pre_split,
                    teacher_cfg,
                    out / "pretrain_teacher_log.jsonl",
                ),
            ),
        ],
        s.workers,
    )
    return pre_policy, pre_teacher


def run_seed(
    out_dir: str | Path, seed: int, settings: ExperimentSettings, log=print
) -> dict[str, Any]:
    """Run every stage for one seed; write ``out_dir/results.json`` and return the results.

    Raises:
        georeason.errors.UserInputError: invalid settings (e.g. a negative seed).
    """
    import torch

    from georeason_toyworld.evaluate import eye_metrics, hand_metrics
    from georeason_toyworld.splits import build_split, write_split

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
    rl = build_split("rl", s.n_rl, seed, s.scene_px)
    rl_jsonl = write_split(rl, out / "data" / "rl", overwrite=True)
    oracle_jsonl = write_split(
        rl_oracle_records(s.n_rl, seed, s.scene_px), out / "data" / "rl_oracle", overwrite=True
    )
    evals = {
        name: build_split("eval", s.n_eval, seed, s.scene_px, kind=kind, wordings=w)
        for name, (kind, w) in EVAL_SETS.items()
    }
    t = tick("splits", t)

    policy_dir = out / "models" / "policy"
    teacher_dir = out / "models" / "teacher"
    pre_split = (s.n_pretrain, seed, s.scene_px)
    policy_cfg = PretrainConfig(steps=s.pretrain_steps, seed=seed)
    # the Eye-only verifier at lr 5e-4: 93 % select in the 2026-11-22 probe B
    teacher_cfg = PretrainConfig(
        steps=s.teacher_steps, hand_batch=0, eye_batch=16, lr=5e-4, seed=seed + 1000
    )
    key = _pretrain_key(s, policy_cfg, teacher_cfg)
    reused = _reusable_pretrain(out, key)
    if reused is not None:
        log(f"[seed {seed}] reusing the pretrained models in {out / 'models'}")
        pre_policy, pre_teacher = reused["policy"], reused["teacher"]
        # the wall time of the stage when it ran, not of this reuse
        walls["pretrain"] = float(reused["stage_wall_s"])
        t = time.perf_counter()
    else:
        pre_policy, pre_teacher = _pretrain_both(
            out, seed, s, pre_split, policy_cfg, teacher_cfg, log
        )
        t = tick("pretrain", t)
        done = {
            "key": key,
            "policy": pre_policy,
            "teacher": pre_teacher,
            "stage_wall_s": walls["pretrain"],
            "workers": s.workers,
        }
        (out / "pretrain.json").write_text(json.dumps(done, indent=2) + "\n", encoding="utf-8")

    eye_sets = ("implicit_heldout", "implicit_train_wordings")
    baseline = {
        "hand": {k: hand_metrics(policy_dir, v) for k, v in evals.items()},
        "eye_policy": {k: eye_metrics(policy_dir, evals[k]) for k in eye_sets},
        "eye_teacher": {k: eye_metrics(teacher_dir, evals[k]) for k in eye_sets},
    }
    t = tick("baseline_eval", t)
    log(
        f"[seed {seed}] baseline: Hand Acc@0.5 plain {baseline['hand']['plain']['acc50']:.3f}, "
        f"implicit {baseline['hand']['implicit_train_wordings']['acc50']:.3f}; Eye select "
        f"{baseline['eye_policy']['implicit_train_wordings']['select_acc']:.3f} (policy), "
        f"{baseline['eye_teacher']['implicit_train_wordings']['select_acc']:.3f} (teacher)"
    )

    runs: dict[str, Any] = {}
    grpo = out / "grpo"
    pdir = str(policy_dir)

    def go(batch: list[tuple[str, dict[str, Any], str]]) -> None:
        nonlocal t
        names = ", ".join(name for name, _, _ in batch)
        log(f"[seed {seed}] GRPO: {names}")
        done = _run_jobs([(_grpo_run, (n, raw, evals, base)) for n, raw, base in batch], s.workers)
        for (name, _, _), r in zip(batch, done, strict=True):
            runs[name] = r
            h = r["hand"]
            log(
                f"[seed {seed}] {name}: Acc@0.5 heldout {h['implicit_heldout']['acc50']:.3f} "
                f"train-wordings {h['implicit_train_wordings']['acc50']:.3f}"
            )
        t = tick("grpo_" + "+".join(name for name, _, _ in batch), t)

    def job(name, sub, base=pdir, st=s, mode="remotezero", data=rl_jsonl, **kw):
        """One GRPO run: (name, train config, base model) of the policy at ``base``."""
        return name, _grpo_raw(st, mode, base, grpo / sub, data, seed, **kw), base

    teacher = {"kind": "local", "model": str(teacher_dir)}
    go(
        [
            job("remotezero_selfevo_r1", "selfevo_r1", merge=True),
            job("remotezero_distill", "distill", verifier=teacher),
        ]
    )
    r1_merged = runs["remotezero_selfevo_r1"]["merged_dir"]
    go(
        [
            job("remotezero_selfevo_r2", "selfevo_r2", base=r1_merged),
            job("remotereasoner_ceiling", "ceiling", mode="remotereasoner", data=oracle_jsonl),
        ]
    )
    runs["remotezero_selfevo_r2"]["eye_verifier"] = {
        k: eye_metrics(r1_merged, evals[k]) for k in eye_sets
    }
    if s.ablations:
        no_area = dataclasses.replace(s, area_penalty_weight=0.0)
        strict = dataclasses.replace(s, margin_ratio=0.0)
        go(
            [
                job("ablation_no_area_penalty", "no_area", st=no_area),
                job("ablation_strict_crop", "strict_crop", st=strict),
            ]
        )

    results = {
        "seed": seed,
        "out_dir": str(out),
        "settings": dataclasses.asdict(s),
        "pretrain": {
            "policy": {**pre_policy, "config": dataclasses.asdict(policy_cfg)},
            "teacher": {**pre_teacher, "config": dataclasses.asdict(teacher_cfg)},
        },
        "baseline": baseline,
        "runs": runs,
        "wall_s": {
            **walls,
            "total": time.perf_counter() - t0 + (walls["pretrain"] if reused else 0),
        },
        "pretrain_reused": reused is not None,
        "threads": torch.get_num_threads(),
        "self_evolution": "two calls of georeason.training.trainer.train: round 2 trains the "
        "merged round-1 policy with the merged round-1 policy as its (frozen) verifier",
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


def run_experiment(
    out_dir: str | Path,
    seeds: Sequence[int],
    settings: ExperimentSettings,
    reuse: bool = True,
    log=print,
) -> dict[str, Any]:
    """Run (or reuse) every seed under ``out_dir/seed{S}`` and write the aggregate report.

    Args:
        reuse: keep a seed whose ``results.json`` exists with the same settings (the
            ``ablations`` flag and ``workers`` aside: a seed run without ablations is reused
            as it is).

    Returns:
        The aggregate results (also written to ``out_dir/results.json``; ``report.md`` and
        ``*.png`` beside it).
    """
    from georeason_toyworld.report import write_report

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = Path(out_dir)
    per_seed = []
    for seed in seeds:
        sdir = out / f"seed{seed}"
        done = sdir / "results.json"
        if reuse and done.is_file():
            prev = json.loads(done.read_text(encoding="utf-8"))
            want = json.loads(json.dumps(dataclasses.asdict(settings)))
            have = dict(prev.get("settings", {}))
            for key in ("ablations", "workers"):  # neither changes the shared stages' results
                have.pop(key, None)
                want.pop(key, None)
            if have == want:
                log(f"[seed {seed}] reusing {done}")
                per_seed.append(prev)
                continue
        per_seed.append(run_seed(sdir, seed, settings, log=log))
    return write_report(out, per_seed)

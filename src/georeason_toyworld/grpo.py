"""GRPO runs of the toy world: train config, logged-only monitors, one run, parallel jobs.

Every run is one call of :func:`georeason.training.trainer.train`, the same call a user's script
makes; the experiment adds only logged-only monitors (weight 0) that compare the sampled boxes
with targets that the training data does not carry.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from georeason.rewards import FrameSpec, make_iou_reward
from georeason_toyworld.pretrain import TOY_MAX_PIXELS, TOY_POLICY_TEMPLATE

#: Per-step series kept from ``train_log.jsonl``: result key -> TRL / georeason log key.
GRPO_CURVES: dict[str, str] = {
    "reward": "reward",
    "reward_std": "reward_std",
    "frac_tied_groups": "frac_reward_zero_std",
    "kl": "kl",
    "clip_ratio": "clip_ratio/region_mean",
    "completion_length": "completions/mean_length",
    "format": "rewards/format_reward/mean",
    "verification": "rewards/verification_reward/mean",
    "iou": "rewards/iou_reward/mean",
    "sampled_box_iou": "rewards/sampled_box_iou/mean",
    "sampled_box_acc50": "rewards/sampled_box_acc50/mean",
}


class SampledBoxMonitor:
    """Logged-only reward (weight 0): IoU or Acc@0.5 of each sampled answer with its target.

    The targets come from the experiment (``boxes_by_id``, keyed by the dataset's ``id``
    column), never from the training data; the returned values never reach the advantage.
    IoU is :class:`georeason.rewards.IoUReward` (RemoteReasoner eq. 4, Hungarian-matched,
    original pixels); an unreadable answer scores 0.

    Args:
        boxes_by_id: record id -> target boxes ``[[x1, y1, x2, y2], ...]`` (original pixels).
        metric: ``"iou"`` or ``"acc50"`` (1.0 if the IoU is >= 0.5).
        frame: the policy's answer frame (given by :func:`georeason.training.trainer.train`).

    Raises:
        ValueError: on an unknown metric.
    """

    def __init__(
        self, boxes_by_id: dict[str, list[list[float]]], metric: str, frame: FrameSpec
    ) -> None:
        if metric not in ("iou", "acc50"):
            raise ValueError(f"metric must be 'iou' or 'acc50', got {metric!r}")
        self.__name__ = f"sampled_box_{metric}"
        self.boxes_by_id, self.metric = boxes_by_id, metric
        self.iou = make_iou_reward(frame)

    def __call__(self, prompts=None, completions=(), **kwargs: Any) -> list[float | None]:
        ids = [str(i) for i in kwargs["id"]]
        if not all(i in self.boxes_by_id for i in ids):
            return [None] * len(completions)  # no target known: nothing to monitor
        gts = [self.boxes_by_id[i] for i in ids]
        ious = self.iou(completions=completions, boxes_xyxy_px=gts, image=kwargs["image"])
        if self.metric == "iou":
            return ious
        return [float(v >= 0.5) for v in ious]


def grpo_config(
    s: Any,
    mode: str,
    model: str,
    out: Path,
    data: Path,
    seed: int,
    verifier: dict[str, Any] | None = None,
    merge: bool = False,
    steps: int | None = None,
) -> dict[str, Any]:
    """The train config (a dict for :func:`georeason.training.config.config_from_dict`) of one
    run; every GRPO setting that TRL would otherwise default is set from ``s``
    (:class:`georeason_toyworld.settings.ExperimentSettings`); ``steps`` overrides
    ``s.grpo_steps``."""
    raw: dict[str, Any] = {
        "mode": mode,
        "model": model,
        "output_dir": str(out),
        "max_pixels": TOY_MAX_PIXELS,
        "prompt_template": TOY_POLICY_TEMPLATE,
        "dtype": "float32",
        "data": {"path": str(data)},
        "lora": {
            "r": s.lora_r,
            "alpha": s.lora_alpha,
            "dropout": 0.0,
            "target_modules": "all-linear",
            # only when off: LoRA configs keep the key of runs made before the option existed
            **({"enabled": False} if s.full_finetune else {}),
        },
        "merge_final": merge,
        "grpo": {
            "use_cpu": s.device == "cpu",
            "num_generations": s.num_generations,
            "temperature": s.temperature,
            "top_p": 1.0,
            "top_k": 0,
            "per_device_train_batch_size": s.num_generations * s.prompts_per_step,
            "gradient_accumulation_steps": 1,
            "max_completion_length": 32,
            "learning_rate": s.grpo_lr,
            "lr_scheduler_type": s.lr_scheduler,
            "warmup_steps": 0,
            "beta": s.beta,
            "loss_type": s.loss_type,
            "scale_rewards": s.scale_rewards,
            "epsilon": s.epsilon,
            "num_iterations": 1,
            "max_grad_norm": 1.0,
            "max_steps": s.grpo_steps if steps is None else steps,
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
            "margin_ratio": s.margin_ratio,
            "area_penalty_weight": s.area_penalty_weight,
            "area_threshold": s.area_threshold,
        }
        v.update(verifier or {"kind": "initial_policy"})
        raw["verifier"] = v
    return raw


def _curves(run_dir: Path) -> dict[str, list[float | None]]:
    from georeason.jsonl import read_jsonl

    log = [r for r in read_jsonl(run_dir / "train_log.jsonl") if "reward" in r]
    curves = {k: [r.get(v) for r in log] for k, v in GRPO_CURVES.items()}
    curves["box_area_ratio"] = [
        next((v for k, v in r.items() if "box_area_ratio" in k), None) for r in log
    ]
    return curves


def grpo_run(
    name: str,
    raw: dict[str, Any],
    eval_sets: dict[str, list[dict[str, Any]]],
    base_model: str,
    monitor_boxes: dict[str, list[list[float]]],
) -> dict[str, Any]:
    """Train one GRPO run (fresh folder) and evaluate its adapter on every eval set.

    A finished run leaves ``run_result.json`` in its output folder; a later call with the same
    config, the same base (and verifier) weights and the same eval records returns it instead
    of training again (so an interrupted multi-hour run resumes at the first unfinished GRPO
    run), with ``"reused": True`` added. Anything else starts the run afresh.
    """
    from georeason.io import write_json
    from georeason.training.config import config_from_dict
    from georeason.training.trainer import train
    from georeason_toyworld.evaluate import hand_metrics

    out = Path(raw["output_dir"])
    key = _run_key(raw, base_model, eval_sets)
    done = _finished_run(out, key)
    if done is not None:
        print(f"reusing the finished GRPO run {name} in {out}", flush=True)
        return {**done, "reused": True}  # the caller pops the flag (wall-time accounting)
    if out.exists():
        shutil.rmtree(out)
    monitors = [functools.partial(SampledBoxMonitor, monitor_boxes, m) for m in ("iou", "acc50")]
    start = time.perf_counter()
    result = train(config_from_dict(raw), monitors=monitors)
    train_s = time.perf_counter() - start
    device = "cpu" if raw["grpo"]["use_cpu"] else "cuda"
    # a LoRA run is evaluated as base + adapter, a full fine-tuning run as its own model
    model = base_model if result.adapter_dir is not None else str(result.merged_dir)
    hand = {
        k: hand_metrics(model, recs, adapter=result.adapter_dir, device=device)
        for k, recs in eval_sets.items()
    }
    res = {
        "name": name,
        "mode": raw["mode"],
        "verifier": raw.get("verifier"),
        "grpo": raw["grpo"],
        "lora": raw["lora"],
        "steps": result.global_step,
        "train_wall_s": train_s,
        "hand": hand,
        "curves": _curves(out),
        "merged_dir": str(result.merged_dir) if result.merged_dir else None,
        "adapter_dir": str(result.adapter_dir) if result.adapter_dir else None,
    }
    write_json(out / "run_result.json", {"key": key, "result": res})  # atomic: a kill never
    # leaves a truncated result that the next run would trust
    return res


def _weights_digest(model_dir: str | Path) -> str | None:
    """SHA-256 of a model folder's ``model.safetensors`` (None when there is none)."""
    path = Path(model_dir) / "model.safetensors"
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _folder_digest(path: str | Path) -> str:
    """SHA-256 over the names and bytes of every file under ``path`` (or of the file)."""
    root = Path(path)
    files = sorted(root.rglob("*")) if root.is_dir() else [root]
    h = hashlib.sha256()
    for f in files:
        if f.is_file():
            h.update(str(f.relative_to(root) if root.is_dir() else f.name).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _run_key(raw: dict[str, Any], base_model: str, eval_sets: dict[str, Any]) -> dict[str, Any]:
    """What a finished run's results depend on: its config, the weights it starts from and is
    verified by, its training data and the eval records (digests)."""
    verifier = raw.get("verifier") or {}
    h = hashlib.sha256()
    for name in sorted(eval_sets):
        for rec in eval_sets[name]:
            h.update(name.encode())
            for k in sorted(rec):
                v = rec[k]  # PIL images by their pixels, the rest by their JSON
                h.update(k.encode())
                h.update(v.tobytes() if hasattr(v, "tobytes") else json.dumps(v).encode())
    return json.loads(
        json.dumps(
            {
                "raw": raw,
                "base_weights": _weights_digest(base_model),
                "verifier_weights": _weights_digest(verifier["model"])
                if verifier.get("model")
                else None,
                "evals": h.hexdigest(),
                "data": _folder_digest(Path(raw["data"]["path"]).parent),  # with its images
            },
            default=str,
        )
    )


def _finished_run(out: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The stored result of a finished run with this key whose model folders still exist."""
    path = out / "run_result.json"
    if not path.is_file():
        return None
    try:
        done = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    res = done.get("result") or {}
    dirs = [res.get("adapter_dir"), res.get("merged_dir")]
    if done.get("key") != key or not all(Path(d).is_dir() for d in dirs if d):
        return None
    return res


def grpo_job(name: str, raw: dict[str, Any], evals, base: str, boxes) -> tuple[Any, tuple]:
    """One job of :func:`run_jobs` (``(grpo_run, args)``; ``job[1][0]`` is the name)."""
    return grpo_run, (name, raw, evals, base, boxes)


def run_jobs(jobs: Sequence[tuple[Any, tuple]], workers: int) -> list[Any]:
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

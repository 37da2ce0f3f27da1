"""Training on TRL: RemoteZero (format + verification), RemoteReasoner (IoU + count + format),
GeoZero (SFT cold start; A²GRPO with answer, format and gated thinking rewards).

Nothing of GRPO or SFT is re-implemented here: this module builds TRL's ``GRPOTrainer`` (or
:class:`~georeason.training.a2grpo.A2GRPOTrainer`, its subclass, or ``SFTTrainer`` via
:mod:`georeason.training.sft`; LoRA via peft) from a
:class:`~georeason.training.config.TrainConfig`, with georeason's rewards, data and logs, and
resumes from the last checkpoint of the output folder.

Scale: the same entry point runs under ``accelerate launch`` (DDP, DeepSpeed ZeRO-2/3; see
``configs/accelerate/``); rollouts can use TRL's vLLM integration by setting
``grpo: {use_vllm: true, vllm_mode: colocate | server}`` in the config (vLLM is not installed in
the CPU test environment).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from georeason.errors import GeoreasonError, UserInputError
from georeason.io import write_json, write_text_atomic
from georeason.models.spec import resolve_model
from georeason.rewards import (
    FORMAT_REWARDS,
    FrameSpec,
    frame_spec_for,
    make_count_reward,
    make_iou_reward,
    make_verification_reward,
)
from georeason.training.config import TrainConfig
from georeason.training.data import build_dataset
from georeason.training.logs import JsonlLogCallback, RecordedReward
from georeason.training.scorers import (  # noqa: F401 - build_verifier re-exported
    _device_for_verifier,
    build_thinking_judge,
    build_verifier,
)

CONFIG_FILE = "georeason_train_config.json"


class TrainingStopped(GeoreasonError):
    """Training stopped on an external failure (e.g. the verifier server went away)."""


@dataclass
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        output_dir: the run folder (checkpoints ``checkpoint-N/``, logs, final adapter).
        base_model: the policy checkpoint the adapter applies to (a folder for ``tiny:`` models).
        adapter_dir: the final LoRA adapter folder (``adapter_config.json`` + weights); None
            with full fine-tuning (``lora.enabled: false``).
        merged_dir: the merged full model folder, if ``merge_final`` was set; with full
            fine-tuning the run folder itself (it holds the full model).
        global_step: optimizer steps done in total.
        resumed_from: the checkpoint the run resumed from, or None.
    """

    output_dir: Path
    base_model: str
    adapter_dir: Path | None
    merged_dir: Path | None
    global_step: int
    resumed_from: str | None


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest complete ``checkpoint-N`` folder of a run, or None.

    Complete = it holds ``trainer_state.json``, which the HF Trainer writes last; a folder left
    half-written by a killed run is skipped (transformers' ``get_last_checkpoint`` would pick it).
    """
    path = Path(output_dir)
    if not path.is_dir():
        return None
    found = []
    for child in path.iterdir():
        match = re.fullmatch(r"checkpoint-(\d+)", child.name)
        if match and child.is_dir() and (child / "trainer_state.json").is_file():
            found.append((int(match.group(1)), child))
    return str(max(found)[1]) if found else None


def build_rewards(
    config: TrainConfig, frame: FrameSpec, verifier: Any = None, judge: Any = None
) -> list[Any]:
    """The reward functions, in the order of ``config.reward_weights``.

    ``judge``: A²GRPO's thinking judge (:func:`build_thinking_judge`), needed by ``thinking``.
    """
    from georeason.rewards.geozero import GeoZeroAnswerReward, ThinkingReward

    answer = GeoZeroAnswerReward(frame, config.a2grpo.grounding_reward)
    rewards: list[Any] = []
    for name in config.reward_weights:
        if name == "answer":
            rewards.append(answer)
        elif name == "thinking":
            if judge is None:
                raise UserInputError("the thinking reward needs a judge (a2grpo.judge)")
            a2 = config.a2grpo
            rewards.append(ThinkingReward(answer, judge, a2.gate, a2.gate_threshold))
        elif name == "format":
            rewards.append(FORMAT_REWARDS[config.format_convention])
        elif name == "iou":
            rewards.append(make_iou_reward(frame))
        elif name == "count":
            rewards.append(make_count_reward(frame))
        elif name == "verification":
            if verifier is None:
                raise UserInputError("the verification reward needs a verifier")
            vc = config.verifier
            try:
                reward = make_verification_reward(
                    verifier,
                    frame=frame,
                    margin_ratio=vc.margin_ratio,
                    area_penalty_weight=vc.area_penalty_weight,
                    area_threshold=vc.area_threshold,
                    aggregate=vc.aggregate,
                    max_boxes=vc.max_boxes,
                    input_mode=vc.input,
                )
            except ValueError as exc:
                raise UserInputError(f"invalid verifier option: {exc}") from None
            rewards.append(reward)
    return rewards


def checked_grpo_kwargs(config: TrainConfig) -> dict[str, Any]:
    """``config.grpo_kwargs()`` after checking every key is a field of ``trl.GRPOConfig``.

    Raises:
        UserInputError: an unknown key, with the nearest field name.
    """
    from trl import GRPOConfig

    from georeason.training.config import checked_fields

    return checked_fields(GRPOConfig, config.grpo_kwargs(), "grpo (trl.GRPOConfig)")


def resolved_settings(config: TrainConfig) -> dict[str, Any]:
    """The fully resolved settings of a run, without loading a model: our config, and every
    ``trl.GRPOConfig`` value it produces (``trl.SFTConfig`` for ``geozero_sft``, under
    ``sft_config``), TRL's defaults included, after ``__post_init__``.

    On a machine without the hardware a setting needs (``bf16`` without a GPU), the config is
    built with that setting off and the requested value is reported (``grpo_config_note``).

    Raises:
        UserInputError: unknown or invalid trainer values.
    """
    from trl import GRPOConfig, SFTConfig

    if config.mode == "geozero_sft":
        from georeason.training.sft import checked_sft_kwargs

        cls, kwargs, key = SFTConfig, checked_sft_kwargs(config), "sft_config"
    else:
        cls, kwargs, key = GRPOConfig, checked_grpo_kwargs(config), "grpo_config"
    note = None
    try:
        built = cls(**kwargs)
    except ValueError as exc:
        if not (kwargs.get("bf16") or kwargs.get("fp16")):
            raise UserInputError(f"invalid {key.split('_')[0]} options: {exc}") from None
        built = cls(**{**kwargs, "bf16": False, "fp16": False, "use_cpu": True})
        note = f"built with bf16/fp16 off on this machine ({exc}); requested values restored"
    values = built.to_dict()
    if note is not None:  # report what the config asked for, not the CPU stand-in
        values.update({k: bool(kwargs.get(k, False)) for k in ("bf16", "fp16", "use_cpu")})
    return {"config": config.to_dict(), key: values, f"{key}_note": note}


def build_trainer(
    config: TrainConfig,
    callbacks: list[Any] | None = None,
    monitors: Sequence[Callable[[FrameSpec], Any]] = (),
):  # -> GRPOTrainer
    """Construct TRL's ``GRPOTrainer`` for a config (model, processor, data, rewards, LoRA, logs).

    ``monitors``: factories called with the policy's :class:`FrameSpec`; each returns a function
    with TRL's reward signature that is **logged only** (weight 0: it never enters the reward,
    the advantage or the gradient). TRL logs it per step as ``rewards/<__name__>/mean``; an
    experiment uses it to watch, e.g., the IoU of the sampled boxes with targets that training
    never sees.

    With ``init_adapter`` or a ``shared_base`` verifier the policy is wrapped into a
    ``peft.PeftModel`` here (:func:`georeason.training.shared_verifier.wrap_policy`) and handed
    to TRL without a ``peft_config``; otherwise TRL applies the LoRA config itself.
    ``callbacks``: extra ``transformers.TrainerCallback`` objects (e.g. evolve's progress).

    Raises:
        UserInputError: invalid config values (including unknown ``grpo`` keys).
        georeason.errors.ModelLoadError: the policy or verifier checkpoint cannot be loaded.
    """
    from trl import GRPOConfig, GRPOTrainer

    from georeason.models.loading import load_model_and_processor

    if config.mode == "geozero_sft":
        from georeason.training.sft import build_sft_trainer

        return build_sft_trainer(config, callbacks)
    kwargs = checked_grpo_kwargs(config)
    if monitors:
        kwargs["reward_weights"] = [*kwargs["reward_weights"], *([0.0] * len(monitors))]
    try:
        args = GRPOConfig(**kwargs)  # before loading the model: DeepSpeed ZeRO-3 needs it first
    except (ValueError, TypeError) as exc:
        raise UserInputError(f"invalid grpo options: {exc}") from None

    model_path = resolve_model(config.model)
    loaded = load_model_and_processor(
        model_path,
        max_pixels=config.max_pixels,
        min_pixels=config.min_pixels,
        device="cpu",
        dtype=config.dtype,
    )
    model, processor = loaded.model.train(), loaded.processor
    frame = frame_spec_for(processor, loaded.arch)

    lora = config.lora.peft_config()
    shared = "verification" in config.reward_weights and config.verifier.kind == "shared_base"
    if config.init_adapter or shared:
        from georeason.training.shared_verifier import wrap_policy

        model, lora = wrap_policy(model, lora, config.init_adapter), None
    verifier = None
    if "verification" in config.reward_weights:
        verifier = build_verifier(config, model_path, policy=model if shared else None)
    judge = None
    if "thinking" in config.reward_weights:
        judge = build_thinking_judge(config, model_path)
    out = Path(config.output_dir)
    rewards = [
        RecordedReward(r, out / "rollouts") for r in build_rewards(config, frame, verifier, judge)
    ]
    rewards += [make(frame) for make in monitors]
    common = {
        "model": model,
        "reward_funcs": rewards,
        "args": args,
        "processing_class": processor,
        "peft_config": lora,
        "callbacks": [JsonlLogCallback(out / "train_log.jsonl"), *(callbacks or [])],
    }
    if config.mode == "geozero_a2grpo":
        from georeason.training.a2grpo import A2GRPOTrainer
        from georeason.training.geozero_data import build_geozero_dataset

        dataset = build_geozero_dataset(config.data, for_sft=False)
        return A2GRPOTrainer(train_dataset=dataset, kl_tokens=config.a2grpo.kl_tokens, **common)
    dataset = build_dataset(
        config.data,
        frame.frame,
        need_boxes=config.mode == "remotereasoner",
        prompt_template=config.prompt_template,
        system_prompt=config.system_prompt,
    )
    return GRPOTrainer(train_dataset=dataset, **common)


def merge_adapter(
    base_model: str, adapter_dir: str | Path, out_dir: str | Path, dtype: str | None = None
) -> Path:
    """Merge a LoRA adapter into its base model and save a full model folder with its processor.

    The folder loads like any checkpoint (``georeason locate --model OUT``). ``dtype``: the
    merged weights' dtype (default: the base checkpoint's own, e.g. bfloat16 stays bfloat16;
    float32 if the checkpoint names none).
    """
    from georeason.models.loading import checkpoint_dtype, load_model_and_processor

    base = resolve_model(base_model)
    dtype = dtype or checkpoint_dtype(base) or "float32"
    loaded = load_model_and_processor(base, adapter=adapter_dir, device="cpu", dtype=dtype)
    merged = loaded.model.merge_and_unload()
    out = Path(out_dir)
    merged.save_pretrained(str(out))
    loaded.processor.save_pretrained(str(out))
    src = Path(resolve_model(base_model)) / "georeason.json"
    if src.is_file():  # keep the "random weights" marker of tiny models
        write_text_atomic(out / "georeason.json", src.read_text(encoding="utf-8"))
    return out


def train(
    config: TrainConfig,
    callbacks: list[Any] | None = None,
    monitors: Sequence[Callable[[FrameSpec], Any]] = (),
) -> TrainResult:
    """Train (or resume) a run; save the final adapter into ``output_dir``.

    ``callbacks``: extra ``transformers.TrainerCallback`` objects passed to the trainer.
    ``monitors``: logged-only reward functions (weight 0), see :func:`build_trainer`.

    A rerun on a folder that holds ``checkpoint-N`` resumes from the newest one (optimizer,
    scheduler, RNG and data position included: the same data order).

    Raises:
        TrainingStopped: the verifier server stayed unreachable (or answered unusably); the
            message names the last checkpoint and how to resume. No reward is ever silently
            replaced by 0.
    """
    from georeason.serving.verifier_client import VerifierResponseError, VerifierUnavailableError

    out = Path(config.output_dir)
    resume = last_checkpoint(out)
    trainer = build_trainer(config, callbacks, monitors)
    if trainer.is_world_process_zero():
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / CONFIG_FILE, config.to_dict())
    try:
        trainer.train(resume_from_checkpoint=resume)
    except (VerifierUnavailableError, VerifierResponseError) as exc:
        last = last_checkpoint(out)
        where = f"the last checkpoint is {last}" if last else "no checkpoint was written yet"
        raise TrainingStopped(
            f"training stopped at step {trainer.state.global_step}: {exc}; {where}; rerun the "
            "same command to resume"
        ) from exc
    trainer.save_model(str(out))  # final LoRA adapter (adapter_config.json, weights, processor)
    # or, with full fine-tuning, the full model
    merged = None
    trainer.accelerator.wait_for_everyone()
    base = resolve_model(config.model)
    step = int(trainer.state.global_step)
    if not config.lora.enabled:
        marker = Path(base) / "georeason.json"
        if marker.is_file() and trainer.is_world_process_zero():  # tiny models' marker
            write_text_atomic(out / "georeason.json", marker.read_text(encoding="utf-8"))
        return TrainResult(out, base, None, out, step, resume)
    if config.merge_final and trainer.is_world_process_zero():
        merged = merge_adapter(config.model, out, out / "merged")
    return TrainResult(out, base, out, merged, step, resume)

"""GeoZero's SFT cold start (the GeoZero-Instruct stage) on TRL's ``SFTTrainer``.

Same config file, LoRA settings, logs (``train_log.jsonl``) and resume mechanics as GRPO
(:func:`georeason.training.trainer.train`); the trainer settings go under ``sft:`` and reach
``trl.SFTConfig``. The loss covers the answer only (``completion_only_loss``: the data are
prompt/completion pairs, :mod:`georeason.training.geozero_data`). Grounding targets are moved
from GeoZero's original pixels into the policy's box frame
(:func:`georeason.training.geozero_data.target_in_model_frame`).
"""

from __future__ import annotations

from typing import Any

from georeason.errors import UserInputError
from georeason.training.config import TrainConfig


def checked_sft_kwargs(config: TrainConfig) -> dict[str, Any]:
    """``config.sft_kwargs()`` after checking every key is a field of ``trl.SFTConfig``.

    Raises:
        UserInputError: an unknown key, with the nearest field name.
    """
    from trl import SFTConfig

    from georeason.training.config import checked_fields

    return checked_fields(SFTConfig, config.sft_kwargs(), "sft (trl.SFTConfig)")


def build_sft_trainer(config: TrainConfig, callbacks: list[Any] | None = None):  # -> SFTTrainer
    """TRL's ``SFTTrainer`` for a ``geozero_sft`` config (model, processor, data, LoRA, logs).

    Raises:
        UserInputError: invalid ``sft`` values or data.
        georeason.errors.ModelLoadError: the checkpoint cannot be loaded.
    """
    from pathlib import Path

    from trl import SFTConfig, SFTTrainer

    from georeason.models.loading import load_model_and_processor
    from georeason.models.spec import resolve_model
    from georeason.rewards import frame_spec_for
    from georeason.training.geozero_data import build_geozero_dataset
    from georeason.training.logs import JsonlLogCallback

    try:
        args = SFTConfig(**checked_sft_kwargs(config))
    except (ValueError, TypeError) as exc:
        raise UserInputError(f"invalid sft options: {exc}") from None
    loaded = load_model_and_processor(
        resolve_model(config.model),
        max_pixels=config.max_pixels,
        min_pixels=config.min_pixels,
        device="cpu",
        dtype=config.dtype,
    )
    model, processor = loaded.model.train(), loaded.processor
    lora = config.lora.peft_config()
    if config.init_adapter:
        from georeason.training.shared_verifier import wrap_policy

        model, lora = wrap_policy(model, lora, config.init_adapter), None
    dataset = build_geozero_dataset(
        config.data, for_sft=True, frame_spec=frame_spec_for(processor, loaded.arch)
    )
    out = Path(config.output_dir)
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        peft_config=lora,
        callbacks=[JsonlLogCallback(out / "train_log.jsonl"), *(callbacks or [])],
    )

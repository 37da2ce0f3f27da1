"""The models that score rollouts during training: RemoteZero's verifier V and A²GRPO's
thinking judge, built from a :class:`~georeason.training.config.TrainConfig` (in process,
sharing the policy's base weights, or behind an OpenAI-compatible server)."""

from __future__ import annotations

import os
from typing import Any

from georeason.errors import UserInputError
from georeason.models.spec import resolve_model
from georeason.training.config import TrainConfig


def _device_for_verifier(config: TrainConfig) -> str:
    import torch

    if config.grpo.get("use_cpu") or not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"


def _http_verifier(config: TrainConfig, url: str | None, model: str | None, **kwargs: Any):
    """An HTTP yes/no scorer with the client settings of ``config.verifier``."""
    from georeason.serving.verifier_client import HTTPVerifier

    vc = config.verifier
    return HTTPVerifier(
        url,
        model,
        timeout=vc.timeout,
        max_retries=vc.max_retries,
        backoff=vc.backoff,
        max_concurrency=vc.max_concurrency,
        **kwargs,
    )


def build_verifier(config: TrainConfig, policy_model_path: str, policy: Any = None):
    """RemoteZero's verifier V from ``config.verifier`` (see :class:`VerifierConfig`).

    ``initial_policy`` loads a second, frozen copy of the policy checkpoint (before LoRA): the
    self-evolution verifier of round 1 (ours: a separate copy is simple and keeps V fixed while
    the policy trains; for large models serve it with ``georeason serve-verifier`` instead).
    ``shared_base`` scores on ``policy`` (the policy's ``peft.PeftModel``; required for that
    kind) with ``verifier.adapter`` as a frozen second adapter, or with adapters disabled.

    Raises:
        UserInputError: ``shared_base`` without ``policy``; in-process kinds under ZeRO-3.
    """
    vc = config.verifier
    if vc.kind == "http":
        return _http_verifier(config, vc.url, vc.model)
    from transformers.integrations import is_deepspeed_zero3_enabled

    from georeason.models.verifier import LocalVerifier

    if is_deepspeed_zero3_enabled():
        raise UserInputError(
            "an in-process verifier cannot run under DeepSpeed ZeRO-3 (its weights would be "
            "partitioned outside the training engine): serve it with `georeason serve-verifier` "
            "and set verifier.kind=http, or use ZeRO-2"
        )
    if vc.kind == "shared_base":
        from georeason.models.loading import load_processor
        from georeason.training.shared_verifier import SharedBaseVerifier, add_verifier_adapter

        if policy is None:
            raise UserInputError("verifier.kind shared_base needs the policy's PeftModel")
        name = add_verifier_adapter(policy, vc.adapter) if vc.adapter else None
        return SharedBaseVerifier(
            policy,
            load_processor(policy_model_path),
            adapter_name=name,
            max_pixels=vc.max_pixels,
            batch_size=vc.batch_size,
        )
    model = policy_model_path if vc.kind == "initial_policy" else resolve_model(vc.model)
    verifier = LocalVerifier.from_pretrained(
        model,
        adapter=vc.adapter,
        max_pixels=vc.max_pixels,
        batch_size=vc.batch_size,
        device=_device_for_verifier(config),
        dtype=config.dtype,
    )
    verifier.model.requires_grad_(False)
    return verifier


def build_thinking_judge(config: TrainConfig, policy_model_path: str):
    """A²GRPO's thinking judge from ``config.a2grpo`` (see :class:`A2GRPOSettings`): a yes/no
    model (frozen initial policy, another checkpoint, or a server) asked
    :data:`georeason.rewards.geozero.THINKING_JUDGE_TEMPLATE` on the full image, or the no-model
    answer-consistency check.

    Raises:
        georeason.errors.ModelLoadError: the judge checkpoint cannot be loaded.
    """
    from georeason.rewards.geozero import (
        VerifierThinkingJudge,
        _identity,
        answer_consistency_judge,
    )

    a2 = config.a2grpo
    if a2.judge == "answer_consistency":
        return answer_consistency_judge
    if a2.judge == "http":
        return VerifierThinkingJudge(
            _http_verifier(config, a2.judge_url, a2.judge_model, prompt_fn=_identity)
        )
    from georeason.models.verifier import LocalVerifier

    model = policy_model_path if a2.judge == "initial_policy" else resolve_model(a2.judge_model)
    judge = LocalVerifier.from_pretrained(
        model,
        max_pixels=a2.judge_max_pixels,
        batch_size=a2.judge_batch_size,
        device=_device_for_verifier(config),
        dtype=config.dtype,
    )
    judge.prompt_fn = _identity
    judge.model.requires_grad_(False)
    return VerifierThinkingJudge(judge)

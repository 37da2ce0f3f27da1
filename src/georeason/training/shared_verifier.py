"""A verifier that shares the policy's base weights in memory (RemoteZero self-evolution).

In RemoteZero's self-evolution (arXiv 2605.04451) the verifier V of round t is the policy of round
t-1. With LoRA, both are the same base model plus an adapter, so one GPU needs only ONE copy of
the base: the policy being trained is a ``peft.PeftModel`` whose trainable adapter is
``"default"``; the previous round's adapter is loaded beside it as a second, frozen named adapter
(:data:`VERIFIER_ADAPTER`), and :class:`SharedBaseVerifier` scores with that adapter active — or
with all adapters disabled, which is the base model itself (the initial policy of a fresh LoRA,
or the previous round's merged model when rounds carry merged weights).

Scoring switches the active adapter for one no-grad prefill and restores everything it touched:
the active adapter, every parameter's ``requires_grad`` and every module's train/eval flag
(peft's ``set_adapter`` would otherwise make the verifier adapter trainable and freeze the
policy's). Scores equal those of a separately loaded
``LocalVerifier.from_pretrained(base, adapter=previous_adapter)`` (tested to 1e-5 on the tiny
models).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

from georeason.errors import ModelLoadError
from georeason.models.verifier import DEFAULT_BATCH_SIZE, DEFAULT_CROP_MAX_PIXELS, LocalVerifier

#: Name of the frozen previous-round adapter on the policy's PeftModel.
VERIFIER_ADAPTER = "verifier"
#: Name of the policy's trainable adapter (peft's and TRL's default).
POLICY_ADAPTER = "default"


def wrap_policy(model: Any, lora_config: Any, init_adapter: str | os.PathLike | None = None) -> Any:
    """The policy as a ``peft.PeftModel`` whose ``"default"`` adapter is trainable.

    Args:
        model: the base ``*ForConditionalGeneration`` (not yet a PeftModel).
        lora_config: ``peft.LoraConfig`` of a fresh adapter (used when ``init_adapter`` is None).
        init_adapter: saved adapter folder to start from (its own rank/alpha/targets), e.g. the
            previous round's policy; loaded trainable.

    Returns:
        A ``peft.PeftModel`` in train mode with only the ``"default"`` adapter trainable.

    Raises:
        ModelLoadError: ``init_adapter`` has no ``adapter_config.json`` or does not fit.
    """
    from peft import PeftModel, get_peft_model

    if init_adapter is None:
        return get_peft_model(model, lora_config).train()
    path = os.fspath(init_adapter)
    if not os.path.isfile(os.path.join(path, "adapter_config.json")):
        raise ModelLoadError(f"init adapter {path} has no adapter_config.json (a peft adapter)")
    try:
        peft_model = PeftModel.from_pretrained(
            model, path, adapter_name=POLICY_ADAPTER, is_trainable=True
        )
    except Exception as exc:  # noqa: BLE001 - shape mismatch, wrong base model
        raise ModelLoadError(f"cannot start the policy from adapter {path}: {exc}") from exc
    return peft_model.train()


def add_verifier_adapter(peft_model: Any, adapter: str | os.PathLike) -> str:
    """Load ``adapter`` as the frozen :data:`VERIFIER_ADAPTER` of ``peft_model``.

    The active adapter stays what it was (the policy's); the loaded weights never require grad.

    Returns:
        The adapter name (:data:`VERIFIER_ADAPTER`).

    Raises:
        ModelLoadError: the folder is not a peft adapter or does not fit the base model.
    """
    path = os.fspath(adapter)
    if not os.path.isfile(os.path.join(path, "adapter_config.json")):
        raise ModelLoadError(f"verifier adapter {path} has no adapter_config.json")
    active = peft_model.active_adapter
    with _preserved_state(peft_model):
        try:
            peft_model.load_adapter(path, adapter_name=VERIFIER_ADAPTER, is_trainable=False)
        except Exception as exc:  # noqa: BLE001 - shape mismatch, wrong base model
            raise ModelLoadError(f"cannot load verifier adapter {path}: {exc}") from exc
    if peft_model.active_adapter != active:  # pragma: no cover - peft keeps it; be explicit
        peft_model.set_adapter(active)
    for name, param in peft_model.named_parameters():
        if f".{VERIFIER_ADAPTER}." in name:
            param.requires_grad_(False)
    return VERIFIER_ADAPTER


@contextlib.contextmanager
def _preserved_state(model: Any) -> Iterator[None]:
    """Restore every parameter's ``requires_grad`` and every module's training flag on exit."""
    grads = [(p, p.requires_grad) for p in model.parameters()]
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield
    finally:
        for p, flag in grads:
            p.requires_grad_(flag)
        for m, flag in modes:
            m.training = flag


class SharedBaseVerifier(LocalVerifier):
    """RemoteZero verifier on the policy's own base weights (no second copy of the base).

    Args:
        peft_model: the policy's ``peft.PeftModel`` (the one the trainer trains).
        processor: an image-only Qwen-VL processor of the base checkpoint (its own instance: the
            crop pixel budget is passed per call, see :class:`LocalVerifier`).
        adapter_name: the frozen adapter that makes the verifier (e.g. :data:`VERIFIER_ADAPTER`
            = the previous round's policy), or None for the base model with all adapters
            disabled.
        max_pixels, min_pixels, batch_size: as in :class:`LocalVerifier`.

    Each :meth:`yes_no_logits` call runs in eval mode under ``torch.no_grad`` with
    ``adapter_name`` active and restores the active adapter, ``requires_grad`` flags and
    train/eval flags afterwards, so the trainer keeps training the policy's adapter. The
    trainer's mixed-precision ``forward`` wrapper is bypassed for the call (scores in the weights'
    dtype, equal to a separately loaded verifier's).

    Raises:
        ValueError: ``adapter_name`` is not loaded on ``peft_model``; yes/no not single tokens.
    """

    def __init__(
        self,
        peft_model: Any,
        processor: Any,
        adapter_name: str | None = VERIFIER_ADAPTER,
        max_pixels: int | None = DEFAULT_CROP_MAX_PIXELS,
        min_pixels: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if adapter_name is not None and adapter_name not in peft_model.peft_config:
            raise ValueError(
                f"adapter {adapter_name!r} is not loaded; loaded: {sorted(peft_model.peft_config)}"
            )
        super().__init__(
            peft_model,
            processor,
            max_pixels=max_pixels,
            min_pixels=min_pixels,
            batch_size=batch_size,
        )
        self.adapter_name = adapter_name

    @contextlib.contextmanager
    def _verifier_weights(self) -> Iterator[None]:
        model = self.model
        # accelerate's mixed-precision wrapper (autocast, set as an instance ``forward`` by the
        # trainer) is bypassed: the verifier computes in the weights' dtype, as a separately
        # loaded verifier does (bf16 autocast over fp32 weights moved scores by ~2e-4, measured)
        patched = model.__dict__.pop("forward", None)
        try:
            with self._adapter_state():
                yield
        finally:
            if patched is not None:
                model.forward = patched

    @contextlib.contextmanager
    def _adapter_state(self) -> Iterator[None]:
        model = self.model
        with _preserved_state(model):
            model.eval()
            if self.adapter_name is None:
                with model.disable_adapter():
                    yield
                return
            previous = model.active_adapter
            model.set_adapter(self.adapter_name, inference_mode=True)
            try:
                yield
            finally:
                model.set_adapter(previous)

    def yes_no_logits(
        self, crops: Sequence[Any], queries: Sequence[str], input_mode: str = "context_crop"
    ):
        """As :meth:`LocalVerifier.yes_no_logits`, with the verifier's adapter set active.

        Returns:
            ``(lse_yes, lse_no)``: float32 CPU tensors of shape ``(B,)``.
        """
        with self._verifier_weights():
            return super().yes_no_logits(crops, queries, input_mode)

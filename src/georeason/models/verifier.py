"""Verifiers: V(crop, query) -> confidence in [0, 1] (RemoteZero's Generate-Crop-Verify reward).

RemoteZero (arXiv 2605.04451) rewards a predicted box b by R = V(T(I, b), q) - area penalty, with
V an MLLM's confidence that the context crop T(I, b) satisfies the query q. The paper does not say
how V turns into a number; our documented default is the generative-verifier reading:

    confidence = P(yes) / (P(yes) + P(no))

from the next-token distribution after the verifier prompt
(:func:`georeason.prompts.verifier_prompt`), in ONE batched prefill, no decoding.
``P(yes)`` sums the probabilities of the yes-variants (default ``"Yes"`` and ``"yes"``),
``P(no)`` those of the no-variants (``"No"``, ``"no"``); variants that are not single tokens are
skipped, and ``"Yes"``/``"No"`` themselves must be single tokens. It is computed stably as
``sigmoid(logsumexp(logits[yes]) - logsumexp(logits[no]))``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from PIL import Image

from georeason import prompts
from georeason.models.policy import encode_batch, to_pil_rgb
from georeason.verifier_inputs import images_of

#: Pixel budget of a verifier crop (ours): 200,704 = 256 x 28 x 28 (256 visual tokens for
#: Qwen2.5-VL, 196 for Qwen3-VL). Crops are a fraction of the image, and the verifier runs once
#: per rollout, so a quarter of the policy's 802,816 bounds the reward's cost.
DEFAULT_CROP_MAX_PIXELS = 200_704
#: Pairs per prefill (ours; memory-bound on GPU, the caller can raise it).
DEFAULT_BATCH_SIZE = 16
#: Aspect ratio beyond which a crop is stretched on its short side before processing (ours; the
#: Qwen-VL resize refuses ratios above 200 and very thin crops carry no usable evidence anyway).
MAX_CROP_ASPECT = 100.0

YES_VARIANTS: tuple[str, ...] = ("Yes", "yes")
NO_VARIANTS: tuple[str, ...] = ("No", "no")


def resolve_yes_no_ids(
    tokenizer, yes: Sequence[str] = YES_VARIANTS, no: Sequence[str] = NO_VARIANTS
) -> tuple[list[int], list[int]]:
    """Token ids of the yes- and no-variants that are single tokens.

    The first variant of each list (``"Yes"``, ``"No"`` by default) is required.

    Returns:
        ``(yes_ids, no_ids)``, each non-empty, disjoint.

    Raises:
        ValueError: if a required variant is not a single token, or the two sets overlap.
    """

    def ids_for(words: Sequence[str]) -> list[int]:
        out: list[int] = []
        for i, word in enumerate(words):
            ids = tokenizer.encode(word, add_special_tokens=False)
            if len(ids) != 1:
                if i == 0:
                    raise ValueError(
                        f"the verifier needs {word!r} to be one token, but the tokenizer splits it "
                        f"into {len(ids)}: {ids}"
                    )
                continue
            if ids[0] not in out:
                out.append(int(ids[0]))
        return out

    yes_ids, no_ids = ids_for(list(yes)), ids_for(list(no))
    if set(yes_ids) & set(no_ids):
        raise ValueError(f"yes and no token ids overlap: {yes_ids} vs {no_ids}")
    return yes_ids, no_ids


def prepare_crop(crop: Image.Image, max_aspect: float = MAX_CROP_ASPECT) -> Image.Image:
    """RGB crop whose aspect ratio is at most ``max_aspect`` (short side stretched if needed)."""
    img = to_pil_rgb(crop)
    w, h = img.size
    if max(w, h) / min(w, h) > max_aspect:
        if w > h:
            img = img.resize((w, max(1, int(round(w / max_aspect)))), Image.BILINEAR)
        else:
            img = img.resize((max(1, int(round(h / max_aspect))), h), Image.BILINEAR)
    return img


class LocalVerifier:
    """In-process transformers verifier: one batched prefill, yes/no next-token confidence.

    Args:
        model: a loaded Qwen2.5-VL / Qwen3-VL ``*ForConditionalGeneration`` (or a peft model over
            one), shared or not with a policy.
        processor: its image-only processor (see :mod:`georeason.models.loading`).
        max_pixels: pixel budget of each crop (default :data:`DEFAULT_CROP_MAX_PIXELS`, ours).
        min_pixels: lower pixel bound (None: the processor's own).
        batch_size: pairs per prefill (default :data:`DEFAULT_BATCH_SIZE`).
        yes_tokens, no_tokens: answer variants (first of each required to be a single token).
        prompt_fn: query -> the user text after the image (default
            :func:`georeason.prompts.verifier_prompt`, RemoteZero's question; another yes/no
            question, e.g. A²GRPO's thinking judge, passes its own).

    Raises:
        ValueError: if the yes/no words are not single tokens, or ``batch_size`` is not positive.
    """

    def __init__(
        self,
        model,
        processor,
        max_pixels: int | None = DEFAULT_CROP_MAX_PIXELS,
        min_pixels: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        yes_tokens: Sequence[str] = YES_VARIANTS,
        no_tokens: Sequence[str] = NO_VARIANTS,
        prompt_fn: Callable[[str], str] = prompts.verifier_prompt,
    ) -> None:
        from georeason.models.loading import weights_kind_of

        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.model = model
        self.model_name: str = getattr(model.config, "name_or_path", "") or ""
        self.weights: str = weights_kind_of(model)
        self.processor = processor
        self.max_pixels = max_pixels
        self.min_pixels = min_pixels
        self.batch_size = int(batch_size)
        self.prompt_fn = prompt_fn
        self.yes_ids, self.no_ids = resolve_yes_no_ids(processor.tokenizer, yes_tokens, no_tokens)
        processor.tokenizer.padding_side = "left"

    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike,
        adapter: str | os.PathLike | None = None,
        max_pixels: int | None = DEFAULT_CROP_MAX_PIXELS,
        min_pixels: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: str | None = None,
        dtype=None,
    ) -> LocalVerifier:
        """Load a checkpoint (folder or hub id, optional LoRA adapter) as a verifier.

        Raises:
            georeason.errors.ModelLoadError: missing folder/id, unsupported arch, bad adapter.
            ValueError: if ``"Yes"``/``"No"`` are not single tokens of its tokenizer.
        """
        from georeason.models.loading import load_model_and_processor

        lm = load_model_and_processor(
            model, adapter=adapter, max_pixels=None, min_pixels=None, device=device, dtype=dtype
        )
        verifier = cls(
            lm.model,
            lm.processor,
            max_pixels=max_pixels,
            min_pixels=min_pixels,
            batch_size=batch_size,
        )
        verifier.model_name, verifier.weights = lm.model_name, lm.weights
        return verifier

    @property
    def device(self):  # -> torch.device
        return next(self.model.parameters()).device

    def prompt_text(self, query: str, input_mode: str = "context_crop") -> str:
        """The chat-formatted verifier prompt for one query (image placeholders included).

        The crop modes use ``prompt_fn``; the global modes of
        :mod:`georeason.verifier_inputs` their own prompt
        (:data:`georeason.prompts.VERIFIER_TEMPLATES`), with their number of images.

        Raises:
            ValueError: an unknown ``input_mode``, or a global mode on a verifier built with
                another ``prompt_fn`` (e.g. the thinking judge: it has no whole-image prompt).
        """
        text = prompts.verifier_text(query, input_mode, self.prompt_fn)
        return self.processor.apply_chat_template(
            prompts.user_message_with_images(text, prompts.VERIFIER_IMAGES_PER_INPUT[input_mode]),
            tokenize=False,
            add_generation_prompt=True,
        )

    def yes_no_logits(
        self,
        crops: Sequence[Image.Image | Sequence[Image.Image]],
        queries: Sequence[str],
        input_mode: str = "context_crop",
    ):
        """Next-token log-scores of the yes- and no-sets for one batch (one prefill).

        Args:
            crops: one image per pair, or (global modes) a tuple of images per pair, as
                :func:`georeason.verifier_inputs.verifier_images` returns.
            queries: one query per pair.
            input_mode: see :meth:`prompt_text`.

        Returns:
            ``(lse_yes, lse_no)``: two float32 CPU tensors of shape ``(B,)``:
            ``logsumexp`` of the logits over the yes-ids / no-ids at the last prompt position.

        Raises:
            ValueError: a pair's image count differs from what ``input_mode`` needs.
        """
        import torch

        texts = [self.prompt_text(q, input_mode) for q in queries]
        need = prompts.VERIFIER_IMAGES_PER_INPUT[input_mode]
        images = []
        for item in crops:
            group = images_of(item)
            if len(group) != need:
                raise ValueError(f"{input_mode} needs {need} image(s) per pair, got {len(group)}")
            images.extend(prepare_crop(im) for im in group)
        inputs = encode_batch(self.processor, texts, images, self.min_pixels, self.max_pixels)
        inputs = inputs.to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(next(self.model.parameters()).dtype)
        with torch.no_grad():
            out = self.model(**inputs, use_cache=False, logits_to_keep=1)
        logits = out.logits[:, -1, :].float()  # (B, V); left padding: last position is real
        lse_yes = torch.logsumexp(logits[:, self.yes_ids], dim=-1)
        lse_no = torch.logsumexp(logits[:, self.no_ids], dim=-1)
        return lse_yes.cpu(), lse_no.cpu()

    def score(
        self,
        crops: Sequence[Image.Image | Sequence[Image.Image]],
        queries: Sequence[str],
        input_mode: str = "context_crop",
    ) -> list[float]:
        """Confidence that each crop satisfies its query: P(yes) / (P(yes) + P(no)).

        Args:
            crops: PIL images (any mode; converted to RGB), e.g. RemoteZero's 15%-margin crops;
                for the global input modes, the image tuples of
                :func:`georeason.verifier_inputs.verifier_images`.
            queries: one query per crop.
            input_mode: one of :data:`georeason.verifier_inputs.VERIFIER_INPUTS` (it picks the
                prompt; the images are the caller's).

        Returns:
            One float in ``[0, 1]`` per pair, in input order (chunks of ``batch_size``).

        Raises:
            ValueError: if the lengths differ.
        """
        import torch

        if len(crops) != len(queries):
            raise ValueError(f"got {len(crops)} crops but {len(queries)} queries")
        scores: list[float] = []
        for start in range(0, len(crops), self.batch_size):
            lse_yes, lse_no = self.yes_no_logits(
                crops[start : start + self.batch_size],
                queries[start : start + self.batch_size],
                input_mode,
            )
            scores.extend(torch.sigmoid(lse_yes - lse_no).tolist())
        return [float(min(1.0, max(0.0, s))) for s in scores]

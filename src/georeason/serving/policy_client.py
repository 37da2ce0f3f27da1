"""The policy behind an OpenAI-compatible chat-completions server (vLLM, ``transformers serve``).

:class:`ServedPolicy` has the interface of :class:`georeason.models.policy.Policy` that the
workflow, evaluation and test-time verification use (``locate``, ``frame``, ``frame_spec``,
``model_name``, ``weights``), so ``locate``, ``eval`` and ``app`` take ``--policy-url`` in place
of ``--model`` and nothing else changes.

The box frame. Qwen2.5-VL writes boxes in pixels of its *resized* input, Qwen3-VL in 0..1000
(Bai et al. 2025, Qwen2.5-VL report; Qwen3-VL model card). A server hides both the family and
the resize, so:

* the family comes from ``model_family`` or the served model's name (``Qwen2.5-VL``,
  ``qwen3_vl``, ...); an unknown name is refused, never guessed;
* every image is resized here, before sending, with transformers' ``smart_resize`` (the
  function the Qwen-VL processors call: sides multiples of patch x merge = 28 for Qwen2.5-VL,
  32 for Qwen3-VL, area within ``[min_pixels, max_pixels]``) and bicubic resampling (the
  processors' ``resample=3``). The server's own ``smart_resize`` of that image is the identity
  (its size is already a multiple of the factor and within the budget), so the model input is
  the one our frame conversion assumes. Start the server with a pixel budget at least ours
  (vLLM: ``--mm-processor-kwargs '{"max_pixels": 802816}'``).

Requests run concurrently (``concurrency`` threads; vLLM batches them continuously). A server
that is down or keeps failing raises :class:`georeason.serving.openai_chat.ServerUnavailableError`
(one line); model text is never a reason to raise (an empty or missing answer parses as no
boxes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from georeason import prompts
from georeason.errors import UserInputError
from georeason.models.loading import pixel_budget
from georeason.models.policy import (
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_MAX_PIXELS,
    ImageLike,
    Localization,
    localization_from_text,
    to_pil_rgb,
)
from georeason.serving.openai_chat import (
    ServerResponseError,
    create_chat_completion,
    make_client,
    openai_content,
)

#: model family -> (answer frame, resize factor = patch x merge, the processor's min_pixels)
#: (Qwen2.5-VL: 14 x 2, 56 x 56 px; Qwen3-VL: 16 x 2, 256 x 256 px: the released
#: preprocessor configs)
MODEL_FAMILIES: dict[str, tuple[str, int, int]] = {
    "qwen2_5_vl": ("resized_px", 28, 56 * 56),
    "qwen3_vl": ("norm1000", 32, 65_536),
}

#: Qwen's special tokens (``<|object_ref_start|>``, ``<|box_end|>``, ...): an in-process policy
#: decodes with ``skip_special_tokens=True``, as vLLM does by default; ``transformers serve``
#: keeps them, so they are removed here and every server gives the in-process text.
QWEN_SPECIAL_TOKEN = re.compile(r"<\|[a-z_]+\|>")

#: ``generate`` settings outside the OpenAI schema, sent as vLLM's extra sampling parameters
#: (``top_k``, ``use_beam_search`` with ``n`` beams, ``length_penalty``, ``early_stopping``), or,
#: to a server that refuses unknown fields (``transformers serve`` answers HTTP 422), inside the
#: ``generation_config`` JSON field that server reads.
EXTRA_DECODING_KEYS = ("top_k", "num_beams", "length_penalty", "early_stopping")

_FAMILY_PATTERNS = (
    ("qwen3_vl", re.compile(r"qwen[-_ ]?3[-_ .]?vl", re.IGNORECASE)),
    ("qwen2_5_vl", re.compile(r"qwen[-_ ]?2[._]5[-_ .]?vl", re.IGNORECASE)),
)


def model_family_of(model_name: str, model_family: str | None = None) -> str:
    """The model family: ``model_family`` when given, else read from the served model's name.

    Raises:
        UserInputError: an unknown ``model_family``, or a name that names no known family.

    Examples:
        >>> model_family_of("Qwen/Qwen2.5-VL-7B-Instruct")
        'qwen2_5_vl'
        >>> model_family_of("Qwen/Qwen3-VL-8B-Instruct")
        'qwen3_vl'
        >>> model_family_of("my-finetune", "qwen3_vl")
        'qwen3_vl'
    """
    if model_family is not None:
        if model_family not in MODEL_FAMILIES:
            raise UserInputError(
                f"--model-family must be one of {', '.join(MODEL_FAMILIES)}, got {model_family!r}"
            )
        return model_family
    for family, pattern in _FAMILY_PATTERNS:
        if pattern.search(model_name):
            return family
    raise UserInputError(
        f"cannot tell the box frame of served model {model_name!r} from its name; pass "
        f"--model-family ({' or '.join(MODEL_FAMILIES)})"
    )


class ServedPolicy:
    """A Qwen-VL policy on an OpenAI-compatible server, with :class:`Policy`'s ``locate``.

    Args:
        base_url: the server's API root, e.g. ``http://127.0.0.1:8000/v1``.
        model: the model name the server expects (``vllm serve``'s model or
            ``--served-model-name``).
        model_family: ``"qwen2_5_vl"`` or ``"qwen3_vl"`` (None: read from ``model``; see
            :func:`model_family_of`).
        max_pixels: pixel budget of the images sent (default 802,816 as in both papers).
        min_pixels: lower bound (None: the family's processor default).
        prompt_template: the policy prompt the model was trained with
            (:func:`georeason.prompts.policy_prompt`).
        concurrency: requests in flight at once.
        timeout: seconds per request; max_retries: the client's retries per request.
        api_key: see :func:`georeason.serving.openai_chat.make_client`.

    Raises:
        UserInputError: unknown family, bad ``concurrency``, or a malformed template.
    """

    weights = "served"

    def __init__(
        self,
        base_url: str,
        model: str,
        model_family: str | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        min_pixels: int | None = None,
        prompt_template: str | None = None,
        concurrency: int = 8,
        timeout: float = 600.0,
        max_retries: int = 3,
        api_key: str | None = None,
    ) -> None:
        from georeason.rewards import FrameSpec

        if concurrency < 1:
            raise UserInputError(f"--concurrency must be at least 1, got {concurrency}")
        self.arch = model_family_of(model, model_family)
        frame, factor, family_min = MODEL_FAMILIES[self.arch]
        self.frame = frame
        try:  # the processors' rule: a default minimum above the maximum drops to it
            budget = pixel_budget(
                {"longest_edge": DEFAULT_MAX_PIXELS, "shortest_edge": family_min},
                max_pixels,
                min_pixels,
            )
        except ValueError as exc:
            raise UserInputError(f"pixel budget: {exc}") from None
        self.frame_spec = FrameSpec(
            frame=frame,
            min_pixels=budget["shortest_edge"],
            max_pixels=budget["longest_edge"],
            factor=factor,
        )
        self.max_pixels = self.frame_spec.max_pixels
        if prompt_template is not None:
            prompts.check_policy_template(prompt_template)
        self.prompt_template = prompt_template
        self.base_url = base_url
        self.served_model = model
        self.model_name = f"{model} @ {base_url}"
        self.concurrency = int(concurrency)
        self.client = make_client(base_url, api_key, timeout=timeout, max_retries=max_retries)
        self._generation_config_field = False  # set once a server refuses vLLM's extra fields

    def model_input(self, image: ImageLike) -> tuple[Any, tuple[int, int], tuple[int, int]]:
        """The image as sent: ``(PIL image resized by smart_resize, original (h, w), sent
        (h, w))``.

        Raises:
            georeason.errors.UserInputError: an aspect ratio Qwen-VL cannot take (> 200:1).
        """
        from PIL import Image

        pil = to_pil_rgb(image)
        original = (pil.height, pil.width)
        h, w = self.frame_spec.model_input_hw(original)
        if (h, w) != original:
            pil = pil.resize((w, h), Image.Resampling.BICUBIC)
        return pil, original, (h, w)

    def _request(
        self, image: ImageLike, query: str, max_new_tokens: int, temperature: float
    ) -> Localization:
        pil, original, sent = self.model_input(image)
        decoding = {
            "max_new_tokens": max_new_tokens,
            "do_sample": temperature > 0,  # top-p 1: plain temperature, as in GRPO rollouts
            "temperature": temperature,
        }
        messages = prompts.policy_messages(query, self.frame, self.prompt_template)
        # ``pil`` is already a fixed point of the resize, so it is sent as it is
        text = self._chat_request(messages, [pil], None, decoding)
        return localization_from_text(text, original, sent, self.frame)

    def _chat_request(
        self,
        chat: Sequence[dict[str, Any]],
        images: Sequence[ImageLike],
        seed: int | None,
        decoding: dict[str, Any],
    ) -> str:
        """One chat completion: images resized by :meth:`model_input`, ``decoding`` in
        ``generate``'s names; returns the text without Qwen special tokens ("" when the answer
        is malformed: model text never raises)."""
        from georeason.serving.verifier_client import encode_image_data_url

        pil = [self.model_input(im)[0] for im in images]
        body: dict[str, Any] = {
            "model": self.served_model,
            "messages": openai_content(chat, [encode_image_data_url(p) for p in pil]),
            "max_tokens": int(decoding.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
        }
        sample = bool(decoding.get("do_sample", False))
        body["temperature"] = float(decoding.get("temperature", 1.0)) if sample else 0.0
        if sample:
            body["top_p"] = float(decoding.get("top_p", 1.0))
        if seed is not None:
            body["seed"] = int(seed)
        extra = {k: decoding[k] for k in EXTRA_DECODING_KEYS if k in decoding}
        if not sample:
            extra.pop("top_k", None)
        as_config = {
            "generation_config": json.dumps(
                {**extra, "do_sample": sample, "max_new_tokens": body["max_tokens"]}
                | ({"temperature": body["temperature"], "top_p": body["top_p"]} if sample else {})
            )
        }
        if not extra:
            response = create_chat_completion(self.client, "policy server", **body)
        elif self._generation_config_field:
            response = create_chat_completion(
                self.client, "policy server", **body, extra_body=as_config
            )
        else:
            vllm = {k: v for k, v in extra.items() if k != "num_beams"}
            if int(extra.get("num_beams", 1)) > 1:
                vllm.update(use_beam_search=True, n=int(extra["num_beams"]))
            try:
                response = create_chat_completion(
                    self.client, "policy server", **body, extra_body=vllm
                )
            except ServerResponseError as exc:
                if "HTTP 422" not in str(exc):
                    raise
                self._generation_config_field = True  # remembered for the next requests
                response = create_chat_completion(
                    self.client, "policy server", **body, extra_body=as_config
                )
        try:
            return QWEN_SPECIAL_TOKEN.sub("", response.choices[0].message.content or "")
        except (AttributeError, IndexError, TypeError):
            return ""  # a malformed answer is an empty answer (parses as no boxes)

    def generate_chat(
        self,
        messages: Sequence[Sequence[dict[str, Any]]],
        images: Sequence[Sequence[ImageLike]],
        seeds: Sequence[int] | None = None,
        **generate_kwargs: Any,
    ) -> list[str]:
        """Free-text answers to chats (GeoZero's tasks): the served twin of
        :meth:`georeason.models.policy.Policy.generate_chat`, one request per chat, run
        concurrently.

        Args:
            messages: per sample, a chat whose user turns hold one ``{"type": "image"}`` part
                per image.
            images: per sample, its images in order; each is resized here as in :meth:`locate`.
            seeds: per sample, the request's ``seed`` (vLLM seeds each request; ``transformers
                serve`` seeds its global generator, so use ``concurrency=1`` there for
                reproducible sampling).
            generate_kwargs: ``transformers`` generate names: ``max_new_tokens``,
                ``do_sample``, ``temperature``, ``top_p`` (OpenAI fields) and
                ``top_k``, ``num_beams``, ``length_penalty``, ``early_stopping``
                (:data:`EXTRA_DECODING_KEYS`).

        Returns:
            The answers' text (Qwen special tokens removed), in input order; an empty string
            for a malformed answer.

        Raises:
            ValueError: mismatched lengths.
            georeason.serving.openai_chat.ServerUnavailableError: the server is down.
            georeason.serving.openai_chat.ServerResponseError: the server refused a request.
        """
        if len(messages) != len(images) or (seeds is not None and len(seeds) != len(images)):
            raise ValueError(
                f"got {len(messages)} chats, {len(images)} image lists and "
                f"{'no' if seeds is None else len(seeds)} seeds"
            )
        jobs = list(zip(messages, images, seeds or [None] * len(images), strict=True))

        def one(job: tuple) -> str:
            return self._chat_request(job[0], job[1], job[2], generate_kwargs)

        if len(jobs) <= 1 or self.concurrency == 1:
            return [one(j) for j in jobs]
        with ThreadPoolExecutor(min(self.concurrency, len(jobs))) as pool:
            return list(pool.map(one, jobs))

    def locate(
        self,
        images: Sequence[ImageLike],
        queries: Sequence[str],
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        do_sample: bool = False,
        temperature: float = 1.0,
        batch_size: int | None = None,
    ) -> list[Localization]:
        """Answer each query on its image with boxes in original pixels (concurrent requests).

        Args are those of :meth:`georeason.models.policy.Policy.locate`; greedy decoding sends
        ``temperature=0``; ``batch_size`` is ignored (the server batches).

        Raises:
            ValueError: mismatched lengths.
            georeason.serving.openai_chat.ServerUnavailableError: the server is down.
            georeason.serving.openai_chat.ServerResponseError: the server refused a request.
        """
        if len(images) != len(queries):
            raise ValueError(f"got {len(images)} images but {len(queries)} queries")
        t = float(temperature) if do_sample else 0.0
        pairs = list(zip(images, queries, strict=True))
        if len(pairs) <= 1 or self.concurrency == 1:
            return [self._request(im, q, max_new_tokens, t) for im, q in pairs]
        with ThreadPoolExecutor(min(self.concurrency, len(pairs))) as pool:
            return list(pool.map(lambda p: self._request(p[0], p[1], max_new_tokens, t), pairs))

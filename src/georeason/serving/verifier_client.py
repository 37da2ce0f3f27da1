"""HTTP verifier client: RemoteZero's verifier V on an OpenAI-compatible chat-completions server.

A large verifier (RemoteZero's distillation setting) can run on its own GPUs behind vLLM
(``vllm serve MODEL``) or behind ``georeason serve-verifier``; training talks to it through
:class:`HTTPVerifier`, which has the same protocol as the in-process
:class:`georeason.models.verifier.LocalVerifier`: ``score(crops, queries) -> list[float]``.

Protocol (what vLLM serves at ``POST {base_url}/chat/completions``)::

    {"model": M, "max_tokens": 1, "temperature": 0, "logprobs": true, "top_logprobs": k,
     "messages": [{"role": "user", "content": [
         {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}},
         {"type": "text", "text": georeason.prompts.verifier_prompt(query)}]}]}

The confidence is ``P(yes) / (P(yes) + P(no))`` over the first generated token, read from
``choices[0].logprobs.content[0].top_logprobs``: the probabilities of every listed token whose
text, stripped and lower-cased, is ``"yes"`` (resp. ``"no"``) are summed (``"Yes"`` and
``" yes"`` are different tokens). If neither appears among the top ``k`` the verifier did not
answer the question; the crop counts as not confirmed (confidence 0.0, ours) and
:attr:`HTTPVerifier.num_undecided` is incremented.

Transport: the ``openai`` client (:mod:`georeason.serving.openai_chat`, shared with the served
policy): connection pooling and timeouts; its own retries are off, ours apply.

Failures: connection errors, timeouts, HTTP 408/429/5xx are retried with exponential backoff;
when the last retry fails :class:`VerifierUnavailableError` is raised. Training lets it stop the
run (the last checkpoint stays, the same command resumes); a reward is never silently zeroed.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PIL import Image

from georeason.errors import GeoreasonError
from georeason.prompts import verifier_prompt, verifier_text
from georeason.verifier_inputs import images_of

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class _Transient(Exception):
    """A failure worth retrying (connection error, timeout, HTTP 408/429/5xx)."""


_PROBE = Image.new("RGB", (1, 1))


class VerifierUnavailableError(GeoreasonError):
    """The verifier server could not be reached (or kept failing) after every retry."""


class VerifierResponseError(GeoreasonError):
    """The verifier server answered, but not with a usable chat-completions response."""


def encode_image_data_url(image: Any, image_format: str = "PNG") -> str:
    """A PIL image as a ``data:image/...;base64,...`` URL (RGB).

    ``"PNG"`` (default) is lossless, written with zlib level 1 (ours: about 4x faster than PIL's
    default level 6 for nearly the same size; encoding dominates the client's cost). ``"JPEG"``
    (quality 95) is lossy but much faster and smaller, for slow links.
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    buf = io.BytesIO()
    fmt = image_format.upper()
    if fmt == "PNG":
        rgb.save(buf, format="PNG", compress_level=1)
    elif fmt in ("JPG", "JPEG"):
        rgb.save(buf, format="JPEG", quality=95)
    else:
        raise ValueError(f"image_format must be PNG or JPEG, got {image_format!r}")
    mime = "png" if fmt == "PNG" else "jpeg"
    return f"data:image/{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def chat_request(
    model: str, image_url: str | Sequence[str], text: str, top_logprobs: int = 20
) -> dict[str, Any]:
    """The JSON body of one verifier request (the image(s) in order, one prompt, one generated
    token)."""
    urls = [image_url] if isinstance(image_url, str) else list(image_url)
    content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    content.append({"type": "text", "text": text})
    return {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 1,
        "temperature": 0.0,
        "logprobs": True,
        "top_logprobs": int(top_logprobs),
    }


def yes_no_confidence(response: dict[str, Any]) -> float | None:
    """``P(yes) / (P(yes) + P(no))`` from a chat-completions response with top logprobs.

    Args:
        response: the decoded JSON response.

    Returns:
        The confidence in ``[0, 1]``, or ``None`` if neither "yes" nor "no" is among the top tokens.

    Raises:
        VerifierResponseError: if the response has no ``choices[0].logprobs.content[0]``.

    Examples:
        >>> r = {"choices": [{"logprobs": {"content": [{"token": "Yes", "logprob": -0.1,
        ...     "top_logprobs": [{"token": "Yes", "logprob": math.log(0.6)},
        ...                      {"token": "No", "logprob": math.log(0.2)}]}]}}]}
        >>> round(yes_no_confidence(r), 6)
        0.75
    """
    try:
        first = response["choices"][0]["logprobs"]["content"][0]
        top = first.get("top_logprobs") or [first]
    except (KeyError, IndexError, TypeError) as exc:
        raise VerifierResponseError(
            f"verifier response has no choices[0].logprobs.content[0] ({exc!r}); the server must "
            "support 'logprobs': true and 'top_logprobs'"
        ) from None
    p_yes = p_no = 0.0
    seen: set[str] = set()
    for entry in top:
        token = str(entry.get("token", ""))
        if token in seen:
            continue
        seen.add(token)
        word = token.strip().lower()
        logprob = float(entry.get("logprob", -math.inf))
        if word == "yes":
            p_yes += math.exp(logprob)
        elif word == "no":
            p_no += math.exp(logprob)
    if p_yes + p_no <= 0.0:
        return None
    return p_yes / (p_yes + p_no)


class HTTPVerifier:
    """Verifier client for an OpenAI-compatible server (vLLM, ``georeason serve-verifier``).

    Args:
        base_url: e.g. ``"http://127.0.0.1:8000/v1"`` (``/chat/completions`` is appended).
        model: the model name the server expects in requests.
        top_logprobs: how many next-token alternatives to request (vLLM's default cap is 20).
        timeout: seconds per request.
        max_retries: retries after the first attempt, per request.
        backoff: first retry delay in seconds; doubles each retry (1, 2, 4, 8, 16 s by default:
            about half a minute for a server restart, ours).
        max_concurrency: parallel requests (the server batches them).
        prompt_fn: query -> prompt text (default :func:`georeason.prompts.verifier_prompt`, the
            same wording as the local verifier).
        api_key: sent as ``Authorization: Bearer`` when given.
        image_format: ``"PNG"`` (lossless, default) or ``"JPEG"`` (quality 95, faster).

    Picklable: it holds configuration only (a thread pool is made per call).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        top_logprobs: int = 20,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_concurrency: int = 8,
        prompt_fn: Callable[[str], str] = verifier_prompt,
        api_key: str | None = None,
        image_format: str = "PNG",
    ) -> None:
        if max_retries < 0 or backoff < 0 or max_concurrency < 1 or top_logprobs < 1:
            raise ValueError("max_retries, backoff >= 0; max_concurrency, top_logprobs >= 1")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.top_logprobs = int(top_logprobs)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_concurrency = int(max_concurrency)
        self.prompt_fn = prompt_fn
        self.api_key = api_key
        self.image_format = image_format
        encode_image_data_url(_PROBE, image_format)  # fail early on an unknown format
        self.num_undecided = 0

    @property
    def url(self) -> str:
        """The chat-completions endpoint."""
        return f"{self.base_url}/chat/completions"

    def score(
        self, crops: Sequence[Any], queries: Sequence[str], input_mode: str = "context_crop"
    ) -> list[float]:
        """Confidence in ``[0, 1]`` that each crop (PIL image) satisfies its query.

        The global input modes (:mod:`georeason.verifier_inputs`) pass a tuple of images per
        pair and ``input_mode``, which picks the prompt
        (:data:`georeason.prompts.VERIFIER_TEMPLATES`); a server that takes several images per
        prompt is needed for ``global_and_crop`` (vLLM: ``--limit-mm-per-prompt``).

        Raises:
            ValueError: if ``crops`` and ``queries`` differ in length, an unknown ``input_mode``,
                or a global mode with a custom ``prompt_fn``.
            VerifierUnavailableError: the server stayed unreachable after every retry.
            VerifierResponseError: the server answered with an error or an unusable response.
        """
        if len(crops) != len(queries):
            raise ValueError(f"{len(crops)} crops but {len(queries)} queries")
        if not crops:
            return []
        texts = [verifier_text(q, input_mode, self.prompt_fn) for q in queries]
        bodies = [
            chat_request(
                self.model,
                [encode_image_data_url(im, self.image_format) for im in images_of(c)],
                text,
                self.top_logprobs,
            )
            for c, text in zip(crops, texts, strict=True)
        ]
        if len(bodies) == 1 or self.max_concurrency == 1:
            responses = [self._post(b) for b in bodies]
        else:
            with ThreadPoolExecutor(min(self.max_concurrency, len(bodies))) as pool:
                responses = list(pool.map(self._post, bodies))
        out = []
        for response in responses:
            conf = yes_no_confidence(response)
            if conf is None:
                self.num_undecided += 1
                conf = 0.0
            out.append(float(conf))
        return out

    def __getstate__(self) -> dict[str, Any]:  # the client's connection pool is not pickled
        state = dict(self.__dict__)
        state.pop("_openai", None)
        return state

    def _client(self):  # -> openai.OpenAI (one connection pool, shared by the worker threads)
        from georeason.serving.openai_chat import make_client

        if getattr(self, "_openai", None) is None:
            # retries are ours (tenacity, with this client's backoff), so the client makes none
            self._openai = make_client(
                self.base_url, self.api_key, timeout=self.timeout, max_retries=0
            )
        return self._openai

    def _post_once(self, body: dict[str, Any]) -> dict[str, Any]:
        import openai

        try:
            response = self._client().chat.completions.create(**body)
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        except openai.APIStatusError as exc:
            detail = " ".join(str(exc.message).split())[:300]
            if exc.status_code in RETRY_STATUS:
                raise _Transient(f"HTTP {exc.status_code}: {detail}") from None
            raise VerifierResponseError(
                f"verifier at {self.url} rejected the request with HTTP {exc.status_code}: {detail}"
            ) from None
        return response.model_dump()

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST with retries (tenacity): transient failures wait ``backoff * 2**(k-1)`` s
        before attempt ``k + 1``; a permanent error is raised at once."""
        from tenacity import (
            RetryError,
            Retrying,
            retry_if_exception_type,
            stop_after_attempt,
            wait_exponential,
        )

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_exponential(multiplier=self.backoff, exp_base=2, min=0, max=3600),
            retry=retry_if_exception_type(_Transient),
        )
        try:
            return retrying(self._post_once, body)
        except RetryError as exc:
            last_error = exc.last_attempt.exception()
            raise VerifierUnavailableError(
                f"verifier server {self.url} unavailable after {self.max_retries + 1} attempts "
                f"({last_error}); is it running (georeason serve-verifier, vllm serve)?"
            ) from None

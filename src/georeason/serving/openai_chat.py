"""Chat completions on any OpenAI-compatible server (vLLM, ``transformers serve``) through the
``openai`` client: one place for the client, the image parts and the error mapping.

The ``openai`` client brings connection pooling, timeouts and retries (connection errors,
408/409/429/5xx, exponential backoff with jitter); what is left to us is turning our chat
messages (``{"type": "image"}`` parts, :mod:`georeason.prompts`) into OpenAI content parts with
base64 data URLs, and turning a failure into one line for the user.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from georeason.errors import GeoreasonError

#: environment variable read for the API key when none is given (servers on loopback need none)
API_KEY_ENV = "GEOREASON_API_KEY"


class ServerUnavailableError(GeoreasonError):
    """The server could not be reached, or kept failing, after every retry."""


class ServerResponseError(GeoreasonError):
    """The server answered with an error that retrying will not fix (HTTP 400, 404, ...)."""


def make_client(
    base_url: str, api_key: str | None = None, timeout: float = 600.0, max_retries: int = 3
) -> Any:
    """An ``openai.OpenAI`` client for ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``).

    ``api_key`` defaults to ``$GEOREASON_API_KEY``, else ``"EMPTY"`` (vLLM's and transformers'
    servers accept any key unless started with one). ``timeout`` is seconds per request;
    ``max_retries`` the client's retries after the first attempt.

    """
    import openai

    return openai.OpenAI(
        base_url=base_url.rstrip("/"),
        api_key=_api_key(api_key),
        timeout=timeout,
        max_retries=max_retries,
    )


def _api_key(api_key: str | None) -> str:
    """``api_key``, else ``$GEOREASON_API_KEY``, else ``"EMPTY"``."""
    return api_key or os.environ.get(API_KEY_ENV) or "EMPTY"


def openai_content(messages: Sequence[dict[str, Any]], image_urls: Sequence[str]) -> list[dict]:
    """Our chat messages with each ``{"type": "image"}`` part replaced, in order, by an OpenAI
    ``image_url`` part holding the next of ``image_urls``.

    Raises:
        ValueError: if the messages hold a different number of image parts than ``image_urls``.
    """
    urls = list(image_urls)
    out = []
    used = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image":
                    if used >= len(urls):
                        raise ValueError(f"more image parts than the {len(urls)} image(s) given")
                    parts.append({"type": "image_url", "image_url": {"url": urls[used]}})
                    used += 1
                else:
                    parts.append(part)
            content = parts
        out.append({**message, "content": content})
    if used != len(urls):
        raise ValueError(f"{len(urls)} image(s) given but the messages hold {used} image parts")
    return out


def create_chat_completion(client: Any, what: str, **body: Any) -> Any:
    """``client.chat.completions.create(**body)`` with failures as one-line errors.

    Args:
        client: from :func:`make_client`.
        what: what the server is, for the message (``"policy server"``).
        body: the request (``model``, ``messages``, ``max_tokens``, ``temperature``, ...).

    Raises:
        ServerUnavailableError: connection refused, timeouts or 408/409/429/5xx after the
            client's retries.
        ServerResponseError: any other HTTP error (bad request, unknown model, ...).
    """
    import openai

    base = str(client.base_url).rstrip("/")
    try:
        return client.chat.completions.create(**body)
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:
        raise ServerUnavailableError(
            f"{what} {base} unreachable after {client.max_retries + 1} attempts "
            f"({type(exc).__name__}); is it running?"
        ) from None
    except openai.APIStatusError as exc:
        detail = " ".join(str(exc.message).split())[:300]
        if exc.status_code in (408, 409, 429) or exc.status_code >= 500:
            raise ServerUnavailableError(
                f"{what} {base} kept failing after {client.max_retries + 1} attempts: "
                f"HTTP {exc.status_code} {detail}"
            ) from None
        raise ServerResponseError(
            f"{what} {base} rejected the request: HTTP {exc.status_code} {detail}"
        ) from None


def load_lora_adapter(
    base_url: str, lora_name: str, lora_path: str, api_key: str | None = None
) -> None:
    """Register a LoRA adapter folder with a vLLM server under ``lora_name``
    (``POST {base_url}/load_lora_adapter``, vLLM's runtime LoRA API; the server must run with
    ``--enable-lora`` and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``). An adapter already loaded
    under that name (a resumed run) is kept. ``api_key``: as in :func:`make_client`.

    Raises:
        ServerUnavailableError: the server cannot be reached.
        ServerResponseError: it refuses (no such endpoint: not vLLM, or runtime LoRA updating
            off; a bad adapter folder).
    """
    import httpx

    url = f"{base_url.rstrip('/')}/load_lora_adapter"
    try:
        resp = httpx.post(
            url,
            json={"lora_name": lora_name, "lora_path": lora_path},
            headers={"Authorization": f"Bearer {_api_key(api_key)}"},
            timeout=600.0,
        )
    except httpx.HTTPError as exc:
        raise ServerUnavailableError(
            f"policy server {base_url} unreachable ({type(exc).__name__}); is it running?"
        ) from None
    if resp.status_code == 200 or "already been loaded" in resp.text:
        return
    detail = " ".join(resp.text.split())[:300]
    hint = (
        " (runtime LoRA loading needs vLLM started with --enable-lora and "
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)"
        if resp.status_code in (404, 405)
        else ""
    )
    raise ServerResponseError(
        f"policy server {base_url} refused LoRA adapter {lora_path}: HTTP {resp.status_code} "
        f"{detail}{hint}"
    )

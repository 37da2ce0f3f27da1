"""A small OpenAI-compatible verifier server (``georeason serve-verifier``).

It speaks the subset of the chat-completions protocol that
:class:`georeason.serving.verifier_client.HTTPVerifier` uses against vLLM, so the HTTP path can run
(and be tested) without vLLM: ``POST /v1/chat/completions`` with one user message holding an
``image_url`` data URL (two for the ``global_and_crop`` verifier input) and the verifier
prompt, ``max_tokens: 1``, ``logprobs: true``.

Behind it sits any *scorer* with ``score(crops, queries) -> list[float]`` (normally
:class:`georeason.models.verifier.LocalVerifier`). The query is read back from the prompt text by
inverting :data:`georeason.prompts.VERIFIER_TEMPLATE` (a text that does not match the template is
taken as the query itself); the whole-image prompts of :mod:`georeason.verifier_inputs` are
recognised and scored with their input mode. Concurrent requests are grouped into batches of
up to ``max_batch`` crops (one scorer call, one model forward) by a single worker thread, which
also keeps the model single-threaded.

The response's ``top_logprobs`` hold the scorer's two-way normalised probabilities,
``log c`` for ``"Yes"`` and ``log (1 - c)`` for ``"No"`` (``c`` = the scorer's confidence), so
the client's ``P(yes) / (P(yes) + P(no))`` gives back exactly ``c``; the rest of the vocabulary is
not listed. Other endpoints: ``GET /v1/models``, ``GET /health``.

Why it exists beside stock servers: the reward needs P(yes) from ``logprobs``/``top_logprobs``
of one generated token. vLLM gives that, and is the production path; ``transformers serve``
(the laptop server) ignores ``logprobs``, so on a CPU or for a verifier held in this process
(e.g. a LoRA round of self-evolution) this server is the way to get the same reward over HTTP.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import math
import queue
import re
import threading
import time
import uuid
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, UnidentifiedImageError

from georeason.models.verifier_base import Verifier
from georeason.prompts import VERIFIER_IMAGES_PER_INPUT, VERIFIER_TEMPLATE, VERIFIER_TEMPLATES
from georeason.verifier_inputs import GLOBAL_INPUTS, score_views

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024  # ours: a 802,816-pixel PNG crop is a few MB
_DATA_URL = re.compile(r"^data:image/[\w.+-]+;base64,(?P<data>.*)$", re.DOTALL)
_MIN_LOGPROB = -1e4  # log(0) is not JSON; exp(-1e4) is 0.0 in float64


class RequestError(ValueError):
    """A malformed request (HTTP 400)."""


def query_from_prompt(text: str, template: str = VERIFIER_TEMPLATE) -> str:
    """Invert the verifier prompt template: the ``{query}`` part of ``text``.

    Examples:
        >>> from georeason.prompts import verifier_prompt
        >>> query_from_prompt(verifier_prompt("two tennis courts"))
        'two tennis courts'
        >>> query_from_prompt("a raw query")
        'a raw query'
    """
    query = _template_query(text, template)
    return (text if query is None else query).strip()


def _template_query(text: str, template: str) -> str | None:
    """The ``{query}`` part of ``text`` if it is ``template`` filled in, else None."""
    prefix, _, suffix = template.partition("{query}")
    pattern = re.escape(prefix) + r"(?P<query>.*)" + re.escape(suffix)
    match = re.fullmatch(pattern, text.strip(), flags=re.DOTALL)
    return match.group("query") if match else None


def input_mode_and_query(text: str, template: str = VERIFIER_TEMPLATE) -> tuple[str, str]:
    """The verifier input mode whose prompt ``text`` is, and the query in it.

    The whole-image prompts (:data:`georeason.prompts.VERIFIER_TEMPLATES`) are tried first;
    otherwise the text is a crop prompt (``template``) or a raw query: ``"context_crop"``.

    Examples:
        >>> from georeason.prompts import verifier_prompt
        >>> input_mode_and_query(verifier_prompt("a pier", "global_and_crop"))
        ('global_and_crop', 'a pier')
        >>> input_mode_and_query("a raw query")
        ('context_crop', 'a raw query')
    """
    for mode in GLOBAL_INPUTS:
        query = _template_query(text, VERIFIER_TEMPLATES[mode])
        if query is not None:
            return mode, query.strip()
    return "context_crop", query_from_prompt(text, template)


def parse_chat_request(body: dict[str, Any]) -> tuple[tuple[Image.Image, ...], str]:
    """The (images, prompt text) of a chat-completions request with one or two images (two:
    the ``global_and_crop`` verifier input).

    Raises:
        RequestError: no user message, no or more than two images, a non-data URL, an
            undecodable image.
    """
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list")
    user = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not user:
        raise RequestError("no user message")
    content = user[-1].get("content")
    if isinstance(content, str) or not isinstance(content, list):
        raise RequestError("the user message must hold an image_url part and a text part")
    urls, texts = [], []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "image_url":
            image_url = part.get("image_url")
            urls.append(image_url.get("url") if isinstance(image_url, dict) else image_url)
        elif part.get("type") == "text":
            texts.append(str(part.get("text", "")))
    if len(urls) not in (1, 2):
        raise RequestError(f"expected one or two image_url parts, got {len(urls)}")
    return tuple(_decode_data_url(u) for u in urls), "\n".join(texts)


def _decode_data_url(url: Any) -> Image.Image:
    match = _DATA_URL.match(str(url))
    if not match:
        raise RequestError("only base64 data URLs (data:image/...;base64,...) are accepted")
    try:
        raw = base64.b64decode(match.group("data"), validate=False)
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError) as exc:
        raise RequestError(f"cannot decode the image: {exc}") from None
    return image.convert("RGB")


def chat_response(confidence: float, model: str, top_logprobs: int) -> dict[str, Any]:
    """A chat-completions response whose first token's top logprobs encode ``confidence``."""
    c = min(max(float(confidence), 0.0), 1.0)
    yes = {"token": "Yes", "logprob": math.log(c) if c > 0 else _MIN_LOGPROB}
    no = {"token": "No", "logprob": math.log(1.0 - c) if c < 1 else _MIN_LOGPROB}
    for entry in (yes, no):
        entry["bytes"] = list(entry["token"].encode("utf-8"))
    ranked = [yes, no] if c >= 0.5 else [no, yes]
    chosen = ranked[0]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": chosen["token"]},
                "logprobs": {
                    "content": [{**chosen, "top_logprobs": ranked[: max(1, top_logprobs)]}]
                },
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 1, "total_tokens": 1},
    }


class _Server(ThreadingHTTPServer):
    # the stdlib default listen backlog (5) drops concurrent connects; the client's SYN retry
    # then costs a full second
    request_queue_size = 256
    daemon_threads = True


class _Batcher:
    """One worker thread: collects (images, query, input mode) jobs and scores them in batches
    (one scorer call per input mode present in a batch)."""

    def __init__(self, scorer: Verifier, max_batch: int, wait_s: float) -> None:
        self.scorer = scorer
        self.max_batch = max_batch
        self.wait_s = wait_s
        self.jobs: queue.Queue = queue.Queue()
        self.batches = 0
        self.thread = threading.Thread(target=self._run, name="verifier-batcher", daemon=True)
        self.thread.start()

    def submit(self, images: tuple[Image.Image, ...], query: str, mode: str) -> Future:
        future: Future = Future()
        self.jobs.put((images, query, mode, future))
        return future

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            batch = [job]
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self.max_batch:
                try:
                    nxt = self.jobs.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    self.jobs.put(None)
                    break
                batch.append(nxt)
            for mode in dict.fromkeys(b[2] for b in batch):
                self._score([b for b in batch if b[2] == mode], mode)

    def _score(self, batch: list[tuple], mode: str) -> None:
        try:
            scores = score_views(self.scorer, [b[0] for b in batch], [b[1] for b in batch], mode)
            if len(scores) != len(batch):
                raise RuntimeError(f"scorer returned {len(scores)} scores for {len(batch)}")
        except Exception as exc:  # noqa: BLE001 - reported to each waiting request as HTTP 500
            for *_, future in batch:
                future.set_exception(exc)
            return
        self.batches += 1
        for (*_, future), s in zip(batch, scores, strict=True):
            future.set_result(float(s))


class VerifierServer:
    """OpenAI-compatible verifier endpoint around a scorer (see the module docstring).

    Args:
        scorer: object with ``score(crops, queries) -> list[float]``.
        model_name: the name reported by ``/v1/models`` and in responses (requests may name any).
        host, port: where to listen (``port=0`` picks a free port; see :attr:`port`).
        max_batch: most crops per scorer call.
        batch_wait_s: how long the worker waits for more requests to fill a batch (ours: 5 ms).
        template: the verifier prompt template to invert (``{query}`` placeholder).

    Usage::

        server = VerifierServer(LocalVerifier(...), "tiny", port=0).start()
        HTTPVerifier(server.base_url, "tiny").score(crops, queries)
        server.shutdown()
    """

    def __init__(
        self,
        scorer: Verifier,
        model_name: str,
        host: str = "127.0.0.1",
        port: int = 8000,
        max_batch: int = 16,
        batch_wait_s: float = 0.005,
        template: str = VERIFIER_TEMPLATE,
    ) -> None:
        self.model_name = model_name
        self.template = template
        self.batcher = _Batcher(scorer, max_batch=max_batch, wait_s=batch_wait_s)
        self.httpd = _Server((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``, what :class:`HTTPVerifier` takes."""
        host = self.httpd.server_address[0]
        return f"http://{host}:{self.port}/v1"

    def start(self) -> VerifierServer:
        """Serve in a background thread; returns ``self``."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        try:
            self.httpd.serve_forever()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()
        self.batcher.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                logger.debug("%s " + format, self.address_string(), *args)

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, kind: str) -> None:
                self._send(status, {"error": {"message": message, "type": kind, "code": status}})

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                if self.path.rstrip("/") in ("/health", "/v1/health"):
                    self._send(200, {"status": "ok"})
                elif self.path.rstrip("/") == "/v1/models":
                    model = {"id": server.model_name, "object": "model", "owned_by": "georeason"}
                    self._send(200, {"object": "list", "data": [model]})
                else:
                    self._error(404, f"no route {self.path}", "not_found")

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._error(404, f"no route {self.path}", "not_found")
                    return
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                    if length <= 0 or length > MAX_BODY_BYTES:
                        raise RequestError(f"body must be 1..{MAX_BODY_BYTES} bytes")
                    body = json.loads(self.rfile.read(length))
                    if not isinstance(body, dict):
                        raise RequestError("body must be a JSON object")
                    images, text = parse_chat_request(body)
                    mode, query = input_mode_and_query(text, server.template)
                    need = VERIFIER_IMAGES_PER_INPUT[mode]
                    if len(images) != need:
                        raise RequestError(
                            f"the {mode} prompt needs {need} image(s), got {len(images)}"
                        )
                    top = int(body.get("top_logprobs") or 2)
                except (RequestError, ValueError) as exc:
                    self._error(400, str(exc), "invalid_request_error")
                    return
                future = server.batcher.submit(images, query, mode)
                try:
                    confidence = future.result()
                except Exception as exc:  # noqa: BLE001 - the scorer failed
                    logger.exception("verifier scorer failed")
                    self._error(500, f"scorer failed: {type(exc).__name__}: {exc}", "server_error")
                    return
                self._send(200, chat_response(confidence, server.model_name, top))

        return Handler

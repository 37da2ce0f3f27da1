"""HTTP verifier: client (vLLM protocol) against our own server on 127.0.0.1."""

from __future__ import annotations

import json
import math
import pickle
import threading
import urllib.request

import numpy as np
import pytest
from _servers import free_port, start_serve_verifier
from PIL import Image

from georeason.prompts import verifier_prompt
from georeason.serving.verifier_client import (
    HTTPVerifier,
    VerifierResponseError,
    VerifierUnavailableError,
    chat_request,
    encode_image_data_url,
    yes_no_confidence,
)
from georeason.serving.verifier_server import (
    VerifierServer,
    chat_response,
    parse_chat_request,
    query_from_prompt,
)


class BrightnessScorer:
    """Deterministic stand-in for the verifier model: confidence = mean brightness / 255 (tests of
    the transport only; the real model is used in the end-to-end test below)."""

    def __init__(self):
        self.batches = []
        self.lock = threading.Lock()

    def score(self, crops, queries):
        with self.lock:
            self.batches.append(list(queries))
        return [float(np.asarray(c.convert("L"), dtype=np.float64).mean() / 255.0) for c in crops]


def _gray(value: int, size=(8, 6)) -> Image.Image:
    return Image.new("RGB", size, (value, value, value))


@pytest.fixture
def server():
    scorer = BrightnessScorer()
    srv = VerifierServer(scorer, "test-verifier", port=0, batch_wait_s=0.02).start()
    srv.scorer = scorer
    yield srv
    srv.shutdown()


def test_yes_no_confidence_sums_variants_and_handles_missing():
    def resp(tops):
        entries = [{"token": t, "logprob": math.log(p)} for t, p in tops]
        return {"choices": [{"logprobs": {"content": [{**entries[0], "top_logprobs": entries}]}}]}

    assert yes_no_confidence(resp([("Yes", 0.5), (" yes", 0.1), ("No", 0.2)])) == pytest.approx(
        0.75
    )
    assert yes_no_confidence(resp([("NO", 0.9), ("maybe", 0.05)])) == 0.0
    assert yes_no_confidence(resp([("maybe", 0.9)])) is None
    with pytest.raises(VerifierResponseError, match="logprobs"):
        yes_no_confidence({"choices": [{"message": {"content": "Yes"}}]})


def test_request_and_response_round_trip_without_network():
    body = chat_request("m", encode_image_data_url(_gray(51)), verifier_prompt("a pool"), 5)
    assert body["max_tokens"] == 1 and body["logprobs"] is True and body["top_logprobs"] == 5
    (image,), text = parse_chat_request(json.loads(json.dumps(body)))
    assert image.size == (8, 6) and np.asarray(image)[0, 0, 0] == 51
    assert query_from_prompt(text) == "a pool"
    assert yes_no_confidence(chat_response(0.3, "m", 5)) == pytest.approx(0.3)
    assert yes_no_confidence(chat_response(1.0, "m", 5)) == 1.0
    assert yes_no_confidence(chat_response(0.0, "m", 5)) == 0.0


def test_client_scores_through_server_in_batches(server):
    client = HTTPVerifier(server.base_url, "test-verifier", max_concurrency=4)
    crops = [_gray(v) for v in (0, 51, 102, 255)]
    queries = ["q0", "q1", "q2", "q3"]
    scores = client.score(crops, queries)
    assert scores == pytest.approx([0.0, 0.2, 0.4, 1.0])
    seen = sorted(q for batch in server.scorer.batches for q in batch)
    assert seen == queries  # queries recovered from the verifier prompt
    assert len(server.scorer.batches) < 4  # concurrent requests were grouped
    assert client.score([], []) == []
    with pytest.raises(ValueError):
        client.score(crops, queries[:1])
    clone = pickle.loads(pickle.dumps(client))
    assert clone.score([_gray(255)], ["x"]) == [1.0]


def test_server_endpoints_and_bad_requests(server):
    with urllib.request.urlopen(server.base_url + "/models") as resp:
        assert json.loads(resp.read())["data"][0]["id"] == "test-verifier"
    bad = urllib.request.Request(
        server.base_url + "/chat/completions",
        data=json.dumps({"messages": [{"role": "user", "content": "no image"}]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bad)
    assert err.value.code == 400
    # a 4xx is a client bug: no retry, a clear error
    client = HTTPVerifier(server.base_url.replace("/v1", "/v2"), "m", max_retries=3, backoff=5)
    with pytest.raises(VerifierResponseError, match="HTTP 404"):
        client.score([_gray(1)], ["q"])


def test_client_retries_then_stops_with_clear_error_when_server_is_down():
    url = f"http://127.0.0.1:{free_port()}/v1"
    client = HTTPVerifier(url, "m", max_retries=2, backoff=0.01, timeout=2)
    with pytest.raises(VerifierUnavailableError, match="after 3 attempts.*is it running"):
        client.score([_gray(10)], ["q"])


def test_client_retries_server_errors_until_the_scorer_recovers():
    class Flaky(BrightnessScorer):
        def __init__(self):
            super().__init__()
            self.failures = 2

        def score(self, crops, queries):
            if self.failures:
                self.failures -= 1
                raise RuntimeError("CUDA out of memory")
            return super().score(crops, queries)

    srv = VerifierServer(Flaky(), "m", port=0).start()
    try:
        assert HTTPVerifier(srv.base_url, "m", max_retries=3, backoff=0.01).score(
            [_gray(255)], ["q"]
        ) == [1.0]
        always = HTTPVerifier(srv.base_url, "m", max_retries=0, backoff=0.01)
        srv.batcher.scorer.failures = 5
        with pytest.raises(VerifierUnavailableError, match="HTTP 500.*out of memory"):
            always.score([_gray(255)], ["q"])
    finally:
        srv.shutdown()


@pytest.mark.slow
def test_http_verifier_matches_local_verifier_on_tiny_model(tiny_qwen25vl_dir, samples_dir):
    from georeason.models.verifier import LocalVerifier

    local = LocalVerifier.from_pretrained(tiny_qwen25vl_dir, device="cpu")
    image = Image.open(samples_dir / "images" / "dior_00001.jpg").convert("RGB")
    crops = [image.crop((133, 237, 684, 672)), image.crop((0, 0, 64, 32)), image.crop((5, 5, 6, 6))]
    queries = ["a golf course", "a harbour", "a car"]
    expected = local.score(crops, queries)
    srv = VerifierServer(local, "tiny", port=0, batch_wait_s=0.02).start()
    try:
        got = HTTPVerifier(srv.base_url, "tiny", max_concurrency=3).score(crops, queries)
    finally:
        srv.shutdown()
    assert got == pytest.approx(expected, abs=1e-5)
    assert all(0.0 < s < 1.0 for s in got)


@pytest.mark.slow
def test_serve_verifier_command_end_to_end(tiny_qwen3vl_dir, samples_dir):
    import time

    port = free_port()
    proc = start_serve_verifier(tiny_qwen3vl_dir, port)
    try:
        client = HTTPVerifier(f"http://127.0.0.1:{port}/v1", "any", max_retries=3, backoff=0.2)
        image = Image.open(samples_dir / "images" / "dota_P1888.png")
        scores = client.score([image.crop((400, 300, 480, 400))], ["parked buses"])
        assert len(scores) == 1 and 0.0 < scores[0] < 1.0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    time.sleep(0.1)
    with pytest.raises(VerifierUnavailableError):
        HTTPVerifier(f"http://127.0.0.1:{port}/v1", "any", max_retries=1, backoff=0.01).score(
            [_gray(1)], ["q"]
        )

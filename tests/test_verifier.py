"""LocalVerifier: yes/no confidence from one batched prefill."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from georeason.errors import ModelLoadError
from georeason.models.policy import Policy
from georeason.models.verifier import (
    LocalVerifier,
    prepare_crop,
    resolve_yes_no_ids,
)
from georeason.models.verifier_base import Verifier


def _crops(seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    sizes = [(30, 40), (120, 64), (4, 250), (64, 64), (1, 1)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in sizes]


QUERIES = ["a pool", "where could victims be resettled after the earthquake?", "ships", "x", "road"]


@pytest.fixture(scope="module")
def verifiers(tiny_qwen25vl_dir, tiny_qwen3vl_dir):
    return {
        "qwen2_5_vl": LocalVerifier.from_pretrained(tiny_qwen25vl_dir, device="cpu"),
        "qwen3_vl": LocalVerifier.from_pretrained(tiny_qwen3vl_dir, device="cpu"),
    }


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_batched_scores_equal_single_scores(verifiers, arch):
    v = verifiers[arch]
    crops = _crops()
    batched = v.score(crops, QUERIES)
    single = [v.score([c], [q])[0] for c, q in zip(crops, QUERIES, strict=True)]
    assert len(batched) == len(crops)
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-5)
    assert all(0.0 <= s <= 1.0 for s in batched)
    assert len(set(np.round(batched, 8))) > 1  # the inputs matter


def test_chunked_scores_equal_one_batch(verifiers):
    v = verifiers["qwen3_vl"]
    crops = _crops(1)
    full = v.score(crops, QUERIES)
    chunked = LocalVerifier(v.model, v.processor, batch_size=2).score(crops, QUERIES)
    np.testing.assert_allclose(chunked, full, rtol=0, atol=1e-5)


def test_confidence_is_p_yes_over_p_yes_plus_p_no(verifiers):
    """Recompute the documented formula from the full next-token softmax."""
    v = verifiers["qwen2_5_vl"]
    crop, query = _crops()[1], QUERIES[1]
    tok = v.processor.tokenizer
    inputs = v.processor(
        text=[v.prompt_text(query)],
        images=[prepare_crop(crop)],
        return_tensors="pt",
        size={"longest_edge": v.max_pixels, "shortest_edge": 3136},
    )
    with torch.no_grad():
        probs = torch.softmax(v.model(**inputs).logits[0, -1].double(), dim=-1)
    ids = {w: tok.convert_tokens_to_ids(w) for w in ("Yes", "yes", "No", "no")}
    p_yes = probs[ids["Yes"]] + probs[ids["yes"]]
    p_no = probs[ids["No"]] + probs[ids["no"]]
    assert v.score([crop], [query])[0] == pytest.approx(float(p_yes / (p_yes + p_no)), abs=1e-6)


def test_yes_no_ids_resolution(verifiers):
    tok = verifiers["qwen2_5_vl"].processor.tokenizer
    yes_ids, no_ids = resolve_yes_no_ids(tok)
    assert len(yes_ids) == 2 and len(no_ids) == 2 and not set(yes_ids) & set(no_ids)
    assert tok.decode(yes_ids[:1]) == "Yes" and tok.decode(no_ids[:1]) == "No"
    # a non-single-token optional variant is skipped, a required one is an error
    assert resolve_yes_no_ids(tok, ("Yes", "Affirmative!"), ("No",)) == (yes_ids[:1], no_ids[:1])
    with pytest.raises(ValueError, match="one token"):
        resolve_yes_no_ids(tok, ("Affirmative!",), ("No",))
    with pytest.raises(ValueError, match="overlap"):
        resolve_yes_no_ids(tok, ("Yes",), ("Yes",))


def test_shares_a_loaded_policy_model(tiny_qwen3vl_dir):
    policy = Policy.from_pretrained(tiny_qwen3vl_dir, device="cpu")
    v = LocalVerifier(policy.model, policy.processor, max_pixels=50_000)
    assert isinstance(v, Verifier)
    assert v.weights == "random" and v.model_name == str(tiny_qwen3vl_dir)
    scores = v.score(_crops()[:2], QUERIES[:2])
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)
    assert policy.max_pixels == 802_816  # the shared processor keeps the policy's own budget
    assert policy.processor.image_processor.size["longest_edge"] == 802_816


def test_thin_crops_are_made_processable():
    thin = Image.fromarray(np.zeros((1, 500, 3), dtype=np.uint8))
    out = prepare_crop(thin)
    assert out.size == (500, 5) and out.mode == "RGB"
    grey = prepare_crop(Image.fromarray(np.zeros((20, 30), dtype=np.uint8)))
    assert grey.mode == "RGB" and grey.size == (30, 20)


def test_errors(verifiers, tmp_path):
    v = verifiers["qwen3_vl"]
    with pytest.raises(ValueError, match="queries"):
        v.score(_crops()[:2], ["a"])
    assert v.score([], []) == []
    with pytest.raises(ValueError, match="batch_size"):
        LocalVerifier(v.model, v.processor, batch_size=0)
    with pytest.raises(ModelLoadError):
        LocalVerifier.from_pretrained(tmp_path / "missing")

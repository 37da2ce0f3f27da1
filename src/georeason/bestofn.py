"""Test-time Generate-Crop-Verify: sample N answers, verify each, keep the best (best-of-N).

RemoteZero (Yao, Liu et al., 2026) trains with the reward ``R = V(T(I, b), q) - lambda *
max(0, area_ratio - tau)``: the verifier's confidence that the context crop ``T(I, b)`` (box
``b`` enlarged by a 15 % margin) satisfies the query ``q``, minus an area penalty. The same score
can rank answers at inference, without training: sample ``N`` answers at a temperature, score each
with exactly the training reward (:class:`georeason.rewards.VerificationReward`, one place for the
formula), return the highest. This is our product feature, not a procedure of the paper; the
paper's premise that verifying is easier than generating ("Eye > Hand") is what makes it work.

Cost: ``N`` generations (one batched ``generate`` per batch of ``batch_size`` pairs) plus ``N x
boxes`` verifier prefills per query; no decoding by the verifier.

Ties (equal scores) keep the earliest sample; an answer without a readable box scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from georeason.models.policy import Localization, to_pil_rgb
from georeason.rewards import VerificationReward, frame_spec_for

#: Defaults of the sampling (the papers' rollout temperature 0.9; N = 8 is ours).
DEFAULT_SAMPLES = 8
DEFAULT_TEMPERATURE = 0.9


@dataclass
class BestOfN:
    """The answers sampled for one query and the one kept.

    Attributes:
        best: the kept answer (boxes in original pixels, ``(K, 4)`` float64 xyxy).
        best_index: its index in ``candidates``.
        candidates: every sampled answer, in sampling order.
        scores: the verification reward of each candidate (confidence minus area penalty,
            ``[-lambda, 1]``; 0 for an answer with no readable box).
    """

    best: Localization
    best_index: int
    candidates: list[Localization]
    scores: list[float]

    def to_json(self) -> list[dict[str, Any]]:
        """One dict per candidate: ``text``, ``boxes_xyxy_px``, ``verifier_score``, ``kept``."""
        return [
            {
                "text": c.text,
                "boxes_xyxy_px": np.asarray(c.boxes_xyxy_px, float).round(2).tolist(),
                "verifier_score": round(float(s), 6),
                "kept": i == self.best_index,
            }
            for i, (c, s) in enumerate(zip(self.candidates, self.scores, strict=True))
        ]


def best_of_n(
    policy: Any,
    verifier: Any,
    images: Sequence[Any],
    queries: Sequence[str],
    n: int = DEFAULT_SAMPLES,
    temperature: float = DEFAULT_TEMPERATURE,
    margin_ratio: float | None = None,
    area_penalty_weight: float | None = None,
    area_threshold: float | None = None,
    max_new_tokens: int | None = None,
    batch_size: int | None = None,
    input_mode: str = "context_crop",
) -> list[BestOfN]:
    """Sample ``n`` answers per query, score each with the verification reward, keep the best.

    Args:
        policy: a :class:`georeason.models.policy.Policy` (frame read from its processor) or a
            served one (:class:`georeason.serving.policy_client.ServedPolicy`, which carries
            its ``frame_spec``).
        verifier: an object with ``score(crops, queries) -> list[float]`` in ``[0, 1]``
            (:class:`georeason.models.verifier.LocalVerifier`, the HTTP client, ...).
        images: PIL images, ``RasterImage`` or ``(H, W, 3)`` uint8 arrays (original pixels).
        queries: the queries.
        n: samples per query (``>= 1``).
        temperature: sampling temperature (``> 0``).
        margin_ratio, area_penalty_weight, area_threshold: the reward's options (None: the
            reward's defaults, 0.15 / 1.0 / 0.3).
        max_new_tokens: generation budget (None: the policy's default).
        batch_size: (image, query) pairs per ``generate`` call (None: all ``n x len`` at once).
        input_mode: what the verifier sees of each box (:mod:`georeason.verifier_inputs`).

    Returns:
        One :class:`BestOfN` per query, in input order.

    Raises:
        ValueError: ``n < 1``, ``temperature <= 0`` or mismatched lengths. Verifier errors
            propagate (a score is never silently replaced).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if len(images) != len(queries):
        raise ValueError(f"got {len(images)} images but {len(queries)} queries")
    options = {
        k: v
        for k, v in {
            "margin_ratio": margin_ratio,
            "area_penalty_weight": area_penalty_weight,
            "area_threshold": area_threshold,
        }.items()
        if v is not None
    }
    reward = VerificationReward(
        verifier,
        frame=getattr(policy, "frame_spec", None) or frame_spec_for(policy.processor, policy.arch),
        input_mode=input_mode,
        **options,
    )
    pil = [to_pil_rgb(im) for im in images]  # RasterImage, arrays and PIL alike
    rep_images = [im for im in pil for _ in range(n)]
    rep_queries = [q for q in queries for _ in range(n)]
    kwargs: dict[str, Any] = {"do_sample": True, "temperature": temperature}
    if max_new_tokens is not None:
        kwargs["max_new_tokens"] = max_new_tokens
    locs = policy.locate(rep_images, rep_queries, batch_size=batch_size, **kwargs)
    scores = reward(completions=[loc.text for loc in locs], image=rep_images, query=rep_queries)
    out = []
    for q in range(len(queries)):
        cands = locs[q * n : (q + 1) * n]
        s = [float(v) for v in scores[q * n : (q + 1) * n]]
        k = int(np.argmax(s))
        out.append(BestOfN(best=cands[k], best_index=k, candidates=cands, scores=s))
    return out

"""Steer a random-weight policy toward given answers, for tests and benchmarks only.

A tiny random model almost never writes a parsable box, so the verification reward (crop +
verifier call) would never run in a CPU smoke test or benchmark. :func:`scripted_answer_bias`
builds a ``sequence_bias`` for ``transformers.GenerationConfig`` (pass it through the config's
``grpo.generation_kwargs``) that makes sampling follow one of the given answers token by token:
each prefix ``t1..tk`` of an answer gets bias ``strength * k`` on ``tk``, so the longest matching
prefix always wins; where answers diverge, their next tokens have equal bias and sampling picks
among them. Generation is still TRL's own: only the logits are shifted. Never use it to train a
real model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def scripted_answer_bias(
    tokenizer: Any, answers: Sequence[str], strength: float = 10.0, eos: str | None = "<|im_end|>"
) -> list[list[Any]]:
    """``sequence_bias`` (list of ``[token_ids, bias]``) that steers sampling to ``answers``.

    Args:
        tokenizer: the policy's tokenizer.
        answers: completions to steer to, e.g. ``"<think>x</think><answer>[[1,2,3,4]]</answer>"``.
        strength: bias per prefix token (logit units; 10 dwarfs a random model's logits).
        eos: token appended to each answer so generation stops there (None: no stop).

    Returns:
        A JSON/YAML-serialisable list ``[[ids...], bias]``, longest prefixes last.
    """
    seen: dict[tuple[int, ...], float] = {}
    for answer in answers:
        ids = tokenizer.encode(answer + (eos or ""), add_special_tokens=False)
        for k in range(1, len(ids) + 1):
            seen[tuple(ids[:k])] = strength * k
    return [[list(prefix), bias] for prefix, bias in sorted(seen.items(), key=lambda x: len(x[0]))]

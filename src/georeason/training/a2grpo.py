"""A²GRPO (GeoZero, Wang et al. 2025, arXiv 2511.22645), reconstructed on TRL's GRPOTrainer.

GeoZero's exact formulas are not public. What its framework figure and abstract state: each
rollout has a thought and an answer; an answer reward against the ground truth gates a thinking
reward ("the reasoning process is regularized by the model's own answers"); both enter the group
advantage; the KL constraint to the reference model covers the answer tokens only. Our reading,
every piece a config option (:class:`georeason.training.config.A2GRPOSettings`):

1. **Thinking reward** R_t (:class:`georeason.rewards.geozero.ThinkingReward`): a judge scores
   whether the reasoning leads to the answer (default: the frozen initial policy's
   P(yes) / (P(yes) + P(no)) on the full image and a yes/no question; or a no-model
   answer-consistency check), gated by the answer reward R_a (hard: only when R_a >= 0.5; soft:
   multiplied by R_a), so thinking is rewarded only when the answer is right.
2. **Advantage** from R = w_a R_a + w_f R_format + w_t R_t, normalised within each group as in
   GRPO: TRL's weighted sum of reward functions (``reward_weights``; ours: 1, 1, 0.5).
3. **Answer-token KL**: with ``beta > 0``, TRL's per-token KL
   ``exp(ref - logp) - (ref - logp) - 1`` (k3 estimator) is kept on answer tokens and removed on
   thinking tokens (:func:`answer_token_mask`, :func:`answer_only_reference_logps`).

The trainer is TRL's own, extended at two points: the rollout batch gains an
``answer_token_mask``, and the loss sees reference log-probs equal to the policy's own
(detached) at thinking positions, which makes the KL term and its gradient exactly zero there
and leaves the policy-gradient term untouched. Logged per step: ``kl_answer`` (mean KL over
answer tokens), ``answer_token_share``, plus TRL's ``rewards/answer_reward/mean`` and
``rewards/thinking_reward/mean``.
"""

from __future__ import annotations

from typing import Any

from trl import GRPOTrainer

#: The tag that opens the answer; tokens from the one that overlaps it on are answer tokens.
ANSWER_TAG = "<answer>"


def answer_start_index(token_ids: list[int], tokenizer: Any, tag: str = ANSWER_TAG) -> int:
    """Index of the first completion token that overlaps the first ``tag`` in the decoded text.

    Binary search over decoded prefixes (``tokenizer.decode``, special tokens kept, so the
    character offsets match the full decode): O(log T) decodes per completion.

    Returns:
        The index in ``[0, len(token_ids)]``; ``0`` when the text holds no ``tag`` (then every
        token counts as an answer token: the KL applies to all of an unformatted completion).
    """
    text = tokenizer.decode(token_ids, skip_special_tokens=False)
    pos = text.find(tag)
    if pos < 0:
        return 0
    lo, hi = 0, len(token_ids)  # smallest k with len(decode(ids[:k+1])) > pos
    while lo < hi:
        mid = (lo + hi) // 2
        if len(tokenizer.decode(token_ids[: mid + 1], skip_special_tokens=False)) > pos:
            hi = mid
        else:
            lo = mid + 1
    return lo


def answer_token_mask(completion_ids, completion_mask, tokenizer: Any, tag: str = ANSWER_TAG):
    """``(B, T)`` int mask: 1 on answer tokens (from the ``<answer>`` tag on), 0 on thinking
    tokens and padding.

    Args:
        completion_ids: ``(B, T)`` long tensor of sampled completion tokens.
        completion_mask: ``(B, T)`` 0/1 tensor of real (non-padding) tokens.
        tokenizer: the policy's tokenizer.
    """
    import torch

    mask = torch.zeros_like(completion_mask)
    for b in range(completion_ids.size(0)):
        n = int(completion_mask[b].sum().item())
        ids = completion_ids[b, :n].tolist()
        start = answer_start_index(ids, tokenizer, tag)
        mask[b, start:n] = 1
    return mask * completion_mask


def answer_only_reference_logps(ref_per_token_logps, per_token_logps, answer_mask):
    """Reference log-probs for an answer-only KL: ``ref`` on answer tokens, the policy's own
    detached log-probs elsewhere. TRL's k3 KL ``exp(r - p) - (r - p) - 1`` and its gradient
    ``1 - exp(r - p)`` are then exactly 0 on thinking tokens.

    Shapes: all ``(B, T)``; returns ``(B, T)`` float.
    """
    import torch

    return torch.where(answer_mask.bool(), ref_per_token_logps, per_token_logps.detach())


def per_token_kl(ref_per_token_logps, per_token_logps):
    """TRL GRPO's per-token KL estimate (k3): ``exp(ref - logp) - (ref - logp) - 1``, ``(B, T)``."""
    import torch

    delta = ref_per_token_logps - per_token_logps
    return torch.exp(delta) - delta - 1


class A2GRPOTrainer(GRPOTrainer):
    """TRL's ``GRPOTrainer`` with A²GRPO's answer-token KL (module docstring).

    Args:
        kl_tokens: ``"answer"`` (A²GRPO) or ``"all"`` (plain GRPO: nothing changes).
        *args, **kwargs: ``trl.GRPOTrainer``'s.
    """

    def __init__(self, *args: Any, kl_tokens: str = "answer", **kwargs: Any) -> None:
        if kl_tokens not in ("answer", "all"):
            raise ValueError(f"kl_tokens must be answer or all, got {kl_tokens!r}")
        super().__init__(*args, **kwargs)
        self.kl_tokens = kl_tokens

    def _kl_tokenizer(self) -> Any:
        return getattr(self.processing_class, "tokenizer", self.processing_class)

    def _generate_and_score_completions(self, inputs):  # noqa: ANN001 - TRL's signature
        output = super()._generate_and_score_completions(inputs)
        if self.kl_tokens == "answer":
            output["answer_token_mask"] = answer_token_mask(
                output["completion_ids"], output["completion_mask"], self._kl_tokenizer()
            )
        return output

    def _compute_loss(self, model, inputs):  # noqa: ANN001 - TRL's signature
        if self.kl_tokens != "answer" or self.beta == 0.0 or "answer_token_mask" not in inputs:
            return super()._compute_loss(model, inputs)
        inputs = dict(inputs)  # the rollout buffer is reused across iterations: never mutate it
        answer_mask = inputs["answer_token_mask"]
        reference = inputs["ref_per_token_logps"]
        compute = super()._get_per_token_logps_and_entropies
        mode = "train" if self.model.training else "eval"

        def anchored(*args: Any, **kwargs: Any):
            logps, entropies, aux = compute(*args, **kwargs)
            inputs["ref_per_token_logps"] = answer_only_reference_logps(
                reference, logps, answer_mask
            )
            kl = per_token_kl(reference, logps.detach())
            n_real = inputs["completion_mask"].sum()
            totals = self.accelerator.reduce(
                _stack((kl * answer_mask).sum(), answer_mask.sum(), n_real), reduction="sum"
            )
            self._metrics[mode]["kl_answer"].append((totals[0] / totals[1].clamp(min=1)).item())
            self._metrics[mode]["answer_token_share"].append(
                (totals[1] / totals[2].clamp(min=1)).item()
            )
            return logps, entropies, aux

        self._get_per_token_logps_and_entropies = anchored
        try:
            return super()._compute_loss(model, inputs)
        finally:
            del self._get_per_token_logps_and_entropies  # back to the class method


def _stack(*values):
    import torch

    return torch.stack([v.float() for v in values])

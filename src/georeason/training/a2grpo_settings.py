"""The ``a2grpo:`` section of a training config (GeoZero's A²GRPO, reconstructed)."""

from __future__ import annotations

from dataclasses import dataclass

from georeason.errors import UserInputError


@dataclass
class A2GRPOSettings:
    """A²GRPO (GeoZero, arXiv 2511.22645), reconstructed: its formulas are not public; every
    choice below is ours, read from the paper's framework figure and abstract ("the reasoning
    process is regularized by the model's own answers"). See :mod:`georeason.training.a2grpo`.

    Attributes:
        kl_tokens: ``"answer"`` (A²GRPO: the KL penalty to the reference model covers only the
            answer tokens, from ``<answer>`` on; the thinking is free to explore) or ``"all"``
            (TRL's GRPO). Needs ``grpo.beta > 0`` to matter.
        judge: who scores the thinking: ``"initial_policy"`` (a frozen copy of the policy as
            loaded: after SFT, GeoZero's own model judges its reasoning), ``"local"`` (another
            checkpoint, ``judge_model``), ``"http"`` (an OpenAI-compatible server,
            ``judge_url`` + ``judge_model``), or ``"answer_consistency"`` (no model: 1 when the
            normalised answer appears in the reasoning, a cheap anchor check).
        gate: ``"hard"`` (thinking reward = judge score if the answer reward reaches
            ``gate_threshold``, else 0) or ``"soft"`` (judge score x answer reward).
        gate_threshold: the answer reward that opens the hard gate (ours: 0.5, i.e. a correct
            class/VQA answer, IoU >= 0.5, a caption BLEU of 0.5).
        grounding_reward: ``"iou"`` (continuous) or ``"acc50"`` (1 if IoU >= 0.5).
        judge_model, judge_url, judge_max_pixels, judge_batch_size: the judge model's settings.
    """

    kl_tokens: str = "answer"
    judge: str = "initial_policy"
    gate: str = "hard"
    gate_threshold: float = 0.5
    grounding_reward: str = "iou"
    judge_model: str | None = None
    judge_url: str | None = None
    judge_max_pixels: int = 200_704
    judge_batch_size: int = 8

    def __post_init__(self) -> None:
        choices = {
            "kl_tokens": ("answer", "all"),
            "judge": ("initial_policy", "local", "http", "answer_consistency"),
            "gate": ("hard", "soft"),
            "grounding_reward": ("iou", "acc50"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise UserInputError(
                    f"a2grpo.{name} must be one of {allowed}, got {getattr(self, name)!r}"
                )
        if self.judge in ("local", "http") and not self.judge_model:
            raise UserInputError(f"a2grpo.judge {self.judge} needs a2grpo.judge_model")
        if self.judge == "http" and not self.judge_url:
            raise UserInputError("a2grpo.judge http needs a2grpo.judge_url")

"""GeoZero's rewards (arXiv 2511.22645): per-task answer reward, A²GRPO's gated thinking reward.

Both have TRL's reward signature ``f(prompts, completions, **columns) -> list[float]`` and read
the dataset columns of :mod:`georeason.training.geozero_data`: ``task_type``, ``solution`` (the
ground-truth answer text), ``refs`` (caption references) and ``image`` (for grounding's image
size).

Answer reward R_a, per task (the rules of GeoZero's evaluation script,
``single_infer_eval_qwen3vl_think.py``, turned into per-sample scores; the per-sample forms
are ours where the script only defines a corpus metric):

* ``scene_cls``: 1 if the normalised answer equals the normalised label, else 0;
* ``vqa``: 1 if one normalised string contains the other, else 0. Unlike the evaluation quirk
  (:func:`georeason.eval.geozero_rules.vqa_accuracy`), an **empty answer scores 0**: rewarding it
  would teach the policy to answer nothing;
* ``grounding``: IoU (or Acc@0.5 as 0/1) of the first predicted box, read in the policy's frame
  (:class:`FrameSpec`, the same conversion as at inference), with the label's box (original
  pixels), via :func:`georeason.geometry.box_iou_matrix`;
* ``caption``: sentence-level BLEU-4 (NLTK ``sentence_bleu``, all references, uniform weights,
  ``SmoothingFunction().method1``) on GeoZero's normalised, whitespace-split text. Why BLEU and
  not CIDEr-D: CIDEr's IDF weights need a corpus; computed per GRPO batch they would change with
  the batch and make the reward non-stationary, and a fixed corpus would tie the reward to one
  dataset. BLEU is per sentence, deterministic, and uses the same tokens as evaluation.

Answers are read with GeoZero's rule (the first non-empty ``<answer>`` block, else the whole
text) for the text tasks, and with georeason's parser for boxes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from georeason.eval.geozero_rules import (
    extract_answer_block,
    extract_box_numbers,
    loose_match,
    normalize_answer,
)
from georeason.geometry import box_iou_matrix
from georeason.parsing import parse_completion
from georeason.rewards._common import FrameSpec, column, completion_text, image_hw, log_metric


def caption_bleu4(prediction: str, references: Sequence[str]) -> float:
    """Sentence BLEU-4 of one caption against its references, on GeoZero-normalised tokens.

    NLTK ``sentence_bleu`` with weights (0.25,)*4 and ``SmoothingFunction().method1`` (the
    smoothing GeoZero's corpus BLEU uses). An empty prediction, or no non-empty reference,
    scores 0.

    Captions under four words have no 4-gram and get method1's smoothed (lower) precision.

    Examples:
        >>> caption_bleu4("a red roof on a house", ["A red roof on a house."])
        1.0
        >>> round(caption_bleu4("a red roof", ["A red roof."]), 4)
        0.5623
        >>> caption_bleu4("", ["a red roof"])
        0.0
    """
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    hyp = normalize_answer(prediction).split()
    refs = [normalize_answer(r).split() for r in references]
    refs = [r for r in refs if r]
    if not hyp or not refs:
        return 0.0
    smooth = SmoothingFunction().method1
    return float(sentence_bleu(refs, hyp, weights=(0.25,) * 4, smoothing_function=smooth))


def answer_score(
    task: str,
    completion: str,
    label: str,
    refs: Sequence[str] = (),
    image_size_hw: tuple[int, int] | None = None,
    frame: FrameSpec | None = None,
    grounding_reward: str = "iou",
) -> float:
    """GeoZero's answer reward R_a of one completion, in ``[0, 1]`` (rules in the module doc).

    Args:
        task: ``scene_cls``, ``vqa``, ``caption`` or ``grounding``.
        completion: the generated text.
        label: the ground-truth answer text (for grounding: four numbers, original pixels).
        refs: caption references (default ``[label]``).
        image_size_hw: ``(height, width)`` in pixels (grounding).
        frame: the policy's box frame (grounding).
        grounding_reward: ``"iou"`` or ``"acc50"``.

    Returns:
        The score; 0 for an unknown task, unreadable text or a label without one box. Never
        raises on model text.
    """
    answer = extract_answer_block(completion)
    if task == "scene_cls":
        return float(normalize_answer(answer) == normalize_answer(label) != "")
    if task == "vqa":
        pred = normalize_answer(answer)
        return float(pred != "" and loose_match(pred, normalize_answer(label)))
    if task == "caption":
        return caption_bleu4(answer, list(refs) or [label])
    if task == "grounding":
        gt = extract_box_numbers(label)
        if gt is None or len(gt) != 4 or image_size_hw is None or frame is None:
            return 0.0
        loc = frame.localize(completion, image_size_hw)
        if len(loc.boxes_xyxy_px) == 0:
            return 0.0
        first = np.asarray(loc.boxes_xyxy_px[:1], dtype=np.float64)
        iou = float(box_iou_matrix(np.asarray([gt], dtype=np.float64), first)[0, 0])
        return float(iou >= 0.5) if grounding_reward == "acc50" else iou
    return 0.0


class GeoZeroAnswerReward:
    """TRL reward function: :func:`answer_score` for each completion, routed by ``task_type``.

    Logs ``answer_reward/<task>`` (mean per task present in the batch). Picklable.

    Args:
        frame: the policy's :class:`FrameSpec` (for grounding boxes).
        grounding_reward: ``"iou"`` (default) or ``"acc50"``.
    """

    __name__ = "answer_reward"

    def __init__(self, frame: FrameSpec, grounding_reward: str = "iou") -> None:
        if grounding_reward not in ("iou", "acc50"):
            raise ValueError(f"grounding_reward must be iou or acc50, got {grounding_reward!r}")
        self.frame = frame
        self.grounding_reward = grounding_reward

    def scores(self, completions: Sequence[Any], kwargs: dict[str, Any]) -> list[float]:
        """The answer scores without logging (also used by the thinking reward's gate)."""
        n = len(completions)
        tasks = column(kwargs, "task_type", n)
        labels = column(kwargs, "solution", n)
        refs = kwargs.get("refs") or [()] * n
        images = kwargs.get("image") or [None] * n
        out = []
        for c, task, label, ref, image in zip(
            completions, tasks, labels, refs, images, strict=True
        ):
            hw = image_hw(image) if image is not None else None
            out.append(
                answer_score(
                    str(task),
                    completion_text(c),
                    str(label),
                    ref or (),
                    hw,
                    self.frame,
                    self.grounding_reward,
                )
            )
        return out

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **kwargs: Any
    ) -> list[float | None]:
        values = self.scores(completions, kwargs)
        tasks = [str(t) for t in column(kwargs, "task_type", len(completions))]
        for task in sorted(set(tasks)):
            vals = [v for v, t in zip(values, tasks, strict=True) if t == task]
            log_metric(kwargs, f"answer_reward/{task}", float(np.mean(vals)))
        return list(values)


class ThinkingJudge(Protocol):
    """Scores how well each reasoning supports its answer, in ``[0, 1]``."""

    def __call__(
        self,
        images: Sequence[Any],
        questions: Sequence[str],
        reasonings: Sequence[str],
        answers: Sequence[str],
    ) -> list[float]: ...


#: The judge question (ours): the full image goes before it.
THINKING_JUDGE_TEMPLATE = (
    "Question: {question}\nReasoning: {reasoning}\nAnswer: {answer}\n"
    "Looking at the image, does the reasoning correctly lead to the answer? Answer Yes or No."
)


def thinking_judge_text(question: str, reasoning: str, answer: str) -> str:
    """The judge's user text for one sample (:data:`THINKING_JUDGE_TEMPLATE`)."""
    return THINKING_JUDGE_TEMPLATE.format(
        question=question.strip(), reasoning=reasoning.strip(), answer=answer.strip()
    )


def _identity(text: str) -> str:
    return text


class VerifierThinkingJudge:
    """A yes/no model as thinking judge: P(yes) / (P(yes) + P(no)) on (full image, judge text).

    Args:
        verifier: a :class:`georeason.models.verifier_base.Verifier` whose prompt function
            passes the text through (``LocalVerifier(..., prompt_fn=...)`` /
            ``HTTPVerifier(prompt_fn=...)``): the judge text is built here.
    """

    def __init__(self, verifier: Any) -> None:
        self.verifier = verifier

    def __call__(self, images, questions, reasonings, answers) -> list[float]:  # noqa: ANN001
        texts = [
            thinking_judge_text(q, r, a)
            for q, r, a in zip(questions, reasonings, answers, strict=True)
        ]
        return [float(s) for s in self.verifier.score(list(images), texts)] if texts else []


def answer_consistency_judge(images, questions, reasonings, answers) -> list[float]:  # noqa: ANN001
    """No-model judge: 1.0 when the normalised answer appears in the normalised reasoning.

    A cheap reading of "reasoning regularised by the model's own answer" (ours): the thinking
    must arrive at the answer it gives. Empty reasoning or answer scores 0.

    Examples:
        >>> answer_consistency_judge([None], ["q"], ["Rows of trees: a forest."], ["Forest"])
        [1.0]
    """
    out = []
    for r, a in zip(reasonings, answers, strict=True):
        nr, na = normalize_answer(r), normalize_answer(a)
        out.append(float(bool(nr) and bool(na) and na in nr))
    return out


def _question(prompt: Any) -> str:
    """The last user text of a chat prompt (or the prompt itself)."""
    if isinstance(prompt, str):
        return prompt
    for message in reversed(list(prompt or [])):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return " ".join(
                str(p.get("text", "")) for p in content or [] if isinstance(p, dict)
            ).strip()
    return ""


class ThinkingReward:
    """A²GRPO's thinking reward R_t, gated by the answer reward (reconstructed; see
    :mod:`georeason.training.a2grpo`).

    ``hard`` gate: R_t = judge(image, question, reasoning, answer) if R_a >= ``threshold``,
    else 0 (the judge is only called for the open ones); ``soft``: R_t = R_a x judge(...).
    A completion without reasoning (no ``<think>`` text) gets 0. Logs ``thinking_reward/judge``
    (mean judge score over the judged completions) and ``thinking_reward/gate_open`` (share
    of completions whose gate was open).

    Args:
        answer_reward: the :class:`GeoZeroAnswerReward` whose scores gate this one.
        judge: a :class:`ThinkingJudge`.
        gate: ``"hard"`` or ``"soft"``.
        threshold: the hard gate's answer score (ours: 0.5).
    """

    __name__ = "thinking_reward"

    def __init__(
        self,
        answer_reward: GeoZeroAnswerReward,
        judge: ThinkingJudge | Callable[..., list[float]],
        gate: str = "hard",
        threshold: float = 0.5,
    ) -> None:
        if gate not in ("hard", "soft"):
            raise ValueError(f"gate must be hard or soft, got {gate!r}")
        self.answer_reward = answer_reward
        self.judge = judge
        self.gate = gate
        self.threshold = float(threshold)

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **kwargs: Any
    ) -> list[float | None]:
        n = len(completions)
        answers = self.answer_reward.scores(completions, kwargs)
        texts = [completion_text(c) for c in completions]
        reasonings = [parse_completion(t).reasoning for t in texts]
        weights = [
            (1.0 if a >= self.threshold else 0.0) if self.gate == "hard" else a for a in answers
        ]
        todo = [i for i in range(n) if weights[i] > 0 and reasonings[i]]
        prompts = list(prompts) if prompts is not None else [""] * n
        images = kwargs.get("image") or [None] * n
        scores = (
            self.judge(
                [images[i] for i in todo],
                [_question(prompts[i]) for i in todo],
                [reasonings[i] for i in todo],
                [extract_answer_block(texts[i]) for i in todo],
            )
            if todo
            else []
        )
        out = [0.0] * n
        for i, s in zip(todo, scores, strict=True):
            out[i] = weights[i] * float(min(1.0, max(0.0, s)))
        if n:
            log_metric(kwargs, "thinking_reward/gate_open", sum(w > 0 for w in weights) / n)
        if scores:
            log_metric(kwargs, "thinking_reward/judge", float(np.mean(scores)))
        return list(out)

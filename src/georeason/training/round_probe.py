"""Measurements after a self-evolution round: the verifier's scores on fixed probe crops and
the policy's Acc@0.5 / gIoU on a labelled set."""

from __future__ import annotations

import gc
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from georeason.errors import UserInputError
from georeason.training.config import TrainConfig
from georeason.verifier_inputs import score_views

if TYPE_CHECKING:
    from georeason.serving.policy_client import ServedPolicy

#: Probe boxes as fractions of the image (x1, y1, x2, y2): four quadrants and the centre half
#: (ours: fixed, label-free crops on which successive verifiers are compared).
PROBE_BOXES: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 0.0, 0.5, 0.5),
    (0.5, 0.0, 1.0, 0.5),
    (0.0, 0.5, 0.5, 1.0),
    (0.5, 0.5, 1.0, 1.0),
    (0.25, 0.25, 0.75, 0.75),
)


@dataclass
class EvalSettings:
    """Optional evaluation after each round (region task: Acc@0.5 and gIoU).

    Attributes:
        dataset: a :func:`georeason.eval.datasets.build_dataset` name (``jsonl``, ...).
        root: dataset folder (None with ``jsonl``: the bundled ``rs-samples``).
        split: dataset split.
        limit: evaluate the first N samples only.
        max_new_tokens: generation budget of the policy.
        batch_size: generation batch.
        policy_url: evaluate each round's policy behind this OpenAI-compatible server
            (``http://HOST:PORT/v1``) instead of in-process (None).
        served_model: how the server gets the round's weights. ``"path"``: the request names
            the round's full model folder, ``ROUND/merged`` (written from the LoRA adapter
            when the round has none), which ``transformers serve`` loads on first use.
            ``"lora"``: the round's adapter is registered with vLLM's runtime LoRA API
            (``POST {policy_url}/load_lora_adapter``; start ``vllm serve BASE --enable-lora``
            with ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``) under the name ``RUN-ROUND``; only
            for adapters trained on the served base (not with ``carry: merge`` after round 1).
        model_family: the box frame (``qwen2_5_vl`` / ``qwen3_vl``); None: read from the
            base checkpoint's ``config.json``.
        concurrency: requests in flight at once.
    """

    dataset: str = "jsonl"
    root: str | None = None
    split: str = "test"
    limit: int | None = None
    max_new_tokens: int = 512
    batch_size: int = 4
    policy_url: str | None = None
    served_model: str = "path"
    model_family: str | None = None
    concurrency: int = 8

    def __post_init__(self) -> None:
        if self.served_model not in ("path", "lora"):
            raise UserInputError(
                f"evolve.eval.served_model must be path or lora, got {self.served_model!r}"
            )
        if self.concurrency < 1:
            raise UserInputError(
                f"evolve.eval.concurrency must be at least 1, got {self.concurrency}"
            )


def probe_pairs(cfg: TrainConfig, n_records: int) -> tuple[list[Any], list[str]]:
    """The fixed probe set: for the first ``n_records`` training records, the verifier views
    (``verifier.input``, ``verifier.margin_ratio``) of :data:`PROBE_BOXES`, each with the
    record's query.

    Returns:
        ``(views, queries)``: tuples of RGB PIL images
        (:func:`georeason.verifier_inputs.verifier_images`) and strings, ``n_records * 5`` of each.
    """
    from georeason.io import read_image
    from georeason.training.data import read_records
    from georeason.verifier_inputs import verifier_images

    records, root = read_records(cfg.data)
    views, queries = [], []
    for rec in records[:n_records]:
        path = Path(str(rec["image"])).expanduser()
        image = read_image(path if path.is_absolute() else root / path).pil()
        w, h = image.size
        for fx1, fy1, fx2, fy2 in PROBE_BOXES:
            box = [fx1 * w, fy1 * h, fx2 * w, fy2 * h]
            views.append(verifier_images(image, box, cfg.verifier.input, cfg.verifier.margin_ratio))
            queries.append(str(rec["query"]))
    return views, queries


def standalone_verifier(cfg: TrainConfig):
    """The round's verifier as a separate object (for the probe): ``shared_base`` is loaded as
    ``LocalVerifier.from_pretrained(model, adapter)`` (same scores, tested), the other kinds
    via :func:`georeason.training.scorers.build_verifier`."""
    from georeason.models.spec import resolve_model
    from georeason.models.verifier import LocalVerifier
    from georeason.training.scorers import _device_for_verifier, build_verifier

    vc = cfg.verifier
    if vc.kind != "shared_base":
        return build_verifier(cfg, resolve_model(cfg.model))
    return LocalVerifier.from_pretrained(
        resolve_model(cfg.model),
        adapter=vc.adapter,
        max_pixels=vc.max_pixels,
        batch_size=vc.batch_size,
        device=_device_for_verifier(cfg),
        dtype=cfg.dtype,
    )


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def probe_scores(cfg: TrainConfig, n_records: int) -> list[float]:
    """The round's verifier's confidences on the probe set (empty if ``n_records`` is 0)."""
    if n_records <= 0:
        return []
    views, queries = probe_pairs(cfg, n_records)
    verifier = standalone_verifier(cfg)
    try:
        return [float(s) for s in score_views(verifier, views, queries, cfg.verifier.input)]
    finally:
        del verifier
        free_memory()


def evaluate_round(cfg: TrainConfig, adapter_dir: Path, settings: EvalSettings) -> dict[str, Any]:
    """Acc@0.5 and gIoU (percent, :mod:`georeason.eval.metrics`) of the round's policy
    (``cfg.model`` + ``adapter_dir``) on the labelled set, region task, greedy decoding.
    Results go to ``ROUND/eval/`` (resumable like ``georeason eval``).

    Returns:
        ``{"dataset", "n_samples", "box_Acc@0.5", "box_gIoU"}``.
    """
    from georeason.eval.datasets import build_dataset
    from georeason.eval.runner import PolicyPredictor, evaluate
    from georeason.models.policy import Policy
    from georeason.models.spec import resolve_model

    root = settings.root
    if root is None:
        if settings.dataset != "jsonl":
            raise UserInputError(f"evolve.eval.root is required for dataset {settings.dataset}")
        from georeason.data import SAMPLES_DIR

        root = str(SAMPLES_DIR)
    dataset = build_dataset(settings.dataset, root, settings.split)
    if settings.policy_url:
        policy = served_round_policy(cfg, adapter_dir, settings)
        source: dict[str, Any] = {}  # the predictor records "MODEL @ URL" itself
    else:
        policy = Policy.from_pretrained(
            resolve_model(cfg.model),
            adapter=adapter_dir,
            max_pixels=cfg.max_pixels,
            dtype=cfg.dtype,
            prompt_template=cfg.prompt_template,
        )
        source = {"adapter": str(adapter_dir)}
    try:
        predictor = PolicyPredictor(
            policy, None, settings.max_new_tokens, settings.batch_size, source
        )
        result = evaluate(
            dataset,
            predictor,
            "region",
            adapter_dir / "eval",
            batch_size=settings.batch_size,
            limit=settings.limit,
            progress=False,
        )
    finally:
        del policy
        free_memory()
    return {
        "dataset": settings.dataset,
        "n_samples": result.counts["samples"],
        "box_Acc@0.5": result.metrics.get("box_Acc@0.5"),
        "box_gIoU": result.metrics.get("box_gIoU"),
    }


def served_round_policy(
    cfg: TrainConfig, adapter_dir: Path, settings: EvalSettings
) -> ServedPolicy:
    """The round's policy behind ``settings.policy_url`` (a
    :class:`georeason.serving.policy_client.ServedPolicy`); see :class:`EvalSettings` for the
    two ways the server gets the weights.

    Raises:
        UserInputError: ``served_model: lora`` for an adapter trained on merged weights (the
            round's base model is a ``merged`` folder, evolve's layout for ``carry: merge``:
            ``PREV_ROUND/merged``), or a base model whose family cannot be told.
        ServerUnavailableError / ServerResponseError: the server is down or refuses the adapter.
        ModelLoadError: the base checkpoint cannot be read.
    """
    from georeason.models.loading import read_arch
    from georeason.models.spec import resolve_model
    from georeason.serving.openai_chat import load_lora_adapter
    from georeason.serving.policy_client import ServedPolicy, model_family_of
    from georeason.training.trainer import merge_adapter

    base = resolve_model(cfg.model)
    adapter_dir = Path(adapter_dir).resolve()
    if settings.served_model == "lora" and Path(base).name == "merged":
        raise UserInputError(
            f"evolve.eval.served_model lora: {adapter_dir} was trained on merged weights "
            f"({base}), not on the served base model; use served_model: path"
        )
    if settings.model_family:
        family = model_family_of(base, settings.model_family)
    elif (Path(base) / "config.json").is_file():
        family = read_arch(base)
    else:  # a hub id names its family
        family = model_family_of(base)
    if settings.served_model == "lora":
        name = f"{adapter_dir.parent.name}-{adapter_dir.name}"
        load_lora_adapter(settings.policy_url, name, str(adapter_dir))
    else:
        merged = adapter_dir / "merged"
        if not (merged / "config.json").is_file():
            tmp = adapter_dir / "merged.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            merge_adapter(cfg.model, adapter_dir, tmp, dtype=cfg.dtype)
            shutil.rmtree(merged, ignore_errors=True)
            tmp.rename(merged)
        name = str(merged)
    return ServedPolicy(
        settings.policy_url,
        name,
        model_family=family,
        max_pixels=cfg.max_pixels,
        prompt_template=cfg.prompt_template,
        concurrency=settings.concurrency,
    )


# --- progress -----------------------------------------------------------------------------------

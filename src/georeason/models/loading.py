"""Load a Qwen2.5-VL or Qwen3-VL checkpoint (hub id or local folder) with its processor.

One code path for real checkpoints and the tiny random ones of :mod:`georeason.models.tiny`.

The processors are the image-only ones of :mod:`georeason.models.processors` (no video
processor, so no torchvision; registered for ``AutoProcessor``). The image processor is the PIL
backend (``Qwen2VLImageProcessorPil``).

Frames: Qwen2.5-VL answers boxes in pixels of the resized model input (``"resized_px"``);
Qwen3-VL in 0..1000 normalised coordinates (``"norm1000"``); see :mod:`georeason.geometry`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from georeason.errors import ModelLoadError
from georeason.geometry import ModelFrame
from georeason.models.processors import (
    FACTOR_BY_ARCH,
    FRAME_BY_ARCH,
    MARKER_FILE,
    MARKER_KEY,
    ImageOnlyQwen2_5_VLProcessor,
    ImageOnlyQwen3VLProcessor,
    Weights,
    processor_class_for,
)
from georeason.models.spec import TINY_PREFIX, resolve_model

__all__ = [
    "FACTOR_BY_ARCH",
    "FRAME_BY_ARCH",
    "MARKER_FILE",
    "MARKER_KEY",
    "ImageOnlyQwen2_5_VLProcessor",
    "ImageOnlyQwen3VLProcessor",
    "LoadedModel",
    "Weights",
    "load_model_and_processor",
    "processor_class_for",
]


@dataclass
class LoadedModel:
    """A model ready for inference.

    Attributes:
        model: the ``*ForConditionalGeneration`` module (a ``peft.PeftModel`` if an adapter was
            loaded), in eval mode, on ``device``.
        processor: an image-only Qwen-VL processor (tokenizer padding side left).
        arch: ``config.model_type``: ``"qwen2_5_vl"`` or ``"qwen3_vl"``.
        frame: ``"resized_px"`` (Qwen2.5-VL) or ``"norm1000"`` (Qwen3-VL).
        weights: ``"random"`` for folders written by ``georeason make-tiny``, else ``"pretrained"``.
        model_name: the id or folder it was loaded from.
        adapter: the LoRA adapter folder, or None.
    """

    model: Any
    processor: Any
    arch: str
    frame: ModelFrame
    weights: Weights
    model_name: str
    adapter: str | None = None

    @property
    def device(self):  # -> torch.device
        return next(self.model.parameters()).device


def _is_local(name: str) -> bool:
    return os.path.isabs(name) or name.startswith((".", "~")) or os.path.exists(name)


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def resolve_checkpoint(model: str | os.PathLike) -> Path:
    """Find the checkpoint folder of a local path or a hub id.

    A hub id is looked up in the local Hugging Face cache first. If it is not cached and
    ``HF_HUB_OFFLINE`` is set, this fails at once; otherwise one ``snapshot_download`` is tried
    (``etag_timeout`` 10 s; an unreachable hub fails in well under a second here, measured).

    Args:
        model: a folder with ``config.json``, a hub id such as ``"Qwen/Qwen2.5-VL-7B-Instruct"``,
            or ``tiny:ARCH[:SEED]`` (a tiny random model built on first use, see
            :mod:`georeason.models.spec`).

    Returns:
        The folder holding ``config.json``.

    Raises:
        ModelLoadError: one line saying what is missing and what to do.
    """
    name = os.fspath(model)
    if name.startswith(TINY_PREFIX):
        name = resolve_model(name)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path} has no config.json: not a transformers model folder")
        return path
    if _is_local(name) or name.count("/") > 1 or not name.strip():
        raise ModelLoadError(
            f"model folder {name!r} does not exist; pass an existing folder or a hub id "
            "(build a random test model with `georeason make-tiny OUT_DIR`)"
        )
    from huggingface_hub import snapshot_download

    hint = (
        "download it on a machine with internet (`hf download ID`) and pass the folder, "
        "or build a random test model with `georeason make-tiny OUT_DIR`"
    )
    try:
        folder = snapshot_download(name, local_files_only=True)
        return Path(folder)
    except Exception:  # noqa: BLE001 - not cached; try the hub unless offline
        pass
    if _hub_offline():
        raise ModelLoadError(
            f"{name!r} is not in the local cache and HF_HUB_OFFLINE is set; {hint}"
        )
    try:
        folder = snapshot_download(
            name,
            allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.py"],
            etag_timeout=10,
        )
    except Exception as exc:  # noqa: BLE001 - network, 404, auth: one actionable line
        raise ModelLoadError(
            f"cannot get {name!r} from the Hugging Face hub ({type(exc).__name__}); {hint}"
        ) from exc
    return Path(folder)


def read_arch(folder: str | os.PathLike) -> str:
    """``model_type`` of a checkpoint folder's ``config.json``.

    Raises:
        ModelLoadError: if the config is unreadable or the architecture unsupported.
    """
    cfg_path = Path(folder) / "config.json"
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {cfg_path}: {exc}") from exc
    arch = cfg.get("model_type")
    if arch not in FRAME_BY_ARCH:
        raise ModelLoadError(
            f"{folder}: model_type {arch!r} is not supported; georeason supports Qwen2.5-VL "
            "(qwen2_5_vl) and Qwen3-VL (qwen3_vl) checkpoints"
        )
    return arch


def read_weights_kind(folder: str | os.PathLike) -> Weights:
    """``"random"`` if the folder carries the make-tiny marker, else ``"pretrained"``."""
    marker = Path(folder) / MARKER_FILE
    if marker.is_file():
        try:
            if json.loads(marker.read_text(encoding="utf-8")).get(MARKER_KEY):
                return "random"
        except (OSError, ValueError):
            pass
    return "pretrained"


def weights_kind_of(model) -> Weights:
    """``"random"`` or ``"pretrained"`` for an already loaded model (via its source folder's
    marker, ``config.name_or_path``); ``"pretrained"`` when the source is unknown."""
    name = getattr(getattr(model, "config", None), "name_or_path", "") or ""
    return read_weights_kind(name) if name and Path(name).is_dir() else "pretrained"


def load_processor(
    model: str | os.PathLike,
    max_pixels: int | None = None,
    min_pixels: int | None = None,
):
    """Load the image-only processor of a checkpoint; tokenizer padding side set to left.

    Args:
        model: folder or hub id.
        max_pixels, min_pixels: pixel budget of the image processor (``None`` keeps the
            checkpoint's). The papers use ``max_pixels=802_816``.

    Returns:
        An :class:`ImageOnlyQwen2_5_VLProcessor` or :class:`ImageOnlyQwen3VLProcessor`.

    Raises:
        ModelLoadError: missing folder, unsupported architecture, unreadable processor files.
    """
    folder = resolve_checkpoint(model)
    arch = read_arch(folder)
    cls = processor_class_for(arch)
    try:
        processor = cls.from_pretrained(str(folder))
    except Exception as exc:  # noqa: BLE001 - corrupt/missing tokenizer or preprocessor files
        raise ModelLoadError(f"cannot load the processor of {folder}: {exc}") from exc
    set_pixel_budget(processor, max_pixels=max_pixels, min_pixels=min_pixels)
    processor.tokenizer.padding_side = "left"
    if processor.tokenizer.pad_token is None:
        processor.tokenizer.pad_token = "<|endoftext|>"
    return processor


def set_pixel_budget(processor, max_pixels: int | None = None, min_pixels: int | None = None):
    """Set the image processor's pixel budget in place (``size`` longest/shortest edge = pixels).

    ``None`` keeps the current bound. If only ``max_pixels`` is given and it is below the current
    minimum, the minimum is lowered to it (so a small budget never contradicts the checkpoint's
    minimum, e.g. Qwen3-VL's 65,536).

    Returns:
        The processor.

    Raises:
        ValueError: if a value is not positive or an explicit ``min_pixels > max_pixels``.
    """
    ip = processor.image_processor
    ip.size = type(ip.size)(**pixel_budget(ip.size, max_pixels=max_pixels, min_pixels=min_pixels))
    return processor


def pixel_budget(size, max_pixels: int | None = None, min_pixels: int | None = None) -> dict:
    """``{"longest_edge": max, "shortest_edge": min}`` (pixels) from a current ``size`` and
    overrides; see :func:`set_pixel_budget` for the rules.

    Raises:
        ValueError: if a value is not positive or an explicit ``min_pixels > max_pixels``.
    """
    for name, value in (("max_pixels", max_pixels), ("min_pixels", min_pixels)):
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    longest = int(max_pixels if max_pixels is not None else size["longest_edge"])
    shortest = int(min_pixels if min_pixels is not None else size["shortest_edge"])
    if shortest > longest:
        if min_pixels is not None:
            raise ValueError(f"min_pixels {shortest} > max_pixels {longest}")
        shortest = longest
    return {"longest_edge": longest, "shortest_edge": shortest}


def _model_class(arch: str):
    if arch == "qwen2_5_vl":
        from transformers import Qwen2_5_VLForConditionalGeneration

        return Qwen2_5_VLForConditionalGeneration
    from transformers import Qwen3VLForConditionalGeneration

    return Qwen3VLForConditionalGeneration


def _resolve_dtype(dtype, device):  # -> torch.dtype
    import torch

    if dtype is None:
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    if isinstance(dtype, str):
        try:
            return getattr(torch, dtype)
        except AttributeError:
            raise ValueError(f"unknown torch dtype {dtype!r}") from None
    return dtype


def checkpoint_dtype(folder: str | os.PathLike) -> str | None:
    """The dtype a checkpoint folder was saved in (``config.json``'s ``dtype``, or the older
    ``torch_dtype``, or the text config's), e.g. ``"bfloat16"``; None if it says none or the
    folder is not local."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        return None
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for c in (cfg, cfg.get("text_config") or {}):
        value = c.get("dtype") or c.get("torch_dtype")
        if isinstance(value, str):
            return value
    return None


def default_device() -> str:
    """``"cuda:LOCAL_RANK"`` when a GPU is visible (``LOCAL_RANK`` = this process's GPU under
    ``accelerate launch``/``torchrun``, 0 otherwise), else ``"cpu"``."""
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"


def load_model_and_processor(
    model: str | os.PathLike,
    adapter: str | os.PathLike | None = None,
    max_pixels: int | None = None,
    min_pixels: int | None = None,
    device: str | None = None,
    dtype=None,
) -> LoadedModel:
    """Load a Qwen2.5-VL / Qwen3-VL model, its image-only processor and optionally a LoRA adapter.

    Args:
        model: a folder with ``config.json`` (e.g. from ``georeason make-tiny``) or a hub id.
        adapter: folder of a peft LoRA adapter to apply on top (not merged), or None.
        max_pixels, min_pixels: processor pixel budget (``None`` keeps the checkpoint's).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default: cuda if available.
        dtype: torch dtype or its name; default bfloat16 on GPU, float32 on CPU (ours).

    Returns:
        A :class:`LoadedModel` in eval mode.

    Raises:
        ModelLoadError: missing folder, unknown hub id, offline hub, unsupported architecture,
            unreadable weights, missing or incompatible adapter.
    """
    folder = resolve_checkpoint(model)
    arch = read_arch(folder)
    processor = load_processor(folder, max_pixels=max_pixels, min_pixels=min_pixels)
    device = device or default_device()
    torch_dtype = _resolve_dtype(dtype, device)
    try:
        net = _model_class(arch).from_pretrained(str(folder), dtype=torch_dtype)
    except Exception as exc:  # noqa: BLE001 - weights missing / corrupt / OOM
        raise ModelLoadError(f"cannot load the weights of {folder}: {exc}") from exc
    adapter_str = None
    if adapter is not None:
        net = load_adapter(net, adapter)
        adapter_str = os.fspath(adapter)
    net = net.to(device).eval()
    return LoadedModel(
        model=net,
        processor=processor,
        arch=arch,
        frame=FRAME_BY_ARCH[arch],
        weights=read_weights_kind(folder),
        model_name=os.fspath(model),
        adapter=adapter_str,
    )


def load_adapter(model, adapter: str | os.PathLike, adapter_name: str = "default"):
    """Wrap ``model`` with a saved peft adapter (inference mode, not merged).

    Returns:
        A ``peft.PeftModel``.

    Raises:
        ModelLoadError: if peft is missing, the folder has no ``adapter_config.json``, or the
            adapter does not fit the model.
    """
    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise ModelLoadError(f"adapter folder {path} has no adapter_config.json (a peft adapter)")
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise ModelLoadError(
            "loading an adapter needs peft: pip install 'georeason[train]'"
        ) from exc
    try:
        return PeftModel.from_pretrained(model, str(path), adapter_name=adapter_name)
    except Exception as exc:  # noqa: BLE001 - shape mismatch, wrong base model
        raise ModelLoadError(f"cannot apply adapter {path} to this model: {exc}") from exc

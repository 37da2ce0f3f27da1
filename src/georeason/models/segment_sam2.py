"""SAM2 box -> mask, prompted as in RemoteReasoner's inference workflow.

RemoteReasoner (Yao et al., 2025, inference): each predicted box, together with its centre point
as a positive click, prompts SAM2; one mask per box (``multimask_output=False``).

Input preparation follows transformers' ``Sam2ImageProcessor`` / ``Sam2Processor`` (which need
torchvision and so cannot be used here), read from ``transformers/models/sam2``:

* the image is resized to ``image_size x image_size`` (bilinear **with antialiasing**, aspect
  ratio *not* kept, no padding - SAM2 differs from SAM here; SAM2's own ``SAM2Transforms`` use
  torchvision's ``Resize`` on tensors, whose antialias default is True, i.e.
  ``torch.nn.functional.interpolate(..., mode="bilinear", antialias=True)``, which we call
  directly), rescaled by 1/255 and normalised with the processor's
  mean/std (``preprocessor_config.json`` of the checkpoint when present, else ImageNet's, which
  is what all SAM2 checkpoints use);
* box and point coordinates are scaled by ``image_size / W`` in x and ``image_size / H`` in y
  (``Sam2Processor._normalize_coordinates``); the model itself adds the half-pixel shift;
* the low-resolution mask logits are resized bilinearly (``align_corners=False``) to the original
  ``(H, W)`` and thresholded at 0 (``Sam2ImageProcessor.post_process_masks``).

Image embeddings are computed once per image; boxes are then decoded in chunks.
SAM2 masks are *not* clipped to their box by default (as in RemoteReasoner): SAM may complete
an object that the box cuts. Pass ``clip_to_box=True`` to clip.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from georeason.errors import ModelLoadError
from georeason.geometry import as_boxes_xyxy
from georeason.masks import box_to_mask
from georeason.models.segment_base import check_rgb as _check_rgb

#: ImageNet mean/std, the SAM2 processor defaults (``IMAGENET_DEFAULT_MEAN/STD``).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Boxes decoded per mask-decoder call (ours: bounds memory for images with hundreds of boxes).
BOX_CHUNK = 64
#: File written next to random-weight test models so that their outputs can be labelled.
RANDOM_WEIGHTS_MARKER = "georeason_random_weights.json"


def sam2_resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """SAM2's input resize: ``(H, W, 3)`` uint8 -> ``(size, size, 3)`` float32 in 0..255.

    Bilinear with antialiasing, ``align_corners=False`` (torchvision ``Resize`` on a tensor, as
    SAM2's ``sam2/utils/transforms.py`` applies it; torchvision calls this same
    ``torch.nn.functional.interpolate``). Downscaling averages over the source footprint
    instead of sampling 4 pixels, so thin structures do not alias.
    """
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()  # (1,3,H,W)
    y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return y[0].permute(1, 2, 0).numpy().astype(np.float32)


class Sam2Segmenter:
    """Box (+ centre point) prompted SAM2, one mask per box.

    Attributes:
        name: ``"sam2"``, or ``"sam2-random-weights"`` for test models built by
            :func:`make_tiny_sam2` (their masks are meaningless).
        random_weights: True for such test models.
    """

    def __init__(
        self,
        model,
        image_size: int,
        image_mean: tuple[float, float, float] = IMAGENET_MEAN,
        image_std: tuple[float, float, float] = IMAGENET_STD,
        device: str | None = None,
        random_weights: bool = False,
        clip_to_box: bool = False,
    ) -> None:
        import torch

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.image_size = int(image_size)
        self.image_mean = np.asarray(image_mean, dtype=np.float32)
        self.image_std = np.asarray(image_std, dtype=np.float32)
        self.random_weights = bool(random_weights)
        self.clip_to_box = bool(clip_to_box)
        self.name = "sam2-random-weights" if random_weights else "sam2"

    @classmethod
    def from_pretrained(
        cls, checkpoint: str, device: str | None = None, clip_to_box: bool = False
    ) -> Sam2Segmenter:
        """Load a transformers ``Sam2Model`` from a local directory or a hub id.

        Raises:
            ModelLoadError: (one line) the checkpoint is missing, unreachable or not SAM2.
        """
        from transformers import Sam2Model

        from georeason.models.loading import resolve_checkpoint

        try:  # cache first; fails fast and clearly offline
            local = resolve_checkpoint(checkpoint)
        except ModelLoadError as exc:
            raise ModelLoadError(f"cannot load SAM2 checkpoint {checkpoint!r}: {exc}") from None
        try:
            model = Sam2Model.from_pretrained(local)
        except Exception as exc:  # transformers raises OSError/ValueError/... by cause
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelLoadError(f"cannot load SAM2 checkpoint {checkpoint!r}: {first}") from exc
        mean, std = IMAGENET_MEAN, IMAGENET_STD
        pre = local / "preprocessor_config.json"
        if pre.is_file():
            cfg = json.loads(pre.read_text(encoding="utf-8"))
            mean = tuple(cfg.get("image_mean", mean))
            std = tuple(cfg.get("image_std", std))
        return cls(
            model,
            image_size=int(model.config.prompt_encoder_config.image_size),
            image_mean=mean,
            image_std=std,
            device=device,
            random_weights=(local / RANDOM_WEIGHTS_MARKER).is_file(),
            clip_to_box=clip_to_box,
        )

    def _pixel_values(self, rgb: np.ndarray):
        """``(H, W, 3)`` uint8 -> ``(1, 3, S, S)`` float32 normalised tensor on the device."""
        import torch

        s = self.image_size
        resized = sam2_resize(rgb, s)  # (S, S, 3) float32, 0..255
        norm = (resized / 255.0 - self.image_mean) / self.image_std  # (S, S, 3)
        return torch.from_numpy(norm.transpose(2, 0, 1).copy())[None].to(self.device)

    def segment(self, rgb: np.ndarray, boxes_xyxy_px: np.ndarray) -> list[np.ndarray]:
        """One SAM2 mask per box.

        Args:
            rgb: ``(H, W, 3)`` uint8 image.
            boxes_xyxy_px: ``(N, 4)`` xyxy boxes in original-image pixels.

        Returns:
            N ``(H, W)`` bool masks in box order (not clipped to the box unless
            ``clip_to_box``).

        Raises:
            ValueError: if ``rgb`` is not an ``(H, W, 3)`` uint8 array.
        """
        import torch
        import torch.nn.functional as F

        _check_rgb(rgb)
        boxes = as_boxes_xyxy(boxes_xyxy_px)
        if len(boxes) == 0:
            return []
        h, w = rgb.shape[:2]
        s = self.image_size
        scale = np.array([s / w, s / h, s / w, s / h])
        boxes_in = boxes * scale  # (N, 4) in the model's S x S frame
        centres = np.stack(
            [(boxes_in[:, 0] + boxes_in[:, 2]) / 2, (boxes_in[:, 1] + boxes_in[:, 3]) / 2], axis=1
        )  # (N, 2)
        dtype = next(self.model.parameters()).dtype
        out: list[np.ndarray] = []
        with torch.inference_mode():
            embeddings = self.model.get_image_embeddings(self._pixel_values(rgb).to(dtype))
            for start in range(0, len(boxes), BOX_CHUNK):
                sl = slice(start, start + BOX_CHUNK)
                n = len(boxes_in[sl])
                pts = torch.tensor(centres[sl], dtype=dtype, device=self.device)
                pts = pts.view(1, n, 1, 2)  # (batch, point_batch, points, xy)
                labels = torch.ones(1, n, 1, dtype=torch.long, device=self.device)
                bxs = torch.tensor(boxes_in[sl], dtype=dtype, device=self.device)[None]  # (1, n, 4)
                result = self.model(
                    image_embeddings=embeddings,
                    input_points=pts,
                    input_labels=labels,
                    input_boxes=bxs,
                    multimask_output=False,
                )
                logits = result.pred_masks[0, :, 0].float()  # (n, h_low, w_low)
                for i in range(n):  # one at a time: n full-size float maps may not fit
                    full = F.interpolate(
                        logits[i][None, None], size=(h, w), mode="bilinear", align_corners=False
                    )[0, 0]  # (H, W)
                    out.append((full > 0.0).cpu().numpy())
        if self.clip_to_box:
            out = [m & box_to_mask(b, h, w) for m, b in zip(out, boxes, strict=True)]
        return out


def tiny_sam2_config():
    """A tiny random ``Sam2Config`` (128 px input, ~0.35 M parameters) for offline tests."""
    from transformers import Sam2Config

    return Sam2Config(
        vision_config={
            "backbone_config": {
                "model_type": "sam2_hiera_det_model",
                "image_size": [128, 128],
                "hidden_size": 16,
                "blocks_per_stage": [1, 1, 2, 1],
                "embed_dim_per_stage": [16, 32, 64, 128],
                "num_attention_heads_per_stage": [1, 1, 2, 2],
                "window_size_per_stage": [4, 4, 4, 4],
                # Global attention only in a block without query pooling (the 2nd of stage 3).
                "global_attention_blocks": [3],
                "window_positional_embedding_background_size": [4, 4],
            },
            "backbone_channel_list": [128, 64, 32, 16],
            "backbone_feature_sizes": [[32, 32], [16, 16], [8, 8]],
            "fpn_hidden_size": 32,
        },
        prompt_encoder_config={
            "hidden_size": 32,
            "image_size": 128,
            "patch_size": 16,
            "mask_input_channels": 4,
        },
        mask_decoder_config={
            "hidden_size": 32,
            "mlp_dim": 64,
            "num_attention_heads": 2,
            "iou_head_hidden_dim": 32,
        },
    )


def make_tiny_sam2(out_dir: str | Path, seed: int = 0) -> Path:
    """Save a tiny random-weight ``Sam2Model`` checkpoint (weights random, marked as such).

    Writes the model, a ``preprocessor_config.json`` with the ImageNet mean/std, and
    :data:`RANDOM_WEIGHTS_MARKER`, so :meth:`Sam2Segmenter.from_pretrained` labels its outputs
    ``"sam2-random-weights"``. Returns the directory.
    """
    import torch
    from transformers import Sam2Model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    Sam2Model(tiny_sam2_config()).save_pretrained(out)
    pre = {"image_mean": list(IMAGENET_MEAN), "image_std": list(IMAGENET_STD), "size": 128}
    (out / "preprocessor_config.json").write_text(json.dumps(pre), encoding="utf-8")
    (out / RANDOM_WEIGHTS_MARKER).write_text(
        json.dumps({"weights": "random", "purpose": "offline tests only"}), encoding="utf-8"
    )
    return out

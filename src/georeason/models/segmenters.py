"""Box -> mask segmenters: the common interface and the factory.

RemoteReasoner's inference workflow turns each predicted box into a mask with SAM2 (box plus its
centre point as prompts, one mask per box). Three implementations share one interface:

* ``"sam2"`` - :class:`georeason.models.segment_sam2.Sam2Segmenter`, the paper's choice; needs a
  SAM2 checkpoint (``--sam-checkpoint``).
* ``"default"`` - :class:`georeason.models.segment_default.ShapeFitSegmenter`, weights-free:
  fits a rotated rectangle / ellipse by contrast with a ring around the box, else the box.
* ``"box"`` - :class:`georeason.models.segment_box.BoxSegmenter`, the box itself.
"""

from __future__ import annotations

from georeason.errors import UserInputError
from georeason.models.segment_base import Segmenter, check_rgb

__all__ = ["SEGMENTER_NAMES", "Segmenter", "build_segmenter", "check_rgb"]

SEGMENTER_NAMES = ("default", "sam2", "box")


def build_segmenter(
    name: str, sam_checkpoint: str | None = None, device: str | None = None
) -> Segmenter:
    """Build a segmenter by name.

    Args:
        name: ``"default"`` (weights-free shape fit), ``"sam2"`` or ``"box"``.
        sam_checkpoint: SAM2 checkpoint directory or hub id; required for ``"sam2"``.
        device: torch device for SAM2 (default: CUDA if available, else CPU); ignored otherwise.

    Raises:
        UserInputError: unknown name, or ``"sam2"`` without a checkpoint.
        georeason.errors.ModelLoadError: the SAM2 checkpoint cannot be loaded.
    """
    key = (name or "").strip().lower()
    if key == "default":
        from georeason.models.segment_default import ShapeFitSegmenter

        return ShapeFitSegmenter()
    if key == "box":
        from georeason.models.segment_box import BoxSegmenter

        return BoxSegmenter()
    if key == "sam2":
        if not sam_checkpoint:
            raise UserInputError(
                "segmenter 'sam2' needs a checkpoint: pass --sam-checkpoint DIR_OR_HUB_ID "
                "(e.g. facebook/sam2.1-hiera-large), or use --segmenter default"
            )
        from georeason.models.segment_sam2 import Sam2Segmenter

        return Sam2Segmenter.from_pretrained(sam_checkpoint, device=device)
    raise UserInputError(f"unknown segmenter {name!r}: choose one of {', '.join(SEGMENTER_NAMES)}")

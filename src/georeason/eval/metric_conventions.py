"""Constants and option names shared by the metric modules (a leaf module)."""

from __future__ import annotations

from typing import Literal

#: IoU of an empty-union sample under each published convention (see module docs).
EMPTY_TARGET_CONVENTIONS: dict[str, float] = {"segearth": 1.0, "remotesam": 0.0}
#: IoU thresholds of ``Pr@tau`` (SegEarth-R1 ``eval.py``; the referring-segmentation standard).
PR_THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)
#: Boundary tolerances of ``F1@d`` in pixels (RemoteReasoner, contour task).
F1_TOLERANCES_PX: tuple[int, ...] = (1, 3)
#: Side of SegEarth-R1's scoring canvas (``RS_val_dataset.preprocess_mask``).
SEGEARTH_SIZE = 1024

Protocol = Literal["native", "segearth1024"]
PROTOCOLS: tuple[str, ...] = ("native", "segearth1024")
BoxMode = Literal["matched", "union"]
BOX_MODES: tuple[str, ...] = ("matched", "union")
ContourEmptyPolicy = Literal["diagonal", "skip"]
CONTOUR_EMPTY_POLICIES: tuple[str, ...] = ("diagonal", "skip")
DistanceMethod = Literal["edt", "kdtree"]
DISTANCE_METHODS: tuple[str, ...] = ("edt", "kdtree")
#: ASD conventions: ``"medpy-0.4"`` = the mean of the two directed average surface distances
#: (medpy <= 0.4 ``assd``: ``mean((asd(P, G), asd(G, P)))``); ``"medpy-0.5"`` = the mean over
#: all boundary pixels of both masks pooled (medpy 0.5.x ``assd``: the mean of the concatenated
#: distance lists, which weights the longer boundary more).
ASD_CONVENTIONS: tuple[str, ...] = ("medpy-0.4", "medpy-0.5")

#: GeoZero's evaluation tasks (its ``single_infer_eval_qwen3vl_think.py --task``).
GEOZERO_TASKS: tuple[str, ...] = ("scene_cls", "vqa", "caption", "grounding")
#: Frames a predicted GeoZero grounding box can be read in (``georeason.eval.geozero_rules``).
PredBoxFrame = Literal["qwen3-norm1000", "qwen25-resized-px", "original-px", "geozero-script"]
PRED_BOX_FRAMES: tuple[str, ...] = (
    "qwen3-norm1000",
    "qwen25-resized-px",
    "original-px",
    "geozero-script",
)

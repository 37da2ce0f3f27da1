"""Every prompt template of georeason, in one place.

* Policy (locator) prompt — RemoteReasoner (2025) inference format: reasoning inside
  ``<think>...</think>``, then the boxes inside ``<answer>...</answer>`` as integer
  ``[x1,y1,x2,y2]`` (one box), ``[[x1,y1,x2,y2], ...]`` (several) or ``[]`` (no target).
  The coordinate frame named in the prompt is the one the architecture was trained on
  (see :mod:`georeason.geometry`): pixels of the image as given to the model for Qwen2.5-VL
  (``"resized_px"``), 0..1000 normalised coordinates for Qwen3-VL (``"norm1000"``).
* Verifier prompt — RemoteZero's verifier V(T(I, b), q): the context crop and the query, and a
  yes/no question. The paper does not publish its wording; this one is ours.

Chat messages use the transformers multimodal format (``{"type": "image"}`` placeholders), which
the Qwen-VL chat templates and TRL's GRPOTrainer both understand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from georeason.geometry import MODEL_FRAMES, ModelFrame
from georeason.verifier_inputs import GLOBAL_INPUTS

#: How each model frame is described to the model (ours; matches the frame each arch answers in).
FRAME_DESCRIPTIONS: dict[str, str] = {
    "resized_px": (
        "Coordinates are integer pixels of this image: x to the right, y down, "
        "(x1,y1) the top-left and (x2,y2) the bottom-right corner."
    ),
    "norm1000": (
        "Coordinates are integers normalised to 0-1000 relative to the image width and height: "
        "x to the right, y down, (x1,y1) the top-left and (x2,y2) the bottom-right corner."
    ),
}

#: Policy prompt (after RemoteReasoner's inference prompt). ``{query}`` and ``{frame}`` are filled.
POLICY_TEMPLATE = (
    "{query}\n"
    "Find every target in the image that the request refers to. "
    "First think step by step inside <think> </think> tags, then give the bounding boxes inside "
    "<answer> </answer> tags: one box as [x1,y1,x2,y2], several boxes as "
    "[[x1,y1,x2,y2],[x1,y1,x2,y2]], and [] if there is no target. {frame}\n"
    "Output format: <think> reasoning </think><answer>[[x1,y1,x2,y2]]</answer>"
)

#: Where a template puts the image: the literal ``<image>`` (ms-swift's marker). A template
#: without it gets the image before its text.
IMAGE_MARKER = "<image>"

#: RemoteReasoner's released inference prompt (``RemoteReasoner.py``, ``prompt`` and
#: ``Region_reasoning``: ``f"{prompt}\n<image>\nText description: {question}"``), verbatim,
#: including its missing space before "Perform" and its "\n final answer".
REMOTEREASONER_TEMPLATE = (
    "You are an object localization assistant. Your task is to locate the target object(s) in "
    "the image based on the provided text description and output bounding box coordinates. "
    "Please follow these requirements:\n"
    "1. Text comprehension: Carefully analyze the text description to identify the target "
    "object.\n"
    "2. Output format:\n"
    "   - If one object exists: Output the bounding box coordinates in the format: "
    "[[x1,y1,x2,y2]]\n"
    "   - If no matching object is found: Output an empty list []\n"
    "   - If multi-objects exist: Output the bounding box coordinates in the format: "
    "[[x1,y1,x2,y2],...,[x1,y1,x2,y2]]\n"
    "3. Coordinate requirements:\n"
    "   - Bounding box coordinates should be arranged as [x_min, y_min, x_max, y_max]\n"
    "   - Coordinate values must be integers representing pixel positions\n"
    "4. Output specifications:\n"
    "   - Output the thinking process in <think> </think> and \n final answer (a list of "
    "bounding boxes) in <answer> </answer> tags."
    "Perform the grounding task for the following input:"
    "\n<image>\nText description: {query}"
)

#: Policy prompt presets: ``prompt_template`` / ``--prompt-template`` accept these names.
PROMPT_PRESETS: dict[str, str] = {
    "georeason": POLICY_TEMPLATE,
    "remotereasoner": REMOTEREASONER_TEMPLATE,
}

#: ms-swift's R1 system prompt (``examples/train/grpo/prompt.txt``), which RemoteReasoner's
#: launch script passes (``--system``) for GRPO training.
MS_SWIFT_R1_SYSTEM = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
    "process here </think><answer> answer here </answer>"
)

#: System prompt presets: ``system_prompt`` accepts these names (or any literal text).
SYSTEM_PRESETS: dict[str, str] = {"ms-swift-r1": MS_SWIFT_R1_SYSTEM}


def system_prompt_text(value: str | None) -> str | None:
    """The system prompt for a preset name or literal text (None: the chat template's own)."""
    return SYSTEM_PRESETS.get(value, value) if value else None


#: Verifier prompt (ours; RemoteZero does not publish its wording). ``{query}`` is filled.
VERIFIER_TEMPLATE = "Request: {query}\nDoes this image region match the request? Answer Yes or No."
#: Verifier prompts per input mode (ours, like :data:`VERIFIER_TEMPLATE`; the whole-image modes
#: follow RemoteZero's future-work suggestion of showing the verifier the whole image with the
#: candidate highlighted). The colour named here is
#: :data:`georeason.verifier_inputs.HIGHLIGHT_COLOR_NAME`.
VERIFIER_TEMPLATES: dict[str, str] = {
    "context_crop": VERIFIER_TEMPLATE,
    "strict_crop": VERIFIER_TEMPLATE,
    "global_highlight": (
        "Request: {query}\nThe red rectangle outlines a candidate region of this image. "
        "Does the outlined region match the request? Answer Yes or No."
    ),
    "global_and_crop": (
        "Request: {query}\nThe first image is the whole scene; the second image is a candidate "
        "region cropped from it. Does the candidate region match the request? Answer Yes or No."
    ),
}
#: Images per verifier prompt, per input mode (the images come first, in this order).
VERIFIER_IMAGES_PER_INPUT: dict[str, int] = {
    "context_crop": 1,
    "strict_crop": 1,
    "global_highlight": 1,
    "global_and_crop": 2,
}


def _check_frame(frame: str) -> None:
    if frame not in MODEL_FRAMES:
        raise ValueError(f"unknown model frame {frame!r}; expected one of {MODEL_FRAMES}")


def check_policy_template(template: str) -> None:
    """Raise ``ValueError`` unless ``template`` is a usable policy prompt template.

    A template is a preset name (:data:`PROMPT_PRESETS`) or a ``str.format`` string with the
    field ``{query}`` and optionally ``{frame}`` (no other field), and at most one ``<image>``
    marker (where the image goes; default: before the text).
    """
    import string

    template = PROMPT_PRESETS.get(template, template)
    if template.count(IMAGE_MARKER) > 1:
        raise ValueError(f"a policy prompt template may hold {IMAGE_MARKER} once")
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    if "query" not in fields or fields - {"query", "frame"}:
        raise ValueError(
            f"a policy prompt template needs the field {{query}} and may have {{frame}}; "
            f"got fields {sorted(fields)}"
        )


def policy_prompt(query: str, frame: ModelFrame = "resized_px", template: str | None = None) -> str:
    """The user text of the policy prompt for one query.

    Args:
        query: the natural-language request (leading/trailing whitespace is stripped).
        frame: ``"resized_px"`` (Qwen2.5-VL) or ``"norm1000"`` (Qwen3-VL): which coordinate
            frame the prompt asks for.
        template: a prompt template with ``{query}`` (and optionally ``{frame}``); None =
            :data:`POLICY_TEMPLATE`. Training and inference must use the same one.

    Returns:
        The prompt text (without the image placeholder).

    Raises:
        ValueError: on an unknown frame or an invalid template.

    Examples:
        >>> "<answer>" in policy_prompt("storage tanks", "norm1000")
        True
    """
    _check_frame(frame)
    if template is None:
        template = POLICY_TEMPLATE
    else:
        check_policy_template(template)
        template = PROMPT_PRESETS.get(template, template)
    return template.format(query=str(query).strip(), frame=FRAME_DESCRIPTIONS[frame])


def verifier_prompt(query: str, input_mode: str = "context_crop") -> str:
    """The user text of the verifier prompt (the image(s) go before it).

    Args:
        query: the request.
        input_mode: one of :data:`VERIFIER_TEMPLATES` (see :mod:`georeason.verifier_inputs`).

    Raises:
        ValueError: an unknown ``input_mode``.

    Examples:
        >>> verifier_prompt("a tennis court").endswith("Answer Yes or No.")
        True
        >>> "red rectangle" in verifier_prompt("a tennis court", "global_highlight")
        True
    """
    if input_mode not in VERIFIER_TEMPLATES:
        raise ValueError(
            f"verifier input must be one of {tuple(VERIFIER_TEMPLATES)}, got {input_mode!r}"
        )
    return VERIFIER_TEMPLATES[input_mode].format(query=str(query).strip())


def verifier_text(
    query: str, input_mode: str = "context_crop", prompt_fn: Callable[[str], str] | None = None
) -> str:
    """The verifier's user text for ``input_mode``: ``prompt_fn(query)`` for the crop modes
    (default :func:`verifier_prompt`: a yes/no judge with its own question, e.g. A²GRPO's
    thinking judge, passes its own), the mode's template for the whole-image modes.

    Raises:
        ValueError: an unknown ``input_mode``, or a whole-image mode with a custom ``prompt_fn``
            (it has no whole-image wording).
    """
    if input_mode not in VERIFIER_TEMPLATES:
        raise ValueError(
            f"verifier input must be one of {tuple(VERIFIER_TEMPLATES)}, got {input_mode!r}"
        )
    if input_mode not in GLOBAL_INPUTS:  # the crop modes
        return (prompt_fn or verifier_prompt)(query)
    if prompt_fn not in (None, verifier_prompt):
        raise ValueError(f"this verifier's prompt has no {input_mode!r} form")
    return verifier_prompt(query, input_mode)


def user_message_with_image(text: str) -> list[dict[str, Any]]:
    """One user turn with one image: where ``text`` holds :data:`IMAGE_MARKER`, the image goes
    there (the text around it is kept exactly, as ms-swift expands its marker); otherwise the
    image comes first, then ``text`` (the Qwen-VL chat content layout)."""
    return [{"role": "user", "content": image_content(text)}]


def user_message_with_images(text: str, n_images: int) -> list[dict[str, Any]]:
    """One user turn with ``n_images`` images first, then ``text`` (``n_images == 1``: the same
    as :func:`user_message_with_image`)."""
    if n_images == 1:
        return user_message_with_image(text)
    content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": text}]
    return [{"role": "user", "content": content}]


def image_content(text: str) -> list[dict[str, Any]]:
    r"""Structured chat content for ``text`` with one image (see :func:`user_message_with_image`).

    Examples:
        >>> parts = image_content("Find it\n<image>\nText description: a ship")
        >>> [p["type"] for p in parts], parts[0]["text"], parts[2]["text"]
        (['text', 'image', 'text'], 'Find it\n', '\nText description: a ship')
    """
    head, marker, tail = text.partition(IMAGE_MARKER)
    if not marker:
        return [{"type": "image"}, {"type": "text", "text": text}]
    parts = [{"type": "text", "text": head}] if head else []
    parts.append({"type": "image"})
    if tail:
        parts.append({"type": "text", "text": tail})
    return parts


def policy_messages(
    query: str, frame: ModelFrame = "resized_px", template: str | None = None
) -> list[dict[str, Any]]:
    """Chat messages for the policy: one user turn with the image first, then the prompt
    (:func:`policy_prompt` with ``frame`` and ``template``).

    Returns:
        ``[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": ...}]}]``.
    """
    return user_message_with_image(policy_prompt(query, frame, template))


def verifier_messages(query: str, input_mode: str = "context_crop") -> list[dict[str, Any]]:
    """Chat messages for the verifier: one user turn with the image(s) of ``input_mode`` first
    (:data:`VERIFIER_IMAGES_PER_INPUT`), then the question (:func:`verifier_text`).

    Raises:
        ValueError: an unknown ``input_mode``.
    """
    text = verifier_text(query, input_mode)
    return user_message_with_images(text, VERIFIER_IMAGES_PER_INPUT[input_mode])

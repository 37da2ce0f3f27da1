"""Prompt templates: content, frames, chat-message structure."""

from __future__ import annotations

import pytest

from georeason import prompts
from georeason.parsing import parse_completion


def test_policy_prompt_contains_query_tags_and_box_formats():
    text = prompts.policy_prompt("  where could victims be resettled?  ", "resized_px")
    assert text.startswith("where could victims be resettled?\n")
    for piece in (
        "<think>",
        "</think>",
        "<answer>",
        "</answer>",
        "[x1,y1,x2,y2]",
        "[[x1,y1,x2,y2],[x1,y1,x2,y2]]",
        "[]",
    ):
        assert piece in text


def test_policy_prompt_names_the_frame_of_the_architecture():
    px = prompts.policy_prompt("ships", "resized_px")
    norm = prompts.policy_prompt("ships", "norm1000")
    assert prompts.FRAME_DESCRIPTIONS["resized_px"] in px
    assert prompts.FRAME_DESCRIPTIONS["norm1000"] in norm
    assert "0-1000" in norm and "0-1000" not in px
    assert "pixels" in px


def test_policy_prompt_rejects_unknown_frame():
    with pytest.raises(ValueError, match="unknown model frame"):
        prompts.policy_prompt("ships", "xywh")


def test_policy_prompt_example_is_in_the_format_the_parser_accepts():
    # The format line shown to the model must itself satisfy the strict format reward.
    example = prompts.POLICY_TEMPLATE.split("Output format: ")[1].replace("x1,y1,x2,y2", "1,2,3,4")
    res = parse_completion(example)
    assert res.format_ok and res.boxes == [[1.0, 2.0, 3.0, 4.0]]


def test_verifier_prompt_exact_text():
    assert prompts.verifier_prompt(" a tennis court ") == (
        "Request: a tennis court\nDoes this image region match the request? Answer Yes or No."
    )


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda q: prompts.policy_messages(q, "norm1000"), "<answer>"),
        (prompts.verifier_messages, "Answer Yes or No."),
    ],
)
def test_messages_put_one_image_before_the_text(build, needle):
    msgs = build("storage tanks")
    assert len(msgs) == 1 and msgs[0]["role"] == "user"
    content = msgs[0]["content"]
    assert [c["type"] for c in content] == ["image", "text"]
    assert "storage tanks" in content[1]["text"] and needle in content[1]["text"]


def test_custom_policy_template_is_filled_and_checked():
    assert prompts.policy_prompt(" the pool ", "norm1000", template="Q: {query}") == "Q: the pool"
    framed = prompts.policy_prompt("x", "norm1000", template="{query} | {frame}")
    assert framed == "x | " + prompts.FRAME_DESCRIPTIONS["norm1000"]
    msgs = prompts.policy_messages("the pool", "resized_px", template="Find {query}")
    assert msgs[0]["content"][1] == {"type": "text", "text": "Find the pool"}
    for bad in ("no field", "{query} {other}", "{frame} only"):
        with pytest.raises(ValueError, match="needs the field"):
            prompts.policy_prompt("q", "norm1000", template=bad)


def test_train_config_and_dataset_rows_use_the_prompt_template(tmp_path):
    from PIL import Image

    from georeason.errors import UserInputError
    from georeason.training.config import config_from_dict
    from georeason.training.data import build_rows

    base = {"mode": "remotezero", "model": "tiny:qwen3_vl", "output_dir": str(tmp_path / "o")}
    with pytest.raises(UserInputError, match="prompt_template"):
        config_from_dict({**base, "prompt_template": "no query here"})
    cfg = config_from_dict({**base, "prompt_template": "Locate: {query}"})
    assert cfg.prompt_template == "Locate: {query}"
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    recs = [{"image": "a.png", "query": "the pool"}]
    rows = build_rows(recs, tmp_path, "norm1000", False, cfg.prompt_template)
    assert rows[0]["prompt"] == [{"role": "user", "content": "Locate: the pool"}]
    default = build_rows(recs, tmp_path, "norm1000", False)
    assert default[0]["prompt"][0]["content"] == prompts.policy_prompt("the pool", "norm1000")


def test_remotereasoner_preset_reproduces_the_released_prompt_and_image_position(
    tiny_qwen25vl_dir,
):
    """RemoteReasoner.py builds f"{prompt}\\n<image>\\nText description: {question}" and ms-swift
    expands <image> in place: our messages give the same text around the vision tokens."""
    from georeason.models.loading import load_processor
    from georeason.prompts import REMOTEREASONER_TEMPLATE, policy_messages

    instruction = REMOTEREASONER_TEMPLATE.split("\n<image>")[0]
    assert instruction.startswith("You are an object localization assistant.")
    assert instruction.endswith("tags.Perform the grounding task for the following input:")
    messages = policy_messages("the storage tanks", "resized_px", "remotereasoner")
    content = messages[0]["content"]
    assert [c["type"] for c in content] == ["text", "image", "text"]
    assert content[0]["text"] == instruction + "\n"
    assert content[2]["text"] == "\nText description: the storage tanks"
    processor = load_processor(tiny_qwen25vl_dir)
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    expected = (
        f"{instruction}\n<|vision_start|><|image_pad|><|vision_end|>\n"
        "Text description: the storage tanks<|im_end|>"
    )
    assert expected in text
    # the default preset keeps the image first
    default = policy_messages("x", "resized_px", "georeason")[0]["content"]
    assert [c["type"] for c in default] == ["image", "text"]


def test_templates_with_two_image_markers_are_refused():
    from georeason.prompts import check_policy_template

    with pytest.raises(ValueError, match="once"):
        check_policy_template("<image>{query}<image>")

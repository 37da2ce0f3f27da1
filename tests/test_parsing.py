import math

from hypothesis import given, settings
from hypothesis import strategies as st

from georeason.parsing import parse_completion


def test_strict_format_one_box():
    r = parse_completion("<think>pools are blue</think><answer>[10,20,30,40]</answer>")
    assert r.boxes == [[10.0, 20.0, 30.0, 40.0]]
    assert r.status == "ok" and r.format_ok and r.reasoning == "pools are blue"


def test_strict_format_several_and_none():
    r = parse_completion("<think>x</think>\n<answer>[[1,2,3,4],[5.5,6,7,8]]</answer>")
    assert r.boxes == [[1, 2, 3, 4], [5.5, 6, 7, 8]] and r.format_ok
    r = parse_completion("<think>nothing here</think><answer>[]</answer>")
    assert r.boxes == [] and r.status == "empty" and r.format_ok and r.parsed


def test_qwen_json_bbox_2d():
    text = (
        '<think>t</think><answer>```json\n[{"bbox_2d": [1, 2, 3, 4], "label": "car"}]\n```</answer>'
    )
    r = parse_completion(text)
    assert r.boxes == [[1, 2, 3, 4]]
    r = parse_completion('[{"bbox_2d": [1, 2, 3, 4]}, {"bbox_2d": [5, 6, 7, 8]}]')
    assert r.boxes == [[1, 2, 3, 4], [5, 6, 7, 8]] and r.status == "partial"
    assert "missing_think" in r.issues and not r.format_ok


def test_missing_tags_and_inverted():
    r = parse_completion("The answer is [30, 40, 10, 20].")
    assert r.boxes == [[10, 20, 30, 40]] and r.status == "partial"
    assert {"missing_think", "missing_answer", "inverted_box"} <= set(r.issues)


def test_unclosed_answer_and_negative_values():
    r = parse_completion("<think>a</think><answer>[-5, 2.5e1, 1e2, 40")
    assert r.status == "no_boxes"
    r = parse_completion("<think>a</think><answer>[-5, 2.5e1, 1e2, 40]")
    assert r.boxes == [[-5, 25, 100, 40]] and not r.format_ok


def test_garbage_and_non_text():
    for text in ["", "no idea", "<answer>banana</answer>", None, 42, "<think><answer>"]:
        r = parse_completion(text)
        assert r.boxes == [] and r.status == "no_boxes" and not r.format_ok


def test_nan_and_degenerate_dropped():
    r = parse_completion(
        "<think>a</think><answer>[[NaN, 1, 2, 3], [1, 1, 1, 5], [0,0,2,2]]</answer>"
    )
    assert r.boxes == [[0, 0, 2, 2]]
    assert "degenerate_box" in r.issues


def test_many_boxes_capped():
    text = "<think>a</think><answer>[" + ",".join("[0,0,1,1]" for _ in range(5000)) + "]</answer>"
    r = parse_completion(text, max_boxes=100)
    assert len(r.boxes) == 100 and "too_many_boxes" in r.issues


def test_wrong_arity_not_read_as_box():
    r = parse_completion("<think>a</think><answer>[1, 2, 3]</answer>")
    assert r.status == "no_boxes" and "unreadable_answer" in r.issues


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(), max_size=300))
def test_fuzz_never_raises_any_text(text):
    r = parse_completion(text)
    assert r.status in {"ok", "empty", "partial", "no_boxes"}
    for b in r.boxes:
        assert len(b) == 4 and all(math.isfinite(v) for v in b)
        assert b[0] < b[2] and b[1] < b[3]


_num = st.one_of(st.integers(-(10**6), 10**6), st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_num, min_size=0, max_size=6), max_size=8), st.booleans())
def test_fuzz_structured_answers(rows, tags):
    body = "[" + ",".join("[" + ",".join(repr(v) for v in row) + "]" for row in rows) + "]"
    text = f"<think>r</think><answer>{body}</answer>" if tags else body
    r = parse_completion(text)
    for b in r.boxes:
        assert all(math.isfinite(v) for v in b) and b[0] < b[2] and b[1] < b[3]


def test_overlong_text_is_cut_before_parsing():
    from georeason.parsing import MAX_PARSE_CHARS

    head = "<think>x</think><answer>[1,2,3,4]</answer>"
    r = parse_completion(head + "y" * 900_000)
    assert "input_truncated" in r.issues and r.boxes == [[1.0, 2.0, 3.0, 4.0]]
    # a box after the cut is not read: the cut happens first
    r2 = parse_completion("z" * MAX_PARSE_CHARS + "[1,2,3,4]")
    assert r2.status == "no_boxes" and "input_truncated" in r2.issues
    assert "input_truncated" not in parse_completion(head).issues

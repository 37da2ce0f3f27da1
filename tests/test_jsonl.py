"""The one JSONL reader/writer: line-numbered errors, a torn last line, flushed appends."""

from __future__ import annotations

import pytest

from georeason.jsonl import (
    JsonlAppender,
    JsonlError,
    append_jsonl,
    read_jsonl,
    read_jsonl_numbered,
    write_jsonl,
)


def test_bad_line_in_the_middle_names_file_and_line(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"a": 1}\n\n{"a": 2\n{"a": 3}\n')
    with pytest.raises(JsonlError, match=r"a\.jsonl:3: not valid JSON"):
        read_jsonl(p)


def test_torn_last_line_is_skipped_with_a_warning_or_repaired(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_text('{"a": 1}\n{"a": 2}\n{"a": ')
    with pytest.warns(UserWarning, match=r"b\.jsonl:3: skipping a truncated last line"):
        assert read_jsonl(p) == [{"a": 1}, {"a": 2}]
    assert p.read_text().endswith('{"a": ')  # "skip" leaves the file alone
    with pytest.raises(JsonlError, match=":3:"):
        read_jsonl(p, torn_tail="error")
    with pytest.warns(UserWarning):
        read_jsonl(p, torn_tail="repair")
    assert p.read_text() == '{"a": 1}\n{"a": 2}\n'


def test_non_objects_and_missing_files(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(JsonlError, match=r":2: expected a JSON object, got list"):
        read_jsonl(p)
    with pytest.raises(JsonlError, match="not found"):
        read_jsonl(tmp_path / "none.jsonl")
    assert read_jsonl(tmp_path / "none.jsonl", missing_ok=True) == []


def test_appends_are_flushed_line_by_line_and_numbered(tmp_path):
    p = tmp_path / "sub" / "d.jsonl"
    with JsonlAppender(p) as out:
        out.write({"k": "é"})
        assert p.read_text(encoding="utf-8") == '{"k": "é"}\n'  # visible before close
    append_jsonl(p, {"k": 2}, fsync=True)
    p.write_text(p.read_text() + "\n")
    append_jsonl(p, {"k": 3})
    assert read_jsonl_numbered(p) == [(1, {"k": "é"}), (2, {"k": 2}), (4, {"k": 3})]
    write_jsonl(p, [{"z": 0}])
    assert read_jsonl(p) == [{"z": 0}] and not (tmp_path / "sub" / "d.jsonl.tmp").exists()

"""The one JSONL reader/writer of georeason (eval results, training logs, manifests, data files).

Writing: :func:`append_jsonl` / :class:`JsonlAppender` write one JSON object per line and flush
each record (``fsync`` optional), so a killed process loses at most the line being written.
:func:`write_jsonl` replaces a whole file atomically (temporary name, then rename).

Reading: :func:`read_jsonl` reports a malformed line with its file and line number
(:class:`JsonlError`, a :class:`georeason.errors.UserInputError`: the CLI prints it as one line)
instead of dropping it silently. The one exception is a truncated **last** line, what a kill
during a write leaves: it is skipped with a warning (``torn_tail="skip"``), or the file is also
rewritten without it (``"repair"``, for files that will be appended to), or it is an error too
(``"error"``, for input data that nobody appends to).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from georeason.errors import UserInputError

TornTail = Literal["skip", "repair", "error"]


class JsonlError(UserInputError):
    """A JSONL line that is not a JSON object; the message names ``file:line``."""


def read_jsonl_numbered(
    path: str | os.PathLike, torn_tail: TornTail = "skip", missing_ok: bool = False
) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` pairs of a JSONL file, in order (blank lines ignored), so that
    callers can name the line of a record that fails their own checks.

    Args:
        path: the file.
        torn_tail: what a malformed *last* line means (module docstring).
        missing_ok: return ``[]`` for a missing file instead of raising.

    Raises:
        JsonlError: a malformed line that is not the last one (or the last with ``"error"``), or
            a line that holds JSON but not an object; a missing file (unless ``missing_ok``).
    """
    p = Path(path)
    if not p.is_file():
        if missing_ok:
            return []
        raise JsonlError(f"{p} not found")
    lines = p.read_text(encoding="utf-8").splitlines(keepends=True)
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    out: list[tuple[int, dict[str, Any]]] = []
    for k, (n, line) in enumerate(numbered):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            last = k == len(numbered) - 1 and torn_tail != "error"
            if not last:
                raise JsonlError(f"{p}:{n}: not valid JSON ({exc.msg})") from None
            warnings.warn(f"{p}:{n}: skipping a truncated last line", stacklevel=2)
            if torn_tail == "repair":
                write_jsonl(p, [r for _, r in out])
            break
        if not isinstance(rec, dict):
            raise JsonlError(f"{p}:{n}: expected a JSON object, got {type(rec).__name__}")
        out.append((n, rec))
    return out


def read_jsonl(
    path: str | os.PathLike, torn_tail: TornTail = "skip", missing_ok: bool = False
) -> list[dict[str, Any]]:
    """All records of a JSONL file, in order (see :func:`read_jsonl_numbered`).

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.jsonl"
        >>> _ = write_jsonl(p, [{"a": 1}, {"a": 2}])
        >>> read_jsonl(p)
        [{'a': 1}, {'a': 2}]
    """
    return [r for _, r in read_jsonl_numbered(path, torn_tail, missing_ok)]


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


class JsonlAppender:
    """Append records to a JSONL file, one flushed line each (a context manager).

    Args:
        path: the file (its folder is created).
        fsync: also ``os.fsync`` after each record (evaluation results; slower).
    """

    def __init__(self, path: str | os.PathLike, fsync: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._f = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(_line(record))
        self._f.flush()
        if self.fsync:
            os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def append_jsonl(path: str | os.PathLike, record: dict[str, Any], fsync: bool = False) -> None:
    """Append one record (one flushed line) to ``path``."""
    with JsonlAppender(path, fsync=fsync) as out:
        out.write(record)


def write_jsonl(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> Path:
    """Replace ``path`` with ``records`` atomically (temporary file, then rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    from georeason.io import write_text_atomic

    write_text_atomic(p, "".join(_line(r) for r in records))
    return p


def read_record_list(path: str | os.PathLike, what: str = "records") -> list[Any]:
    """A list of records from a ``.jsonl`` file (:func:`read_jsonl`, malformed lines are errors)
    or any other file holding one JSON list (e.g. GeoZero's data and output files).

    Args:
        path: the file.
        what: how the file is named in error messages (e.g. ``"--predictions"``).

    Raises:
        JsonlError: missing file, invalid JSON (with the line for JSONL), or not a list.
    """
    p = Path(path)
    if not p.is_file():
        raise JsonlError(f"{what}: {p} not found")
    if p.suffix == ".jsonl":
        return read_jsonl(p, torn_tail="error")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JsonlError(f"{what}: {p} is not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise JsonlError(f"{what}: {p} must hold a JSON list of records")
    return data

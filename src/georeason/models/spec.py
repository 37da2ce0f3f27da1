"""Model references in configs and on the command line: a folder, a hub id, or ``tiny:ARCH``.

``tiny:qwen2_5_vl`` / ``tiny:qwen3_vl`` (optionally ``tiny:ARCH:SEED``) name a tiny RANDOM-weight
model that :func:`georeason.models.tiny.make_tiny` builds on first use into
``$GEOREASON_CACHE/tiny/ARCH-seedSEED`` (default cache ``~/.cache/georeason``), so the tiny CPU
configs run on a fresh clone without a separate ``georeason make-tiny`` step.
"""

from __future__ import annotations

import os
from pathlib import Path

from georeason.errors import UserInputError

TINY_PREFIX = "tiny:"
TINY_ARCHS = ("qwen2_5_vl", "qwen3_vl")


def cache_dir() -> Path:
    """``$GEOREASON_CACHE`` or ``~/.cache/georeason``."""
    return Path(os.environ.get("GEOREASON_CACHE", "~/.cache/georeason")).expanduser()


def resolve_model(spec: str) -> str:
    """A loadable model reference: ``tiny:ARCH[:SEED]`` is built (once) and its folder returned;
    anything else (folder or hub id) is returned unchanged.

    Raises:
        UserInputError: on an unknown tiny architecture or a non-integer seed.
    """
    if not spec.startswith(TINY_PREFIX):
        return spec
    parts = spec[len(TINY_PREFIX) :].split(":")
    arch = parts[0]
    if arch not in TINY_ARCHS or len(parts) > 2:
        raise UserInputError(f"unknown tiny model {spec!r}; use tiny:qwen2_5_vl or tiny:qwen3_vl")
    try:
        seed = int(parts[1]) if len(parts) == 2 else 0
    except ValueError:
        raise UserInputError(f"tiny model seed must be an integer in {spec!r}") from None
    folder = cache_dir() / "tiny" / f"{arch}-seed{seed}"
    if not (folder / "config.json").is_file():
        from georeason.models.tiny import make_tiny

        tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
        make_tiny(tmp, arch=arch, seed=seed)
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            tmp.rename(folder)  # atomic: concurrent processes (accelerate) may race here
        except OSError:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            if not (folder / "config.json").is_file():
                raise
    return str(folder)

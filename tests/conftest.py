"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from georeason.data import SAMPLES_DIR, sample_records


@pytest.fixture(scope="session")
def samples_dir():
    return SAMPLES_DIR


@pytest.fixture(scope="session")
def sample_records_list():
    return sample_records()


def _tiny(tmp_path_factory, arch: str):
    """``make_tiny(arch, seed 0)``, or the folder ``$GEOREASON_TINY_DIR/tiny-{arch}`` when that
    variable is set (``scripts/vllm_check.sh`` builds them there, so that a vLLM server started
    outside pytest serves the very checkpoints the tests load in-process)."""
    from georeason.models.tiny import make_tiny

    prebuilt = os.environ.get("GEOREASON_TINY_DIR")
    if prebuilt:
        return Path(prebuilt) / f"tiny-{arch}"
    return make_tiny(tmp_path_factory.mktemp(f"tiny-{arch}"), arch=arch, seed=0)


@pytest.fixture(scope="session")
def tiny_qwen25vl_dir(tmp_path_factory):
    """A random-weight Qwen2.5-VL folder from ``make_tiny`` (built once per test session)."""
    return _tiny(tmp_path_factory, "qwen2_5_vl")


@pytest.fixture(scope="session")
def tiny_qwen3vl_dir(tmp_path_factory):
    """A random-weight Qwen3-VL folder from ``make_tiny`` (built once per test session)."""
    return _tiny(tmp_path_factory, "qwen3_vl")

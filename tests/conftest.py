"""Shared fixtures."""

from __future__ import annotations

import pytest

from georeason.data import SAMPLES_DIR, sample_records


@pytest.fixture(scope="session")
def samples_dir():
    return SAMPLES_DIR


@pytest.fixture(scope="session")
def sample_records_list():
    return sample_records()


@pytest.fixture(scope="session")
def tiny_qwen25vl_dir(tmp_path_factory):
    """A random-weight Qwen2.5-VL folder from ``make_tiny`` (built once per test session)."""
    from georeason.models.tiny import make_tiny

    return make_tiny(tmp_path_factory.mktemp("tiny-qwen2_5_vl"), arch="qwen2_5_vl", seed=0)


@pytest.fixture(scope="session")
def tiny_qwen3vl_dir(tmp_path_factory):
    """A random-weight Qwen3-VL folder from ``make_tiny`` (built once per test session)."""
    from georeason.models.tiny import make_tiny

    return make_tiny(tmp_path_factory.mktemp("tiny-qwen3_vl"), arch="qwen3_vl", seed=0)

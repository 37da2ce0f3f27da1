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

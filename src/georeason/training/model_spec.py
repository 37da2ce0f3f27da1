"""Moved to :mod:`georeason.models.spec` (model references are a loading concern)."""

from georeason.models.spec import TINY_ARCHS, TINY_PREFIX, cache_dir, resolve_model

__all__ = ["TINY_ARCHS", "TINY_PREFIX", "cache_dir", "resolve_model"]

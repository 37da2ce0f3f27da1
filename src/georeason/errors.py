"""Exceptions that carry a message meant for the user (the CLI prints them as one line)."""

from __future__ import annotations


class GeoreasonError(Exception):
    """Base class: an error whose message is actionable for the user; the CLI exits with 2."""


class UserInputError(GeoreasonError, ValueError):
    """Bad user input: a malformed argument, a missing file, an unusable configuration."""


class ModelLoadError(GeoreasonError):
    """A checkpoint could not be found or loaded (unknown id, offline hub, missing files)."""

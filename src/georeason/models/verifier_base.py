"""Leaf module: the one verifier protocol, shared by the in-process verifier, the HTTP client,
the verifier server and the verification reward (RemoteZero's ``V(crop, query)``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Verifier(Protocol):
    """Anything that scores (crop, query) pairs with a confidence in ``[0, 1]``.

    ``crops`` are PIL images (original pixels of the context crop); ``queries`` the texts, one
    per crop. Implementations: :class:`georeason.models.verifier.LocalVerifier` (one batched
    prefill, P(yes) / (P(yes) + P(no))), :class:`georeason.serving.verifier_client.HTTPVerifier`.

    The whole-image verifier inputs of :mod:`georeason.verifier_inputs` (``global_highlight``,
    ``global_and_crop``) call ``score(views, queries, input_mode=MODE)`` with a tuple of images
    per pair; a verifier that only judges crops need not accept ``input_mode``.
    """

    def score(self, crops: Sequence[Any], queries: Sequence[str]) -> list[float]:
        """One confidence per pair: how well the crop satisfies the query (1 = surely yes)."""
        ...

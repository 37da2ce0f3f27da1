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
    """

    def score(self, crops: Sequence[Any], queries: Sequence[str]) -> list[float]:
        """One confidence per pair: how well the crop satisfies the query (1 = surely yes)."""
        ...

"""Idempotency keys of create requests: a client that never saw the answer to a create (a
503 or a timeout after the store committed) retries with the same key and gets the row the
first attempt stored, instead of a second copy.

The store keeps the key on the created row, in the same insert, so no crash between the
commit and the answer can separate them; a key lives as long as its row.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConflictError


@dataclass(frozen=True)
class IdempotencyKey:
    """A user's key for one create, and the fingerprint of the request it was sent with:
    the same key with another request is refused, never answered with the first's row."""

    key: str
    fingerprint: str


class IdempotencyKeyReusedError(ConflictError):
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was already used for a different request; "
                         "use a new key for a new request.")


def replayed_or_refused(key: IdempotencyKey, stored_fingerprint: str | None) -> None:
    """Check a row found under `key` was made by this same request, or refuse."""
    if stored_fingerprint != key.fingerprint:
        raise IdempotencyKeyReusedError()

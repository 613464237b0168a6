"""The `Idempotency-Key` request header of the routes that create something
(draft-ietf-httpapi-idempotency-key-header): read, checked and fingerprinted here once, for
every route whose spec says `idempotent=True`; the route hands the key to its use case,
whose store keeps it on the created row (`nirvana/domain/idempotency.py`)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request

from ..domain.errors import BadRequestError
from ..domain.idempotency import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_KEY = re.compile(r"[A-Za-z0-9._~+/=:-]{1,64}")
KEY_PATTERN = f"^{_KEY.pattern}$"

PARAMETER: dict[str, Any] = {
    "name": HEADER, "in": "header", "required": False,
    "schema": {"type": "string", "pattern": f'^(?:"{_KEY.pattern}"|{_KEY.pattern})$'},
    "description": "A key of your choosing (a UUID, say), new for each thing you create, "
                   "quoted (`\"k\"`, as the IETF draft sends it) or bare (`k`): the same key. "
                   "A retry with the same key and the same request answers what the first "
                   "attempt stored (same id, same status, header Idempotent-Replayed: true) "
                   "instead of storing it twice; the same key with another request is 409 "
                   "`idempotency_key_reused`. Keys are per user and kept as long as the row.",
}
REPLAYED_HEADER: dict[str, Any] = {
    "description": "`true` when the answer is a stored row's, found by its Idempotency-Key",
    "schema": {"type": "string", "enum": ["true"]},
}


def key_of(request: Request, method: str, path: str, body: BaseModel | None
           ) -> IdempotencyKey | None:
    """The request's key and the fingerprint of what it asks, or None without the header;
    BadRequestError (400 `invalid_idempotency_key`) for a key outside the pattern."""
    values = request.headers.getlist(HEADER)
    if not values:
        return None
    # The draft sends a Structured-Field String, quoted; a bare key is the same key.
    value = values[0]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if len(values) > 1:
        value = ""  # refused below, with the same answer as a malformed key
    # Only the fields the request sent: a retry sends the same bytes, and an optional
    # field a later deploy adds (its default filled in) must not make a retry that
    # straddles a rolling restart look like another request.
    return checked_key(value, [method, path, request.path_params,
                               body.model_dump(mode="json", exclude_unset=True)
                               if body is not None else None], HEADER)


def checked_key(value: str, asked: Any, field: str) -> IdempotencyKey:
    """`value` as a key, with the fingerprint of `asked` (anything JSON can write: what the
    request asks); BadRequestError (400 `invalid_idempotency_key`) naming `field` for a
    value outside the pattern. The web client's forms send theirs in a field."""
    if not _KEY.fullmatch(value):
        raise BadRequestError(
            f"{field} must be one value of 1 to 64 letters, digits or ._~+/=:- characters"
            + (", quoted or bare." if field == HEADER else "."),
            code="invalid_idempotency_key",
            details=[{"field": field, "code": "invalid", "message": f"must match {KEY_PATTERN}"}])
    fingerprint = json.dumps(asked, sort_keys=True, default=str)
    return IdempotencyKey(value, hashlib.sha256(fingerprint.encode()).hexdigest())


def covering(key: IdempotencyKey | None, more: Any) -> IdempotencyKey | None:
    """`key` with a fingerprint that also covers `more` (anything JSON can write): what a
    route learns of the request after reading its body, as an upload's file hash."""
    if key is None:
        return None
    asked = json.dumps([key.fingerprint, more], sort_keys=True, default=str)
    return IdempotencyKey(key.key, hashlib.sha256(asked.encode()).hexdigest())

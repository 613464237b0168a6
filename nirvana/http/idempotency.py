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
    "schema": {"type": "string", "pattern": KEY_PATTERN},
    "description": "A key of your choosing (a UUID, say), new for each thing you create. "
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
    if len(values) > 1 or not _KEY.fullmatch(values[0]):
        raise BadRequestError(
            f"{HEADER} must be one value of 1 to 64 letters, digits or ._~+/=:- characters.",
            code="invalid_idempotency_key",
            details=[{"field": HEADER, "code": "invalid", "message": f"must match {KEY_PATTERN}"}])
    asked = json.dumps([method, path, request.path_params,
                        body.model_dump(mode="json") if body is not None else None],
                       sort_keys=True, default=str)
    return IdempotencyKey(values[0], hashlib.sha256(asked.encode()).hexdigest())

"""Refusing a JSON body that names a key twice in one object.

pydantic (like most parsers) keeps the last of the two; a proxy or a firewall in front of
Nirvana may read the first, so the request it checked would not be the one served. The
body is read a second time, by the standard library's parser with a hook per object: a few
microseconds for a typical body (docs/performance.md, "Duplicate keys in a JSON body").
"""

from __future__ import annotations

import json
from typing import Any

from ..domain.errors import BadRequestError


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> None:
    if len(pairs) > 1 and len({key for key, _ in pairs}) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    # Nothing is kept: the values were validated already, from the same bytes.


def _unread(text: str) -> None:
    return None


def refuse_duplicate_keys(raw: bytes) -> None:
    """BadRequestError (400 `malformed_json`) naming the first key an object repeats.
    Called on a body the model has accepted, so `raw` is JSON of a bounded depth. Numbers
    are left as text: no conversion, so no limit of the standard parser's (4,300 digits)
    that pydantic's lacks, and a body this parser cannot read is refused, never let through
    unchecked."""
    try:
        json.loads(raw, object_pairs_hook=_object, parse_int=_unread, parse_float=_unread,
                   parse_constant=_unread)
    except _Duplicate as dup:
        message = "is named twice in one object"
        raise BadRequestError(
            f"The body names the key {dup.key!r} twice in one object.", code="malformed_json",
            details=[{"field": dup.key, "code": "duplicate_key", "message": message}]) from None
    except (ValueError, RecursionError):
        raise BadRequestError("The body is not valid JSON.", code="malformed_json") from None

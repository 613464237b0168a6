"""The one codec of page cursors: an opaque URL-safe token around a position's text.

Each listing says what its position is (`social.py`: when linked and who; `blog_model.py`:
when published and which blog); this module only wraps it, and refuses anything it did not
issue with the same `invalid_cursor` error everywhere.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta, timezone
from typing import Callable, TypeVar

from .errors import field_error

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def micros(at: datetime) -> int:
    """An instant as integer microseconds: a float timestamp can be off by one and skip or
    repeat an item at a page's edge."""
    return (at - EPOCH) // timedelta(microseconds=1)


def instant(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def encode(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def decode(cursor: str, parse: Callable[[str], T]) -> T:
    """`parse(position text)`; a cursor that is not base64url text, or whose text `parse`
    rejects (ValueError, OverflowError, OSError), is InvalidInputError on the field `cursor`."""
    try:
        position = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return parse(position)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError):
        raise field_error("cursor", "is not a cursor this API gave out",
                          "invalid_cursor") from None

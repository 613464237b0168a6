"""Opaque page cursors of the social lists: (since, user id), base64url."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta, timezone

from ..errors import field_error
from .entities import Linked, Listing, PageRequest

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# -- cursors ------------------------------------------------------------------------------


def encode_cursor(item: Linked) -> str:
    # Integer microseconds: a float timestamp can be off by one and skip or repeat an item.
    micros = (item.since - EPOCH) // timedelta(microseconds=1)
    raw = f"{micros}:{item.person.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, user_id = (int(part) for part in raw.split(":"))
        since = EPOCH + timedelta(microseconds=micros)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError):
        raise field_error("cursor", "is not a cursor this API gave out", "invalid_cursor")
    return since, user_id


def page_request(limit: int, cursor: str | None) -> PageRequest:
    return PageRequest(limit, decode_cursor(cursor) if cursor else None)


def listing_of(items: list[Linked], page: PageRequest) -> Listing:
    # The repository returns one more than asked: its presence says another page exists.
    more = len(items) > page.limit
    items = items[: page.limit]
    return Listing(items, encode_cursor(items[-1]) if more and items else None)


def one_more(page: PageRequest) -> PageRequest:
    return PageRequest(page.limit + 1, page.after)

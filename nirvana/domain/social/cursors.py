"""Page cursors of the social lists: (since, user id), in the one codec (domain/cursors.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .. import cursors as codec
from .entities import Linked, Listing, PageRequest

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# -- cursors ------------------------------------------------------------------------------


def encode_cursor(item: Linked) -> str:
    # Integer microseconds: a float timestamp can be off by one and skip or repeat an item.
    micros = (item.since - EPOCH) // timedelta(microseconds=1)
    return codec.encode(f"{micros}:{item.person.id}")


def _linked_position(text: str) -> tuple[datetime, int]:
    micros, user_id = (int(part) for part in text.split(":"))
    return EPOCH + timedelta(microseconds=micros), user_id


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    return codec.decode(cursor, _linked_position)


def page_request(limit: int, cursor: str | None) -> PageRequest:
    return PageRequest(limit, decode_cursor(cursor) if cursor else None)


def listing_of(items: list[Linked], page: PageRequest) -> Listing:
    # The repository returns one more than asked: its presence says another page exists.
    more = len(items) > page.limit
    items = items[: page.limit]
    return Listing(items, encode_cursor(items[-1]) if more and items else None)


def one_more(page: PageRequest) -> PageRequest:
    return PageRequest(page.limit + 1, page.after)

"""Page cursors of a notification list: (updated_at, id), in the one codec (domain/cursors.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .. import cursors as codec
from .entities import Position

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def encode_cursor(position: Position) -> str:
    # Integer microseconds: a float timestamp can be off by one and skip or repeat an item.
    micros = (position.updated_at - EPOCH) // timedelta(microseconds=1)
    return codec.encode(f"n:{micros}:{position.id}")


def _position(text: str) -> Position:
    tag, micros, notification_id = text.split(":")
    if tag != "n":
        raise ValueError(text)
    return Position(EPOCH + timedelta(microseconds=int(micros)), int(notification_id))


def decode_cursor(cursor: str) -> Position:
    return codec.decode(cursor, _position)

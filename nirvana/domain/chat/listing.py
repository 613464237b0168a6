"""Pages of a user's conversation list: newest activity first, ties by id (descending), with
a cursor of (last_activity, id) in the one codec (domain/cursors.py).

A page holds the conversations strictly older than its cursor, in positions as read when the
page is read. Activity almost only moves a conversation forward, so one already listed (or
skipped over by becoming newer than the cursor) does not come back on a later page, except
when a higher seq carries an earlier time (concurrent sends): then it may, and clients key
their list by id. docs/protocol.md says what a client sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from .. import cursors as codec
from .entities import Conversation

# (last_activity, conversation id): the order is the tuple's, descending.
Position = tuple[datetime, str]


@dataclass(frozen=True, slots=True)
class ConversationPage:
    items: list[Conversation]
    next: Position | None  # the last item's position when more follow; None on the last page


def position_of(c: Conversation) -> Position:
    return c.last_activity, c.id


def select(positions: Mapping[str, datetime], after: Position | None, limit: int
           ) -> tuple[list[str], Position | None]:
    """The ids of one page, in order, and the next page's position (None when none is left),
    from every conversation's current activity."""
    older = sorted(((at, cid) for cid, at in positions.items()
                    if after is None or (at, cid) < after), reverse=True)
    page = older[:limit]
    return [cid for _, cid in page], page[-1] if len(older) > limit and page else None


def encode_cursor(position: Position) -> str:
    return codec.encode(f"c:{codec.micros(position[0])}:{position[1]}")


def _position(text: str) -> Position:
    tag, micros, conversation_id = text.split(":", 2)
    if tag != "c" or not 0 < len(conversation_id) <= 64:
        raise ValueError(text)
    return codec.instant(int(micros)), conversation_id


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; InvalidInputError (`invalid_cursor`) for anything else."""
    return codec.decode(cursor, _position)

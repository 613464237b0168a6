"""A reader's read or delivered mark in its conversation's state, as a receipt raises it."""

from __future__ import annotations

from typing import Any

from ...domain.chat.entities import ReceiptKind
from .codec import mark_field
from .work_items import Mark


async def raise_mark(states: Any, mark: Mark) -> bool:
    """Raise `mark` in the state of its conversation; whether it rose (a lower or equal
    mark changes nothing, and gets no receipt event). Read implies delivered.

    Not in the fence's transaction (fence.py `writes`): a mark only rises, and the reader
    really reached it, so a deposed writer's late `$max` is true; only its event is refused
    (others see the mark on their next read). It also keeps the most frequent write off
    the transaction path (docs/performance.md). `$not $gte` rather than `$lt`: it also
    matches a mark not stored yet."""
    field_name = mark_field(
        mark.user_id, "read" if mark.kind is ReceiptKind.READ else "delivered")
    raise_to = {field_name: mark.seq}
    if mark.kind is ReceiptKind.READ:
        raise_to[mark_field(mark.user_id, "delivered")] = mark.seq
    updated = await states.update_one(
        {"_id": mark.conversation_id, field_name: {"$not": {"$gte": mark.seq}}},
        {"$max": raise_to})
    return updated.modified_count > 0

"""A reader's read or delivered mark in its conversation's state, as a receipt raises it."""

from __future__ import annotations

from typing import Any

from pymongo import UpdateOne

from ...domain.chat.entities import ReceiptKind
from .codec import mark_field
from .work_items import Mark


def kind_field(mark: Mark) -> str:
    """The path of the mark `mark` raises in its conversation's state."""
    return mark_field(mark.user_id, "read" if mark.kind is ReceiptKind.READ else "delivered")


def _raise(mark: Mark) -> tuple[dict[str, Any], dict[str, Any]]:
    """The filter and update raising `mark`: `$not $gte` rather than `$lt`, as it also
    matches a mark not stored yet. Read implies delivered."""
    field_name = kind_field(mark)
    raise_to = {field_name: mark.seq}
    if mark.kind is ReceiptKind.READ:
        raise_to[mark_field(mark.user_id, "delivered")] = mark.seq
    return ({"_id": mark.conversation_id, field_name: {"$not": {"$gte": mark.seq}}},
            {"$max": raise_to})


async def raise_mark(states: Any, mark: Mark) -> bool:
    """Raise `mark` in the state of its conversation; whether it rose (a lower or equal
    mark changes nothing, and gets no receipt event).

    Not in the fence's transaction (fence.py `writes`): a mark only rises, and the reader
    really reached it, so a deposed writer's late `$max` is true; only its event is refused
    (others see the mark on their next read). It also keeps the most frequent write off
    the transaction path (docs/performance.md)."""
    updated = await states.update_one(*_raise(mark))
    return updated.modified_count > 0


# Names a run's write of marks in the store's logs and profiler (and to tests' steers).
RUN_COMMENT = "receipt marks"


async def raise_marks(states: Any, marks: list[Mark]) -> None:
    """Raise `marks`, read below them a moment before (receipt_commits.py), in one
    unordered bulk write of one `$max` per conversation: the embedded store's cost is per
    document updated, and a message's receipts are mostly of one conversation. No filter:
    the read said which rise, and `$max` never lowers a mark raised since."""
    raise_to: dict[str, dict[str, int]] = {}
    for mark in marks:
        fields = raise_to.setdefault(mark.conversation_id, {})
        for name, seq in _raise(mark)[1]["$max"].items():
            fields[name] = max(fields.get(name, 0), seq)
    await states.bulk_write([UpdateOne({"_id": cid}, {"$max": fields})
                             for cid, fields in raise_to.items()], ordered=False,
                            comment=RUN_COMMENT)


def stored_mark(state: dict[str, Any] | None, mark: Mark) -> int | None:
    """The mark of `mark`'s member and kind in a state as read (projected or whole)."""
    kind = "read" if mark.kind is ReceiptKind.READ else "delivered"
    found = ((state or {}).get("marks") or {}).get(str(mark.user_id)) or {}
    return found.get(kind)

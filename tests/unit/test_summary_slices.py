"""How many conversations a tick of the spread summary flush writes (summaries.py)."""

from __future__ import annotations

from datetime import datetime, timezone

from nirvana.domain.chat.entities import Message, MessageKind
from nirvana.storage.mongo.summaries import SummaryBuffer


def _message(conversation: int, seq: int, pos: int) -> Message:
    return Message(id=f"m{pos}", conversation_id=f"c{conversation}", seq=seq, pos=pos,
                   sender_id=1, client_id=f"k{pos}", kind=MessageKind.TEXT, text="hi",
                   attachments=(), reply_to=None, created_at=datetime.now(timezone.utc),
                   audience=(1, 2))


def test_a_crowd_dirtied_at_once_is_spread_evenly_over_the_ticks():
    buffer = SummaryBuffer()
    for c in range(100):
        buffer.add(_message(c, 1, c + 1), at=0.0)
    assert buffer.due_rate(0.5, interval=5.0, ticks=10) == 10


def test_one_busy_conversation_earns_one_write_per_interval_not_per_tick():
    buffer = SummaryBuffer()
    for seq in range(1, 50):
        buffer.add(_message(0, seq, seq), at=1.0)
    assert buffer.due_rate(1.5, interval=5.0, ticks=10) == 0.1
    # Due before the next tick: written now, whatever was earned.
    assert buffer.due_rate(5.9, interval=5.0, ticks=10) == 1


def test_taking_a_slice_keeps_the_rest_in_dirty_order_with_their_first_positions():
    buffer = SummaryBuffer()
    for pos, c in enumerate([0, 1, 2, 0, 3], start=1):
        buffer.add(_message(c, pos, pos), at=float(pos))
    taken = buffer.take(["c0", "c1"])
    assert list(taken.last) == ["c0", "c1"] and taken.top_pos == 4
    assert list(buffer.last) == ["c2", "c3"] and buffer.first_pos == {"c2": 3, "c3": 5}
    taken.merge(buffer)  # as a failed slice goes back in front of what came since
    assert list(taken.last) == ["c0", "c1", "c2", "c3"]
    assert taken.first_pos["c0"] == 1 and taken.dirty_at["c3"] == 5.0

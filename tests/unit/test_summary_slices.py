"""Which conversations a tick of the spread summary flush writes, and what it writes for
them (summaries.py)."""

from __future__ import annotations

from datetime import datetime, timezone

from pymongo import UpdateOne

from nirvana.domain.chat.entities import Message, MessageKind
from nirvana.storage.mongo.summary_buffer import SummaryBuffer

INTERVAL, TICKS = 5.0, 10
TICK = INTERVAL / TICKS


def _message(conversation: int, seq: int, pos: int) -> Message:
    return Message(id=f"m{pos}", conversation_id=f"c{conversation}", seq=seq, pos=pos,
                   sender_id=1, client_id=f"k{pos}", kind=MessageKind.TEXT, text="hi",
                   attachments=(), reply_to=None, created_at=datetime.now(timezone.utc),
                   audience=(1, 2))


def _run(buffer: SummaryBuffer, ticks: int, dirty: list[int]) -> dict[str, list[float]]:
    """`ticks` ticks of the background flush with a clock moved by hand: `dirty`'s
    conversations get a message half-way between every two ticks. When each was written."""
    written: dict[str, list[float]] = {}
    pos = 1000
    for k in range(1, ticks + 1):
        for c in dirty:
            pos += 1
            buffer.add(_message(c, pos, pos), at=(k - 0.5) * TICK)
        due = buffer.due(k * TICK, INTERVAL, TICKS)
        for cid in due:
            written.setdefault(cid, []).append(k * TICK)
        _, buffer = buffer.split(due)
    return written


def test_a_crowd_dirtied_at_once_is_spread_evenly_over_the_ticks():
    buffer = SummaryBuffer()
    for c in range(100):
        buffer.add(_message(c, 1, c + 1), at=0.0)
    sizes = []
    for k in range(1, TICKS + 1):
        due = buffer.due(k * TICK, INTERVAL, TICKS)
        sizes.append(len(due))
        _, buffer = buffer.split(due)
    assert sizes == [10] * TICKS and not buffer


def test_a_busy_conversation_is_written_once_per_interval_not_sooner():
    written = _run(SummaryBuffer(), ticks=200, dirty=[0])["c0"]
    gaps = [b - a for a, b in zip(written, written[1:])]
    assert all(INTERVAL - TICK <= gap <= INTERVAL + TICK for gap in gaps), gaps
    assert abs(len(written) - 200 * TICK / INTERVAL) <= 1


def test_every_summary_is_written_within_the_interval_beside_a_crowd():
    buffer = SummaryBuffer()
    for c in range(1, 31):  # a crowd that must be spread, beside two busy conversations
        buffer.add(_message(c, 1, c), at=0.0)
    written = _run(buffer, ticks=100, dirty=[100, 101])
    assert all(len(written[f"c{c}"]) == 1 and written[f"c{c}"][0] <= INTERVAL
               for c in range(1, 31))
    for cid in ("c100", "c101"):
        gaps = [b - a for a, b in zip(written[cid], written[cid][1:])]
        assert written[cid][0] <= INTERVAL and max(gaps) <= INTERVAL + TICK, gaps


def test_splitting_a_slice_keeps_the_rest_in_dirty_order_with_their_first_positions():
    buffer = SummaryBuffer()
    for pos, c in enumerate([0, 1, 2, 0, 3], start=1):
        buffer.add(_message(c, pos, pos), at=float(pos))
    taken, rest = buffer.split(["c0", "c1"])
    assert list(taken.last) == ["c0", "c1"] and taken.first_pos == {"c0": 1, "c1": 2}
    assert list(rest.last) == ["c2", "c3"] and rest.first_pos == {"c2": 3, "c3": 5}
    assert list(buffer.last) == ["c0", "c1", "c2", "c3"]  # a reader holding it sees all


def test_a_failed_slice_goes_back_in_dirty_order_so_older_ones_stay_due():
    # A dirty at 0, X at 4.0; the change-flush of X alone fails and X goes back.
    buffer = SummaryBuffer()
    buffer.add(_message(0, 1, 1), at=0.0)
    buffer.add(_message(1, 1, 2), at=4.0)
    taken, rest = buffer.split(["c1"])
    back = taken.merged(rest)
    assert list(back.last) == ["c0", "c1"] and back.dirty_at == {"c0": 0.0, "c1": 4.0}
    assert back.due(4.6, INTERVAL, TICKS) == ["c0"]


def test_a_moved_messages_position_stays_with_its_conversation_through_split_and_merge():
    # c0's seq 1 was moved to the head (position 9) after its seq 2 (position 3).
    buffer = SummaryBuffer()
    buffer.add(_message(0, 2, 3), at=0.0)
    buffer.add(_message(1, 1, 4), at=1.0)
    buffer.add(_message(0, 1, 9), at=2.0, moved=True)
    assert buffer.last["c0"].seq == 2 and buffer.moved == {"c0": 9}
    taken, rest = buffer.split(["c0"])
    assert taken.moved == {"c0": 9} and rest.moved == {}
    taken, rest = buffer.split(["c1"])
    assert taken.moved == {} and rest.moved == {"c0": 9}
    back = rest.merged(taken)  # a failed slice goes back: the position with it
    assert back.moved == {"c0": 9}
    assert buffer.moved == {"c0": 9}  # a reader holding it sees it


def test_only_a_conversation_with_a_moved_message_gets_its_position_raised():
    # c0's seq 1 was moved to the head (position 9) after its seq 2 (position 3); c1 has none.
    sent = [_message(0, 2, 3), _message(1, 1, 4), _message(0, 1, 9)]

    def buffered(moved: bool) -> SummaryBuffer:
        buffer = SummaryBuffer()
        for at, m in enumerate(sent):
            buffer.add(m, at=float(at), moved=moved and m.pos == 9)
        return buffer

    def to_doc(m: Message) -> dict:
        return {"pos": m.pos}

    # The same summaries as without the move (whose filter skips a seq below the stored
    # one), and one more update: c0's position, apart.
    assert buffered(True).operations(to_doc) == [
        *buffered(False).operations(to_doc),
        UpdateOne({"_id": "c0"}, {"$max": {"last_pos": 9}})]

"""The buffer of conversation summaries not written yet (summaries.py writes it): per
conversation the newest message, the senders' read marks and what a read needs to apply
them, and the update that writes them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from pymongo import UpdateOne

from ...domain.chat.entities import Conversation, Message
from .codec import mark_field


@dataclass
class SummaryBuffer:
    # Conversation id -> its newest message; in the order the conversations became dirty
    # (oldest first), which is the order a spread flush writes them in and `due` reads.
    # Only ever added to in place (or a message replaced by its tombstone: `erasing`): a
    # flush moves conversations out by replacing the buffer (`split`), so a reader holding
    # it still sees what is being written (`unwritten`).
    last: dict[str, Message] = field(default_factory=dict)
    reads: dict[str, dict[int, int]] = field(default_factory=dict)  # cid -> sender -> seq
    first_pos: dict[str, int] = field(default_factory=dict)  # cid -> its lowest position held
    dirty_at: dict[str, float] = field(default_factory=dict)  # cid -> when it became dirty
    # cid -> the highest position of a message held that was moved to the head with its old
    # seq (by an older release's writer, marked `moved`; this one moves none, sends.py): it
    # may be past `last`'s, and resume finds a conversation by its newest position
    # (resume.py).
    moved: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.last)

    def __len__(self) -> int:
        return len(self.last)

    def add(self, m: Message, at: float = 0.0, moved: bool = False) -> None:
        cid = m.conversation_id
        held = self.last.get(cid)
        if held is None:
            self.dirty_at[cid] = at
        if held is None or held.seq < m.seq:
            self.last[cid] = m
        senders = self.reads.setdefault(cid, {})
        senders[m.sender_id] = max(senders.get(m.sender_id, 0), m.seq)
        self.first_pos[cid] = min(self.first_pos.get(cid, m.pos), m.pos)
        if moved:
            self.moved[cid] = max(self.moved.get(cid, 0), m.pos)

    def split(self, conversation_ids: list[str]) -> tuple[SummaryBuffer, SummaryBuffer]:
        """(these conversations' summaries, the rest), each a new buffer; this one is left
        whole."""
        # The rest copied whole (dict copies run in C: what it costs, docs/performance.md,
        # "Summary flushes"), then the taken ones moved out of the copy, in dirty order.
        rest = SummaryBuffer(dict(self.last), dict(self.reads), dict(self.first_pos),
                             dict(self.dirty_at), dict(self.moved))
        taken = SummaryBuffer()
        for cid in sorted({c for c in conversation_ids if c in rest.last},
                          key=self.dirty_at.__getitem__):
            taken.last[cid] = rest.last.pop(cid)
            taken.reads[cid] = rest.reads.pop(cid)
            taken.first_pos[cid] = rest.first_pos.pop(cid)
            taken.dirty_at[cid] = rest.dirty_at.pop(cid)
            if cid in rest.moved:
                taken.moved[cid] = rest.moved.pop(cid)
        return taken, rest

    def merged(self, other: SummaryBuffer) -> SummaryBuffer:
        """Both in a new buffer, in the order the conversations became dirty (a failed
        slice goes back among those buffered since: `due` reads them oldest first)."""
        both = SummaryBuffer()
        for part in (self, other):
            for cid, m in part.last.items():
                at = min(both.dirty_at.get(cid, math.inf), part.dirty_at[cid])
                both.add(m, at)
                both.dirty_at[cid] = at
                both.first_pos[cid] = min(both.first_pos[cid], part.first_pos[cid])
            for cid, senders in part.reads.items():
                mine = both.reads.setdefault(cid, {})
                for sender, seq in senders.items():
                    mine[sender] = max(mine.get(sender, 0), seq)
            for cid, pos in part.moved.items():
                both.moved[cid] = max(both.moved.get(cid, 0), pos)
        order = sorted(both.last, key=both.dirty_at.__getitem__)
        for held in (both.last, both.reads, both.first_pos, both.dirty_at):
            ordered = {cid: held[cid] for cid in order}
            held.clear()
            held.update(ordered)
        return both

    def due(self, now: float, interval: float, ticks: int) -> list[str]:
        """The conversations a tick (every interval / ticks seconds) writes now, oldest-dirty
        first: every one whose `interval` ends before the next tick, and ahead of that
        only as many as keep the pace a crowd needs: for each j, the count due before
        the j-th next tick over j, rounded down. So 100 conversations dirtied at once go 10
        per tick, while a lone one waits until it is due: a busy conversation is written
        once per interval, not sooner (each write costs the store; docs/performance.md)."""
        tick = interval / ticks
        count, due = 0, 0
        times = iter(self.dirty_at.values())  # oldest first
        upcoming = next(times, None)
        for j in range(1, ticks + 1):
            while upcoming is not None and upcoming + interval < now + j * tick:
                due += 1
                upcoming = next(times, None)
            count = max(count, due // j)
        return list(self.last)[:count]

    def apply(self, c: Conversation) -> None:
        """Apply the buffered summary of `c` to it in memory, as its update would."""
        m = self.last.get(c.id)
        if m is None:
            return
        if m.seq > c.last_seq:
            c.last_seq, c.last_message, c.last_activity = m.seq, m, m.created_at
        for sender, seq in self.reads.get(c.id, {}).items():
            member = c.member(sender)
            if member is not None:
                member.read_seq = max(member.read_seq, seq)
                member.delivered_seq = max(member.delivered_seq, seq)

    def operations(self, to_doc: Callable[[Message], dict[str, Any]]) -> list[UpdateOne]:
        """One update per conversation, safe to apply twice."""
        ops = []
        for cid, m in self.last.items():
            raise_to: dict[str, int] = {"last_seq": m.seq}
            for sender, seq in self.reads[cid].items():
                raise_to[mark_field(sender, "read")] = seq
                raise_to[mark_field(sender, "delivered")] = seq
            # One atomic update of the conversation's state; the filter skips a summary
            # older than the stored one (a repair re-applying what a flush already wrote).
            ops.append(UpdateOne({"_id": cid, "last_seq": {"$lte": m.seq}},
                                 {"$max": raise_to,
                                  "$set": {"last_message": to_doc(m),
                                           "last_activity": m.created_at}}))
        # A moved message's position, apart: the update above skips a summary whose seq is
        # below the stored one, which a moved message's may be. Rare: one more update only
        # for a conversation that got one.
        ops.extend(UpdateOne({"_id": cid}, {"$max": {"last_pos": pos}})
                   for cid, pos in self.moved.items())
        return ops


def erased_copy(m: Message) -> Message:
    """`m` as an erasure leaves it (erasure.py `ERASED`): no text, attachments or terms."""
    return dataclasses.replace(m, text="", attachments=(), deleted=True)


def applied(c: Conversation, unwritten: list[SummaryBuffer]) -> Conversation:
    """`c` as read from the store, with the summaries not written yet applied (those being
    written and those buffered, `Summaries.unwritten()` taken before and after the read), so a reader
    sees every acknowledged message. Why not flush first: under load a flush takes seconds,
    and every read that missed the conversation cache (the first send to a conversation,
    too) would queue on it."""
    for buffer in unwritten:
        buffer.apply(c)
    return c

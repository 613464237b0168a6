"""Conversation summaries (last seq, last message, the sender's read mark), coalesced.

Why deferred: a summary update rewrites the conversation's state document (see
`ConversationStateDoc`); measured on the embedded store, 100 of them cost ~45 ms, where
inserting the 100 messages costs ~30 ms. So the writer acknowledges a batch
once its messages are stored, and folds the summaries into this buffer: many sends to one
conversation become one update. A background task flushes the buffer every
`MongoChatStore.summary_interval` seconds at most, and spends at most `summary_share` of the
time doing so (so sends never wait behind a flush). A read of conversations applies the
summaries not written yet to what it read (`apply`), rather than waiting for a flush.

Why that is safe: a summary is derived from the messages. The store keeps a checkpoint (the
stream position up to which summaries are written, see `CHECKPOINT_ID`); after a crash the
writer re-summarises the messages past it before its first write or read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from pymongo import UpdateOne

from ...domain.chat.entities import Conversation, Message

CHECKPOINT_ID = "summaries"  # in the chat_meta collection: {"_id": ..., "pos": P}


def mark_field(user_id: int, kind: str) -> str:
    """The path of a member's mark (`kind`: "read" or "delivered") in a conversation state:
    `marks` maps str(user_id) -> {"read": seq, "delivered": seq}."""
    return f"marks.{user_id}.{kind}"


def marks_doc(marks: Iterable[tuple[int, int, int]]) -> dict[str, dict[str, int]]:
    """The `marks` of a state from (user_id, read, delivered) triples."""
    return {str(user): {"read": read, "delivered": delivered}
            for user, read, delivered in marks}


@dataclass
class SummaryBuffer:
    last: dict[str, Message] = field(default_factory=dict)
    reads: dict[str, dict[int, int]] = field(default_factory=dict)  # cid -> sender -> seq
    top_pos: int = 0

    def __bool__(self) -> bool:
        return bool(self.last)

    def add(self, m: Message) -> None:
        held = self.last.get(m.conversation_id)
        if held is None or held.seq < m.seq:
            self.last[m.conversation_id] = m
        senders = self.reads.setdefault(m.conversation_id, {})
        senders[m.sender_id] = max(senders.get(m.sender_id, 0), m.seq)
        self.top_pos = max(self.top_pos, m.pos)

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

    def merge(self, other: SummaryBuffer) -> None:
        for m in other.last.values():
            self.add(m)
        for cid, senders in other.reads.items():
            mine = self.reads.setdefault(cid, {})
            for sender, seq in senders.items():
                mine[sender] = max(mine.get(sender, 0), seq)
        self.top_pos = max(self.top_pos, other.top_pos)

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
        return ops

"""A deleted account's chat text, erased (docs/accounts.md, "Deleting an account").

The messages stay in place (their seqs, the replies that point at them, the others' read
marks all keep their meaning) but lose their text, attachments and search terms and are
marked deleted, as "delete for everyone" leaves them; so do the copies that durable events
(edits, reactions) and the conversation summaries carry.

Two phases, so that nothing written around the erasure puts the text back:
1. Outside the chat writer (it scans: nothing is indexed by sender, and sends must not wait
   seconds for it): the writer's buffered summaries hold the sender's messages as
   tombstones from its start (summaries.py `erasing`); the writer's head P, then every
   copy of the text is tombstoned.
   Then it catches up, still outside: what was stored in (P, H] for the head H it reads
   next, read by position, P = H; a few rounds, until the span left is small.
2. Inside the writer, alone (`MongoChatStore.serialized`: no batch in flight, no change),
   through the fence: what was written after P, read by position, which is short. That is a
   send committed during phase 1, a change that wrote the message before the scan reached
   it and the last message and its event's copy after (one that read it before and writes
   after is planned again: changes.py `_write_as_read`), and the summaries the buffer
   held: those of the conversations involved are flushed first (waiting for a slice in
   flight), so none is written after the last messages are tombstoned. From then on the
   writer refuses the sender's sends (writer.py `refuse_sender`), and every change reads
   the tombstones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ...domain.chat.changes import ErasedUpTo
from .chat_store import MongoChatStore
from .collections import ChatCollections

ERASED = {"text": "", "attachments": [], "terms": [], "deleted": True}
_ERASED_COPY = {f"message.{k}": v for k, v in ERASED.items()}
_ERASED_LAST = {f"last_message.{k}": v for k, v in ERASED.items()}

# Phase 1's catch-up: at most this many rounds, stopping once fewer positions than the span
# are left for phase 2 (a few milliseconds of the writer's time: docs/performance.md).
CATCH_UP_ROUNDS = 3
CATCH_UP_SPAN = 100


@dataclass
class _Found:
    """The sender's copies stored in a span of positions: the messages that events there
    copy (a change rewrote them in place), and the conversations involved."""

    positions: dict[str, int]
    changed: set[Any] = field(default_factory=set)
    conversations: set[str] = field(default_factory=set)


class MongoChatErasure:
    def __init__(self, store: MongoChatStore, db: ChatCollections | None = None, *,
                 catch_up_rounds: int = CATCH_UP_ROUNDS,
                 catch_up_span: int = CATCH_UP_SPAN) -> None:
        """`store`: the chat store whose writer runs phase 2. `db`: the collections (tests
        pass ones that hold a phase between two steps)."""
        self._store = store
        self._db = db if db is not None else ChatCollections()
        self.catch_up_rounds = catch_up_rounds
        self.catch_up_span = catch_up_span

    async def erase_sent(self, user_id: int) -> ErasedUpTo:
        """Phase 1: every copy of `user_id`'s text stored up to the position it returns;
        the conversations that held any. Idempotent: a failure leaves the account
        pending, and it runs again."""
        # The writer's buffered summaries first (this runs on the writer: wiring): from
        # here they hold the sender's messages as tombstones, so a flush (a change's,
        # before phase 2) writes no text back, and reads between the phases show none.
        await self._store.summaries.erasing(user_id)
        # The writer's head before the scans: every write that is not stored yet (in flight,
        # or a change still between its read and its write) has a position above it.
        since = await self._store.head()
        # Every conversation it ever sent to, erased already or not: a run after a failure
        # in phase 2 must still name them (the caller forgets their cached messages).
        conversations = set(await self._db.messages.distinct("conversation_id",
                                                             {"sender_id": user_id}))
        await self._db.messages.update_many({"sender_id": user_id}, {"$set": ERASED})
        await self._db.events.update_many({"message.sender_id": user_id},
                                          {"$set": _ERASED_COPY})
        await self._db.states.update_many({"last_message.sender_id": user_id},
                                          {"$set": _ERASED_LAST})
        # Sends go on while the scans run (seconds on a large store): what they stored is
        # swept here by position, so that phase 2, which holds every send, reads a short tail.
        for _ in range(self.catch_up_rounds):
            head = await self._store.head()
            if head - since < self.catch_up_span:
                break
            found = await self._find(user_id, {"$gt": since, "$lte": head}, None)
            await self._tombstone(user_id, found, None)
            conversations |= found.conversations
            since = head
        return ErasedUpTo(since, tuple(sorted(conversations)))

    async def erase_sent_since(self, user_id: int, erased: ErasedUpTo) -> list[str]:
        """Phase 2, in the writer: what was written past `erased.position`; the
        conversations it found besides `erased.conversation_ids`."""
        before = set(erased.conversation_ids)

        async def tail(next_pos: Callable[[], int]) -> set[str]:
            # From here no send of theirs is committed: a batch taken after this refuses it.
            self._store.writer.refuse_sender(user_id)
            # Read outside the transaction: the writer runs this alone, so nothing past the
            # position is written meanwhile but by a later writer, whose fence refuses ours.
            found = await self._find(user_id, {"$gt": erased.position}, None)
            involved = sorted(before | found.conversations)
            # Their buffered summaries (and a slice in flight: the summaries' lock) are
            # written before the last messages are tombstoned, never after.
            await self._store.summaries.flush(involved)

            async def write(session: Any) -> None:
                await self._tombstone(user_id, found, session)
                if involved:
                    await self._db.states.update_many(
                        {"_id": {"$in": involved}, "last_message.sender_id": user_id},
                        {"$set": _ERASED_LAST}, session=session)
            await self._store.fence.writes(self._db, write)
            self._store.summaries.erased(user_id)
            return found.conversations - before
        # Unbounded: the caller forgets the cached pages when this returns, so it must not
        # return (store_timeout) while the op still waits in a long queue and runs later; a
        # page read in between would keep the text the op then erases.
        return sorted(await self._store.serialized(tail, flushes_itself=True, bounded=False))

    async def _find(self, user_id: int, positions: dict[str, int], session: Any) -> _Found:
        """The sender's copies at these positions (the pos index): events carrying a copy
        of its message, and the conversations of those and of the messages it sent."""
        found = _Found(positions)
        async for d in self._db.events.find({"pos": positions, "message.sender_id": user_id},
                                            {"conversation_id": 1, "message._id": 1},
                                            session=session):
            found.changed.add(d["message"]["_id"])
            found.conversations.add(d["conversation_id"])
        found.conversations.update(await self._db.messages.distinct(
            "conversation_id", {"pos": found.positions, "sender_id": user_id},
            session=session))
        return found

    async def _tombstone(self, user_id: int, found: _Found, session: Any) -> None:
        """A rerun (the store aborted the transaction) writes the same. By position, not
        by `_id`: the embedded store answers an update of a long `_id` list in time that
        grows with its square (1.5 s for 1,000 ids, against 66 ms by position)."""
        if found.changed:
            await self._db.events.update_many(
                {"pos": found.positions, "message.sender_id": user_id},
                {"$set": _ERASED_COPY}, session=session)
            await self._db.messages.update_many({"_id": {"$in": sorted(found.changed)}},
                                                {"$set": ERASED}, session=session)
        await self._db.messages.update_many({"pos": found.positions, "sender_id": user_id},
                                            {"$set": ERASED}, session=session)

"""Erasing a deleted account's chat text: every message it sent becomes a tombstone.

The messages stay in place (their seqs, the replies that point at them, the others' read
marks all keep their meaning) but lose their text, attachments and search terms and are
marked deleted, as "delete for everyone" leaves them; so do the copies that durable events
(edits, reactions) and the conversation summaries carry.

Two phases, so that nothing written around the erasure puts the text back:
1. Outside the chat writer (it scans: nothing is indexed by sender, and sends must not wait
   seconds for it): the writer's head P first, then every copy of the text is tombstoned.
2. Inside the writer, alone (`MongoChatStore.serialized` with no conversation: the whole
   summary buffer is flushed first, and no batch is in flight), through the fence: what was
   written after P, read by position, which is short. That is a send committed during phase 1,
   a change that read the message before phase 1 and rewrote it (text, last message, its
   event's copy) after, and the summaries the buffer held. From then on the writer refuses
   the sender's sends (writer.py `refuse_sender`), and every change reads the tombstones.
"""

from __future__ import annotations

from typing import Any, Callable

from .chat_store import MongoChatStore
from .collections import ChatCollections

ERASED = {"text": "", "attachments": [], "terms": [], "deleted": True}
_ERASED_COPY = {f"message.{k}": v for k, v in ERASED.items()}
_ERASED_LAST = {f"last_message.{k}": v for k, v in ERASED.items()}


class MongoChatErasure:
    def __init__(self, store: MongoChatStore, db: ChatCollections | None = None) -> None:
        """`store`: the chat store whose writer runs phase 2. `db`: the collections (tests
        pass ones that hold a phase between two steps)."""
        self._store = store
        self._db = db if db is not None else ChatCollections()

    async def erase_sender(self, user_id: int) -> list[str]:
        """Tombstone every message `user_id` sent, and every copy of one; the conversations
        that held any. Idempotent: a failure leaves the account pending, and it runs again."""
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

        async def since_scan(next_pos: Callable[[], int]) -> set[str]:
            # From here no send of theirs is committed: a batch taken after this refuses it.
            self._store.writer.refuse_sender(user_id)
            return await self._store.fence.writes(
                self._db, lambda session: self._erase_since(user_id, since, conversations,
                                                            session))
        conversations |= await self._store.serialized(since_scan)
        return sorted(conversations)

    async def _erase_since(self, user_id: int, since: int, conversations: set[str],
                           session: Any) -> set[str]:
        """Phase 2's writes (in the fence's transaction, rerun whole if the store aborts
        it): what was written past `since`; the conversations it touched."""
        found = set(conversations)
        after = {"pos": {"$gt": since}}
        # Events past P carry copies made after phase 1 read them: tombstoned, and the
        # messages they copy were rewritten in place by that change (a position below P).
        changed: list[str] = []
        async for d in self._db.events.find({**after, "message.sender_id": user_id},
                                            {"conversation_id": 1, "message._id": 1},
                                            session=session):
            found.add(d["conversation_id"])
            changed.append(d["message"]["_id"])
        if changed:
            await self._db.events.update_many({**after, "message.sender_id": user_id},
                                              {"$set": _ERASED_COPY}, session=session)
            await self._db.messages.update_many({"_id": {"$in": changed}},
                                                {"$set": ERASED}, session=session)
        sent = {"pos": {"$gt": since}, "sender_id": user_id}
        async for d in self._db.messages.find(sent, {"conversation_id": 1}, session=session):
            found.add(d["conversation_id"])
        await self._db.messages.update_many(sent, {"$set": ERASED}, session=session)
        if found:
            await self._db.states.update_many(
                {"_id": {"$in": sorted(found)}, "last_message.sender_id": user_id},
                {"$set": _ERASED_LAST}, session=session)
        return found - conversations

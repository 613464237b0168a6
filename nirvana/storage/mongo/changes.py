"""MongoDB adapter of `ChatChangeStore`: edits, deletes, reactions, membership, search.

Every change runs inside the chat writer (`MongoChatStore.serialized`, writer.py), the one task that
allocates stream positions and writes conversation summaries. That gives two things: the
change's events get positions committed in order with messages and receipts (resume after
position P misses nothing below P), and the read-plan-write of a change cannot interleave
with another write to the same conversation (one writer process per database, as for sends).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from datetime import datetime
from typing import Any, Callable

from pymongo import DESCENDING, UpdateOne
from pymongo.errors import PyMongoError

from ...domain.chat.changes import (
    ConversationChanged,
    ConversationPlanner,
    ErasedUpTo,
    MessageChanged,
    MessagePlanner,
    PlannedEvent,
)
from ...domain.chat.entities import ChatEvent, Conversation, Message
from ...domain.chat.errors import MessageNotFoundError, NotMemberError
from .chat_store import MongoChatStore
from .codec import changed_fields, event_doc, marks_of, member_doc, message_doc, message_of
from .collections import ChatCollections
from .erasure import MongoChatErasure
from .fence import StaleReadError, retried
from .resume import FLOOR_ID

log = logging.getLogger("nirvana.chat.store")

class MongoChatChanges:
    def __init__(self, store: MongoChatStore, db: ChatCollections | None = None) -> None:
        """`db`: the collections (tests pass ones that meet a conflict)."""
        self._db = db if db is not None else ChatCollections()
        self._store = store
        # The resume floor, once read: it only rises through `prune_events`, in this process
        # (one process per database, see sends.py), and every resume asks for it.
        self._floor: int | None = None
        self._erasure = MongoChatErasure(store, self._db)

    async def _record(self, next_pos: Callable[[], int], planned: PlannedEvent,
                      conversation_id: str, actor_id: int, at: datetime,
                      message: Message | None = None, *, session: Any = None) -> ChatEvent:
        event = ChatEvent(pos=next_pos(), type=planned.type, conversation_id=conversation_id,
                          actor_id=actor_id, audience=planned.audience, created_at=at,
                          data=planned.data, message=message)
        await self._store.fence.insert_one(self._db.events, event_doc(event), session)
        return event

    async def _write_as_read(self, message: Message, update: dict[str, Any],
                             session: Any) -> Any:
        """A change's first write, of its message, only while its `deleted` flag is as
        read: an erasure that tombstoned it since (outside the writer, so also between the
        read and a transaction begun after it) leaves nothing to match, and the change is
        planned again from the tombstone (`StaleReadError`: `retried`) instead of being
        answered and announced with the erased text."""
        done = await self._db.messages.update_one(
            {"_id": message.id, "deleted": True if message.deleted else {"$ne": True}},
            update, session=session)
        if done.matched_count == 0:
            raise StaleReadError()
        return done

    async def _last_message_now(self, conversation: Conversation,
                                written: Message | None = None) -> Conversation:
        """`conversation` with its last message as stored once the change committed, for
        the change's answer and `conversation.updated` frames. An erasure's first phase
        tombstones it outside the writer without meeting a change that does not write it
        (to another message, to the group), so the copy read before would show the erased
        text again; read now, that write has landed (the tombstone) or not begun (the text
        is still stored, and erased everywhere by the erasure's end). As stored: the writer
        flushed the conversation's summary before the change, and nothing adds to it
        meanwhile (alone_commits.py `_op`). If this read fails, the committed change is
        still answered and announced (unless another writer took over meanwhile:
        alone_commits.py), with `written`, the message it wrote, when that is
        the last one, else with no last message (as for a member it is hidden from)."""
        try:
            state = await self._db.states.find_one({"_id": conversation.id},
                                                   {"last_message": 1})
        except PyMongoError as exc:
            log.warning("reading a changed conversation's last message failed: %s",
                        type(exc).__name__)
            last = conversation.last_message
            conversation.last_message = (
                written if written and last and last.id == written.id else None)
            return conversation
        if state and state.get("last_message"):
            conversation.last_message = message_of(state["last_message"])
        return conversation

    async def change_message(self, conversation_id: str, seq: int, actor_id: int,
                             at: datetime, plan: MessagePlanner, *,
                             on_applied: Callable[[MessageChanged | None], None] | None = None
                             ) -> MessageChanged:
        async def run(next_pos: Callable[[], int]):
            # Read, plan and write again if the store aborts the write (an erasure's
            # conflicting update, say) or the message changed since the read
            # (`_write_as_read`): a plan made from the first read would put back what that
            # erasure removed, and answer and announce its text (fence.py `retried`).
            return await retried(lambda: attempt(next_pos))

        async def attempt(next_pos: Callable[[], int]):
            d = await self._db.messages.find_one({"conversation_id": conversation_id,
                                               "seq": seq})
            conversation = await self._db.read_conversation({"_id": conversation_id})
            if conversation is None:
                raise NotMemberError()
            if d is None:
                raise MessageNotFoundError()
            message = message_of(d)
            planned = plan(message, conversation)
            if planned is None:
                return message, conversation, None
            # The change's writes land with its event or not at all (fence.py `writes`),
            # tried once: `run` plans again for another try.
            fenced = functools.partial(self._store.fence.writes, attempts=1)
            if planned.hide_for is not None:
                hidden = dataclasses.replace(
                    message, hidden_for=(*message.hidden_for, planned.hide_for))

                async def hide(session: Any) -> ChatEvent | None:
                    done = await self._write_as_read(
                        message, {"$addToSet": {"hidden_for": planned.hide_for}}, session)
                    if done.modified_count == 0:
                        return None  # hidden already: hiding twice emits one event only
                    # The chat list shows the last message: hide it there too.
                    await self._db.states.update_one(
                        {"_id": conversation_id, "last_message._id": message.id},
                        {"$addToSet": {"last_message.hidden_for": planned.hide_for}},
                        session=session)
                    return await self._record(next_pos, planned.event, conversation_id,
                                              actor_id, at, session=session)
                event = await fenced(self._db, hide)
                if event is None:
                    return message, conversation, None
                return hidden, await self._last_message_now(conversation, hidden), event
            new = planned.message
            is_last = bool(conversation.last_message
                           and conversation.last_message.id == message.id)

            async def change(session: Any) -> ChatEvent:
                await self._write_as_read(message, {"$set": changed_fields(new)}, session)
                if new.deleted:
                    # Earlier events (edits, reactions) carry copies of the message for
                    # resume: deleted for everyone means gone from those too. Found through
                    # the sparse (message._id) index (documents.py), whatever their age.
                    await self._db.events.update_many(
                        {"message._id": message.id},
                        {"$set": {"message.text": "", "message.attachments": [],
                                  "message.terms": [], "message.deleted": True}},
                        session=session)
                if is_last:
                    await self._db.states.update_one(
                        {"_id": conversation_id, "last_message._id": message.id},
                        {"$set": {"last_message": message_doc(new)}}, session=session)
                return await self._record(next_pos, planned.event, conversation_id,
                                          actor_id, at, new, session=session)
            event = await fenced(self._db, change)
            return new, await self._last_message_now(conversation, new), event
        return await self._store.serialized(run, conversation_id=conversation_id,
                                            on_done=on_applied)

    async def change_conversation(self, conversation_id: str, actor_id: int, at: datetime,
                                  plan: ConversationPlanner, *,
                                  on_applied: Callable[[ConversationChanged | None], None]
                                  | None = None) -> ConversationChanged:
        async def run(next_pos: Callable[[], int]):
            # As a message's change: each try plans from what is stored then.
            return await retried(lambda: attempt(next_pos))

        async def attempt(next_pos: Callable[[], int]):
            conversation = await self._db.read_conversation({"_id": conversation_id})
            if conversation is None:
                raise NotMemberError()
            planned = plan(conversation)
            if planned is None:
                return conversation, []
            conversation.members = planned.members
            for key, value in planned.info.items():
                setattr(conversation, key, value)

            async def change(session: Any) -> list[ChatEvent]:
                # With the members, their marks: one added starts read up to now (the
                # plan's). In the fence's transaction; without one (a store that has
                # none, which the fence's OneCommit learned) one by one.
                await self._store.fence.transactions.write([
                    (self._db.conversations, [UpdateOne({"_id": conversation_id}, {"$set": {
                        "members": [member_doc(m) for m in planned.members],
                        "member_ids": [m.user_id for m in planned.members],
                        **planned.info}})]),
                    (self._db.states, [UpdateOne({"_id": conversation_id},
                                              {"$max": marks_of(planned.members)})])],
                    session=session)
                return [await self._record(next_pos, e, conversation_id, actor_id, at,
                                           session=session)
                        for e in planned.events]
            members = self._store.writer.members
            generation = members.generation
            try:
                events = await self._store.fence.writes(self._db, change, attempts=1)
            except BaseException:
                members.unknown(conversation_id)  # it may have landed
                raise
            # Inside the writer: the work it numbers next gets these members (writer.py);
            # not if a lead began another tenure meanwhile, whose record starts empty.
            if members.generation == generation:
                members.changed(conversation_id, conversation.member_ids)
            return await self._last_message_now(conversation), events
        return await self._store.serialized(run, conversation_id=conversation_id,
                                            on_done=on_applied)

    async def erase_sent(self, user_id: int) -> ErasedUpTo:
        return await self._erasure.erase_sent(user_id)

    async def erase_sent_since(self, user_id: int, erased: ErasedUpTo) -> list[str]:
        return await self._erasure.erase_sent_since(user_id, erased)

    async def messages_for(self, user_id: int, conversation_id: str, *, before: int | None,
                           after: int | None, limit: int) -> list[Message]:
        return await self._store.history(conversation_id, before=before, after=after,
                                         limit=limit, hidden_for=user_id)

    async def search(self, user_id: int, conversation_ids: list[str], terms: list[str],
                     prefix: str | None, limit: int) -> list[Message]:
        wanted: list[Any] = list(terms)
        if prefix is not None:
            wanted.append(re.compile("^" + re.escape(prefix)))
        query = {"terms": {"$all": wanted}, "conversation_id": {"$in": conversation_ids},
                 "deleted": {"$ne": True}, "hidden_for": {"$ne": user_id}}
        cursor = self._db.messages.find(query).sort("pos", DESCENDING).limit(limit)
        return [message_of(d) async for d in cursor]

    async def co_member_ids(self, user_id: int) -> set[int]:
        ids = await self._db.conversations.distinct("member_ids", {"member_ids": user_id})
        return set(ids) - {user_id}

    async def prune_events(self, before: datetime) -> int:
        newest = await self._db.events.find_one({"created_at": {"$lt": before}},
                                             sort=[("pos", DESCENDING)], projection={"pos": 1})
        if newest is None:
            return 0
        # The floor rises before the delete: a crash in between refuses a resume that
        # might have worked, never lets one skip a deleted event.
        await self._db.meta.update_one({"_id": FLOOR_ID}, {"$max": {"pos": newest["pos"]}},
                                    upsert=True)
        self._floor = max(self._floor or 0, newest["pos"])
        done = await self._db.events.delete_many({"pos": {"$lte": newest["pos"]}})
        return done.deleted_count

    async def resume_floor(self) -> int:
        if self._floor is None:
            d = await self._db.meta.find_one({"_id": FLOOR_ID})
            self._floor = max(self._floor or 0, d["pos"] if d else 0)
        return self._floor


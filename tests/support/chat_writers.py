"""Two chat writers over one store (storage/mongo/fence.py): a paused insert, sends, and
lifting the fence after a test (emptying the collections keeps their validator, and one
left at a high epoch would refuse the next test's writer, which leads at a lower one)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from pymongo.errors import OperationFailure

from nirvana.domain.chat.entities import Conversation, Message, MessageDraft, MessageKind
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.sends import insert_messages

FENCED = ("chat_messages", "chat_events")


async def lift_fence(db: Any) -> None:
    for name in FENCED:
        try:
            await db.command({"collMod": name, "validator": {}, "validationLevel": "off"})
        except OperationFailure as exc:
            if exc.code != 26:  # the collection was never made: nothing to lift
                raise


class PausedInsert:
    """The real insert; once `armed`, held (after the writer's own lease check, which runs
    before it) until `release` is set."""

    def __init__(self) -> None:
        self._insert = insert_messages(ChatCollections())
        self.armed = False
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, docs: list[dict[str, Any]]) -> None:
        if self.armed:
            self.reached.set()
            await self.release.wait()
        await self._insert(docs)


def draft(conversation: Conversation, sender: int, client_id: str) -> MessageDraft:
    return MessageDraft(conversation.id, sender, client_id, MessageKind.TEXT, client_id, (),
                        None, tuple(conversation.member_ids), datetime.now(timezone.utc))


async def send(store: MongoChatStore, conversation: Conversation, sender: int,
               client_id: str) -> Message:
    message, _ = await store.append(draft(conversation, sender, client_id))
    return message

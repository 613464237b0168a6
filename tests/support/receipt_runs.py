"""Receipts committed in runs (storage/mongo/receipt_commits.py): a writer over counted
collections with conversations to mark, and marks queued behind a held writer so that it
takes them at once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any, Callable

from nirvana.domain.chat.entities import (
    Conversation,
    ConversationKind,
    Member,
    Receipt,
    ReceiptKind,
    Role,
)
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.receipt_hold import RECEIPT_HOLD
from tests.support.chat_collections import SteeredCollections
from tests.support.chat_writers import chat_on, chat_writer
from tests.support.held_writer import writer_held

Marks = list[tuple[Any, int, ReceiptKind, int]]  # (conversation, user, kind, seq)


async def receipts_world(services, chats, writers, receipt_hold: float = RECEIPT_HOLD):
    """A writer over counted collections (holding receipts up to `receipt_hold` for the
    rest of a message's); a's conversations with b, with c, and a group of a, b and c,
    each with three messages of a's."""
    a, b, with_b, with_c = chats
    c = next(m for m in with_c.member_ids if m != a)
    db = SteeredCollections()
    store = await chat_writer(writers, db=db, receipt_hold=receipt_hold)
    chat = chat_on(store, services, db)
    group = await chat.create_group(a, "g", [b, c])
    for conversation in (with_b, with_c, group):
        for n in range(3):
            await chat.send_message(a, conversation.id, client_id=f"{conversation.id}-{n}",
                                    text=f"{n}")
    return db, store, (a, b, c), {"b": with_b, "c": with_c, "g": group}


async def queued_together(store: MongoChatStore, marks: Marks,
                          on_recorded: Callable[[Receipt | None], None] | None = None
                          ) -> list[Any]:
    """Queue `marks` behind a held writer, so that it takes them at once; their answers (a
    receipt, None, or the error), in order. `on_recorded`: each one's, as the chat service
    passes its own (the hub, for a receipt)."""
    async with writer_held(store, bound=None):
        queued = [asyncio.ensure_future(store.record_receipt(
            conversation.id, user, kind, seq, tuple(conversation.member_ids),
            on_recorded=on_recorded))
            for conversation, user, kind, seq in marks]
        await asyncio.sleep(0)  # each queued by its first step
    async with asyncio.timeout(10):
        return list(await asyncio.gather(*queued, return_exceptions=True))


async def room_of(store: MongoChatStore, owner: int, size: int = 10) -> Conversation:
    """A group of `size` with `owner`, the others users of no account (the store checks
    none: what a run of receipts reads is the conversation's state)."""
    now = datetime.now(timezone.utc)
    room = Conversation(
        id=f"room-{owner}", kind=ConversationKind.GROUP, name="room",
        members=[Member(owner, Role.OWNER)] + [Member(1_000_000 + n) for n in range(1, size)],
        created_by=owner, created_at=now, last_activity=now)
    return await store.create_conversation(room, None)

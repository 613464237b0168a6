"""A message's audience is the membership at its position (docs/protocol.md, "Groups"): a
send drafted while a member's removal (or an add) was queued but not yet committed is
stored after it, and must go to the members from that change on, not to those its draft
read from the cache. The removal is held inside the writer (its read of the conversation)
while the sends are queued behind it. Over the real MongoDB-wire store, the chat service's
own cache and the hub's delivery (which delivers a message to its audience)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nirvana.domain.chat.entities import (
    ChatEvent, EventType, Message, Receipt, ReceiptKind)
from nirvana.domain.chat.errors import NotMemberError
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.wiring.chat_notices import ChatMentions
from nirvana.wiring.events import ChatPublishers
from tests.support.chat_writers import chat_on, chat_writer
from tests.support.people import a_with_two_friends


class HeldChange(ChatCollections):
    """Once `armed`, the next change's read of its conversation (inside the writer) waits
    for `release`: the change is taken, and not committed, until then."""

    def __init__(self) -> None:
        self.armed = False
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def read_conversation(self, query: dict[str, Any]) -> Any:
        if self.armed:
            self.armed = False
            self.reached.set()
            await self.release.wait()
        return await super().read_conversation(query)


class Heard:
    """The hub, and every message it was handed to deliver."""

    def __init__(self, hub: Any) -> None:
        self._hub = hub
        self.posted: list[Message] = []

    def message_posted(self, message: Message, conversation: Any) -> None:
        self.posted.append(message)
        self._hub.message_posted(message, conversation)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hub, name)


async def _group(services, client, writers):
    a, b, c = await a_with_two_friends(client, services)
    store = await chat_writer(writers, fenced=False)
    held, heard = HeldChange(), Heard(services.hub)
    chat = chat_on(store, services, held, publisher=ChatPublishers(
        heard, ChatMentions(services.notifications)))
    group = await chat.create_group(a, "g", [b, c])
    await chat.send_message(c, group.id, client_id="before", text="before")
    return a, b, c, store, held, heard, chat, group


async def _held(held: HeldChange, change) -> asyncio.Task:
    held.armed = True
    task = asyncio.create_task(change)
    await asyncio.wait_for(held.reached.wait(), 10)
    return task


async def test_a_send_queued_behind_a_removal_is_not_the_removed_members(
        services, client, writers):
    a, b, c, store, held, heard, chat, group = await _group(services, client, writers)
    since = await store.head()
    removal = await _held(held, chat.remove_members(a, group.id, [b]))
    # Taken by the writer, not committed: the cache still has b, so both sends pass their
    # checks and are queued behind it.
    after = await chat.submit_message(c, group.id, client_id="after", text="after")
    own = await chat.submit_message(b, group.id, client_id="own", text="own")
    held.release.set()
    await asyncio.wait_for(removal, 10)
    message, _ = await asyncio.wait_for(after, 10)
    # The leak first: the message stored after the removal went to the members before it.
    assert sorted(message.audience) == sorted((a, c))
    assert [sorted(m.audience) for m in heard.posted if m.text == "after"] == [sorted((a, c))]
    removed = [i for i in (await chat.resume(a, since)).items
               if isinstance(i, ChatEvent) and i.type is EventType.MEMBER_REMOVED]
    assert len(removed) == 1 and removed[0].pos < message.pos
    with pytest.raises(NotMemberError):
        await asyncio.wait_for(own, 10)
    assert "own" not in [m.text for m in heard.posted]
    stored = await ChatCollections().messages.find_one({"_id": message.id})
    assert sorted(stored["audience"]) == sorted((a, c))
    assert [m.text for m in await chat.history(a, group.id)] == ["before", "after"]
    # b resumes from before the removal: the removal, and nothing after it.
    replay = (await chat.resume(b, since)).items
    assert [(type(i).__name__, getattr(i, "type", None)) for i in replay] == [
        ("ChatEvent", EventType.MEMBER_REMOVED)]


async def test_a_send_queued_behind_an_add_is_the_added_members(services, client, writers):
    a, b, c, store, held, heard, chat, group = await _group(services, client, writers)
    await chat.remove_members(a, group.id, [b])
    since = await store.head()
    adding = await _held(held, chat.add_members(a, group.id, [b]))
    after = await chat.submit_message(c, group.id, client_id="after", text="after")
    held.release.set()
    await asyncio.wait_for(adding, 10)
    message, _ = await asyncio.wait_for(after, 10)
    assert sorted(message.audience) == sorted((a, b, c))
    assert [m.text for m in (await chat.resume(b, since)).items
            if isinstance(m, Message)] == ["after"]


async def test_a_receipt_queued_behind_a_removal_is_refused(services, client, writers):
    a, b, c, store, held, heard, chat, group = await _group(services, client, writers)
    await chat.send_message(a, group.id, client_id="read me", text="read me")  # seq 2
    since = await store.head()
    removal = await _held(held, chat.remove_members(a, group.id, [b]))
    mark = asyncio.create_task(chat.mark(b, group.id, ReceiptKind.READ, 2))
    seen = asyncio.create_task(chat.mark(c, group.id, ReceiptKind.READ, 2))
    # With the conversation cached (by `_group`'s send), a mark reaches the writer's queue
    # in its task's first step, behind the held removal: a few turns of the loop suffice.
    for _ in range(5):
        await asyncio.sleep(0)
    held.release.set()
    await asyncio.wait_for(removal, 10)
    with pytest.raises(NotMemberError):
        await asyncio.wait_for(mark, 10)
    await asyncio.wait_for(seen, 10)
    receipts = [i for i in (await chat.resume(a, since)).items if isinstance(i, Receipt)]
    assert [(r.user_id, sorted(r.audience)) for r in receipts] == [(c, sorted((a, c)))]


async def test_a_mention_queued_behind_a_removal_tells_only_the_members_at_its_position(
        services, client, writers):
    a, b, c, store, held, heard, chat, group = await _group(services, client, writers)
    names = dict(await services.pool.fetch(
        "SELECT id, username FROM users WHERE id = ANY($1::bigint[])", [a, b]))
    removal = await _held(held, chat.remove_members(a, group.id, [b]))
    after = await chat.submit_message(c, group.id, client_id="after",
                                      text=f"@{names[b]} and @{names[a]}")
    held.release.set()
    await asyncio.wait_for(removal, 10)
    await asyncio.wait_for(after, 10)
    async with asyncio.timeout(10):  # a, mentioned after b, is told once b's turn is over
        while await services.notifications.unread_count(a) == 0:
            await asyncio.sleep(0.02)
    assert await services.notifications.unread_count(b) == 0

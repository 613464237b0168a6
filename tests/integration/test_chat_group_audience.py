"""A message's audience is the membership at its position (docs/protocol.md, "Groups"): a
send drafted while a member's removal (or an add) was queued but not yet committed is
stored after it, and must go to the members from that change on, not to those its draft
read from the cache. The removal is held inside the writer (its read of the conversation)
while the sends are queued behind it. Over the real MongoDB-wire store, the chat service's
own cache and the hub's delivery (which delivers a message to its audience)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from nirvana.domain.chat.entities import (
    ChatEvent, EventType, Message, MessageDraft, MessageKind, Receipt, ReceiptKind)
from nirvana.domain.chat.errors import NotMemberError
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.wiring.chat_notices import ChatMentions
from nirvana.wiring.events import ChatPublishers
from tests.support.chat_writers import chat_on, chat_writer
from tests.support.delegating import Delegating
from tests.support.erasure_steps import ErasureSteps
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


async def test_a_retry_of_a_send_stored_before_the_removal_gets_the_stored_message(
        services, client, writers):
    """b's "x" was stored (its ack lost, say); b retries it, with the same client_id, while
    b's removal is taken by the writer: the retry is answered with the stored message, not
    refused (the first attempt reached everyone)."""
    a, b, c, store, held, heard, chat, group = await _group(services, client, writers)
    first, created = await chat.send_message(b, group.id, client_id="x", text="x")
    assert created
    removal = await _held(held, chat.remove_members(a, group.id, [b]))
    retry = await chat.submit_message(b, group.id, client_id="x", text="x")
    held.release.set()
    await asyncio.wait_for(removal, 10)
    again, created = await asyncio.wait_for(retry, 10)
    assert (again.id, again.seq, created) == (first.id, first.seq, False)
    # After the removal, a new send of b's is refused (the instance's cache knows it).
    with pytest.raises(NotMemberError):
        await chat.send_message(b, group.id, client_id="y", text="y")


def _draft(group_id: str, sender: int, client_id: str, audience: tuple[int, ...]
           ) -> MessageDraft:
    return MessageDraft(conversation_id=group_id, sender_id=sender, client_id=client_id,
                        kind=MessageKind.TEXT, text=client_id, attachments=(), reply_to=None,
                        audience=audience, created_at=datetime.now(timezone.utc))


async def _removal_then_a_failed_rename(chat, store, steps, a: int, b: int, c: int):
    """A group of a, b, c; b's removal committed, then a rename that fails with no answer at
    its write (AutoReconnect): the rename's outcome is unknown to the writer."""
    group = await chat.create_group(a, "g", [b, c])
    await chat.send_message(c, group.id, client_id="before", text="before")
    await chat.remove_members(a, group.id, [b])
    await store.summaries.flush()

    async def fail() -> None:
        raise AutoReconnect("no answer")
    steps.before_states_bulk = fail
    with pytest.raises(AutoReconnect):
        await chat.update_group(a, group.id, {"name": "renamed"})
    return group


async def test_a_change_of_unknown_outcome_keeps_an_earlier_removal(services, client, writers):
    """b's removal commits; a later change to the group (a rename) fails with no answer.
    Work drafted before the removal landed (its audience still has b), queued after the
    failure, still gets the members at its position: the writer reads them from the store
    rather than trust the draft."""
    a, b, c = await a_with_two_friends(client, services)
    store = await chat_writer(writers, fenced=False)
    steps = ErasureSteps()
    chat = chat_on(store, services, steps)
    group = await _removal_then_a_failed_rename(chat, store, steps, a, b, c)
    assert steps.before_states_bulk is None  # the rename reached its write and failed
    stale = (a, b, c)
    message, _ = await store.append(_draft(group.id, c, "late", stale),
                                    admitted=store.admission())
    assert sorted(message.audience) == sorted((a, c))
    with pytest.raises(NotMemberError):
        await store.append(_draft(group.id, b, "own", stale), admitted=store.admission())
    receipt = await store.record_receipt(group.id, c, ReceiptKind.READ, message.seq, stale)
    assert receipt is not None and sorted(receipt.audience) == sorted((a, c))


class RefusedMembers(ErasureSteps):
    """While `refuse` is set, the writer's read of members (a find projecting `member_ids`)
    is answered with an error by the store."""

    refuse = False

    @property
    def conversations(self) -> Any:
        return _Conversations(super().conversations, self)


class _Conversations(Delegating[RefusedMembers]):
    def find(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if self._steer.refuse and args and args[0] == {"member_ids": 1}:
            return _refused_cursor()
        return self._inner.find(query, *args, **kwargs)


async def _refused_cursor():
    raise OperationFailure("the store refused it (test)", code=96)
    yield {}  # an async generator: the error comes at the first read, as a cursor's does


async def test_an_error_answered_to_the_members_read_fails_the_work_not_the_writer(
        services, client, writers):
    """A group in doubt (a rename of unknown outcome); the store answers the writer's read of
    its members with an error. The send and the receipt queued then are refused
    `unavailable` rather than held while the read is asked forever; once the store reads
    again, the next ones get the members at their position."""
    a, b, c = await a_with_two_friends(client, services)
    steps = RefusedMembers()
    store = await chat_writer(writers, fenced=False, db=steps)
    chat = chat_on(store, services, steps)
    group = await _removal_then_a_failed_rename(chat, store, steps, a, b, c)
    stale = (a, b, c)
    steps.refuse = True
    with pytest.raises(UnavailableError):
        await asyncio.wait_for(store.append(_draft(group.id, c, "refused", stale),
                                            admitted=store.admission()), 10)
    with pytest.raises(UnavailableError):
        await asyncio.wait_for(
            store.record_receipt(group.id, c, ReceiptKind.READ, 1, stale), 10)
    steps.refuse = False
    message, _ = await store.append(_draft(group.id, c, "late", stale),
                                    admitted=store.admission())
    assert sorted(message.audience) == sorted((a, c))

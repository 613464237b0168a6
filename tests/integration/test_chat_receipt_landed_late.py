"""A receipt whose reader stopped waiting (answered `store_timeout`, or cancelled by an HTTP
route's deadline), and which lands later: it is announced then, from what is current when it
lands, never from the conversation read before it was queued. A change applied meanwhile (a
delete for everyone of the last message, a member's removal) must not come back through it:
no removed text in the conversation announced, no conversation announced with a removed
member, and the cached read marks stay right. Over the real MongoDB-wire store, the chat service's own cache
and a recording publisher."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.chat.entities import ReceiptKind
from nirvana.storage.mongo.chat_store import MongoChatStore
from tests.support.chat_writers import chat_on
from tests.support.fakes_chat import PositionsPublisher
from tests.support.held_writer import STOPS_WAITING, answered_store_timeout, writer_held


class AroundRecording(MongoChatStore):
    """The real store, with the test's steps just before a receipt is queued (`before`) and
    just after it is answered (`after`): what other requests may do to the cache between
    the store's `on_recorded` and the reader's task waking to the answer."""

    async def before(self) -> None:
        return None

    def after(self) -> None:
        return None

    async def record_receipt(self, *args, **kwargs):
        await self.before()
        receipt = await super().record_receipt(*args, **kwargs)
        self.after()
        return receipt


def _chat(services, writers, store=None):
    store = MongoChatStore() if store is None else store
    writers.append(store)
    published = PositionsPublisher()
    return store, chat_on(store, services, publisher=published), published


@pytest.mark.parametrize("stop", list(STOPS_WAITING))
async def test_a_receipt_that_lands_after_its_reader_left_is_announced(
        services, chats, writers, stop):
    a, b, with_b, _ = chats
    store, chat, published = _chat(services, writers)
    await chat.send_message(a, with_b.id, client_id="one", text="one")
    await chat.conversation_for(b, with_b.id)  # cached, b's read mark 0
    async with writer_held(store):
        await STOPS_WAITING[stop](chat.mark(b, with_b.id, ReceiptKind.READ, 1))
        published.events.clear()
    assert published.events == [("receipt", b, 1), ("conversation", with_b.id, (b,))]
    assert published.audiences == [(a, b)]
    assert (await chat.conversation_for(b, with_b.id)).member(b).read_seq == 1


@pytest.mark.parametrize("read_between", [False, True], ids=["forgotten", "read again"])
async def test_a_receipt_that_lands_after_a_delete_for_everyone_brings_back_no_text(
        services, chats, writers, read_between):
    """b's mark is queued behind a's delete for everyone of the last message, with b's
    conversation (its last message "two") read before both; the delete lands first, and
    b's conversation is read again meanwhile or not."""
    a, b, with_b, _ = chats
    store, chat, published = _chat(services, writers)
    for text in ("one", "two"):
        await chat.send_message(a, with_b.id, client_id=text, text=text)
    assert (await chat.conversation_for(b, with_b.id)).last_message.text == "two"

    async def read_again(next_pos) -> None:
        # Run by the writer between the two: the delete is applied, the mark not yet.
        if read_between:
            await chat.conversation_for(b, with_b.id)
    async with writer_held(store):
        # Queued by each task's first step, in this order.
        deleting = asyncio.create_task(chat.delete_message(a, with_b.id, 2, for_everyone=True))
        between = asyncio.create_task(
            store.serialized(read_again, bounded=False, flushes_itself=True))
        marking = asyncio.create_task(chat.mark(b, with_b.id, ReceiptKind.READ, 2))
        await answered_store_timeout(deleting)
        await answered_store_timeout(marking)
        published.updates.clear()
    await asyncio.wait_for(between, 10)
    # Announced to b: the conversation as cached when the mark landed, if it was; the
    # receipt to both either way (a's tick is live).
    assert [text for text, _ in published.updates] == ([""] if read_between else [])
    assert published.audiences == [(a, b)]
    conversation = await chat.conversation_for(b, with_b.id)
    assert conversation.last_message.text == ""
    assert conversation.member(b).read_seq == 2
    assert conversation.unread_for(b) == 0


async def test_a_receipt_that_lands_after_a_member_was_removed_announces_no_stale_group(
        services, chats, writers):
    """The removal forgot the group: the receipt goes to the audience it was stored with,
    the members at its position (the writer stored c's removal first: not c), and no
    conversation is announced from the copy read before, which still had c."""
    a, b, _, with_c = chats
    c = next(m for m in with_c.member_ids if m != a)
    store, chat, published = _chat(services, writers)
    group = await chat.create_group(a, "late", [b, c])
    await chat.send_message(a, group.id, client_id="one", text="one")
    await chat.conversation_for(b, group.id)  # cached with c a member
    async with writer_held(store):
        removing = asyncio.create_task(chat.remove_members(a, group.id, [c]))
        marking = asyncio.create_task(chat.mark(b, group.id, ReceiptKind.READ, 1))
        await answered_store_timeout(removing)
        await answered_store_timeout(marking)
        published.events.clear()
        published.audiences.clear()
        published.updates.clear()
    assert ("receipt", b, 1) in published.events
    assert published.audiences == [(a, b)]  # as stored: c was removed before it
    assert all(c not in members for _, members in published.updates)


async def test_a_conversation_cached_while_the_reader_wakes_is_answered_raised_and_announced(
        services, chats, writers):
    """Nothing cached when the receipt is stored (a change forgot it), and a read that
    started after that forget but before the mark was stored is cached before the reader's
    task wakes: the reader is answered, and their devices told, with the mark raised."""
    a, b, with_b, _ = chats
    store, chat, published = _chat(services, writers, AroundRecording())
    await chat.send_message(a, with_b.id, client_id="one", text="one")
    await chat.conversation_for(b, with_b.id)
    read_before: list = []

    async def before() -> None:
        chat.cache.forget(with_b.id)
        generation = chat.cache.generation(with_b.id)
        read_before.append((await store.get_conversation(with_b.id), generation))
    store.before = before
    store.after = lambda: chat.cache.keep(*read_before[0])
    published.events.clear()
    answer = await chat.mark(b, with_b.id, ReceiptKind.READ, 1)
    assert answer.member(b).read_seq == 1
    assert chat.cache.conversation(with_b.id).member(b).read_seq == 1
    assert published.events == [("receipt", b, 1), ("conversation", with_b.id, (b,))]


async def test_a_conversation_forgotten_while_the_reader_wakes_is_announced_once(
        services, chats, writers):
    """The receipt is announced with the cached conversation, which is forgotten (another
    change) before the reader's task wakes: read again for the answer, not announced again."""
    a, b, with_b, _ = chats
    store, chat, published = _chat(services, writers, AroundRecording())
    await chat.send_message(a, with_b.id, client_id="one", text="one")
    await chat.conversation_for(b, with_b.id)
    store.after = lambda: chat.cache.forget(with_b.id)
    published.events.clear()
    answer = await chat.mark(b, with_b.id, ReceiptKind.READ, 1)
    assert answer.member(b).read_seq == 1
    assert published.events == [("receipt", b, 1), ("conversation", with_b.id, (b,))]

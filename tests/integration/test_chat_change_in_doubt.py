"""A change to a message whose outcome is unknown: its caller got an error (the writer's bound
passed while the change was still under way), and the change landed after. The chat
service's cache (domain/chat/edits.py `_forget_in_doubt`) must not serve its page and
conversation from before the change: the next reads show the change. A refused change wrote
nothing, and the cached page stays. Over the real MongoDB-wire store and the chat service's
own cache. (A change whose own writes stop part way is another matter, of the store's
atomicity rather than the cache's.)"""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.chat.errors import MessageNotFoundError, NotAllowedError
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from tests.support.chat_reads import CountingCollections
from tests.support.chat_writers import chat_on
from tests.support.erasure_steps import ErasureSteps


async def _two_messages_read(chat, a: int, b: int, conversation_id: str) -> None:
    """a sends "one" and "two"; b reads the history, which the chat service now caches."""
    for text in ("one", "two"):
        await chat.send_message(a, conversation_id, client_id=text, text=text)
    assert [m.text for m in await chat.history(b, conversation_id)] == ["one", "two"]


async def _stored_last_text(conversation_id: str) -> str:
    state = await ChatCollections().states.find_one({"_id": conversation_id})
    return state["last_message"]["text"]


async def test_after_a_change_in_doubt_the_next_reads_show_the_change(
        services, chats, writers):
    a, b, with_b, _ = chats
    store = MongoChatStore()
    writers.append(store)
    steps = ErasureSteps()
    chat = chat_on(store, services, steps)
    await _two_messages_read(chat, a, b, with_b.id)
    bound, at_hold, release = store.writer.timeout, asyncio.Event(), asyncio.Event()

    async def held() -> None:
        at_hold.set()
        await release.wait()

    async def nothing(next_pos) -> None:
        return None
    # The edit's message write lands, then the change is held there until its caller has
    # been answered store_timeout; released, it writes the rest (its summary, its event).
    steps.after_message_write = held
    store.writer.timeout = 0.05  # its caller is answered store_timeout after twice this
    try:
        edit = asyncio.create_task(chat.edit_message(a, with_b.id, 2, "two, edited"))
        await asyncio.wait_for(at_hold.wait(), 10)
        with pytest.raises(UnavailableError) as unknown:
            await edit
        assert unknown.value.code == "store_timeout"
    finally:
        store.writer.timeout = bound
        release.set()
    await asyncio.wait_for(store.serialized(nothing), 10)  # queued behind it: it has ended
    assert await _stored_last_text(with_b.id) == "two, edited"
    page = await chat.history(b, with_b.id)
    assert [m.text for m in page] == ["one", "two, edited"]
    conversation = await chat.conversation_for(b, with_b.id)
    assert conversation.last_message.text == "two, edited"


async def test_a_refused_change_keeps_the_cached_page(services, chats, writers):
    """A change the planner refuses wrote nothing: the next page is served from memory (no
    read of the store), or any member could make a busy room's history be read again with
    each refused reaction."""
    a, b, with_b, _ = chats
    counts = CountingCollections()
    store = MongoChatStore(db=counts)
    writers.append(store)
    chat = chat_on(store, services)
    await _two_messages_read(chat, a, b, with_b.id)
    counts.reset()
    with pytest.raises(MessageNotFoundError):
        await chat.react(b, with_b.id, 9, "👍")
    with pytest.raises(NotAllowedError):
        await chat.edit_message(b, with_b.id, 1, "not mine")
    assert [m.text for m in await chat.history(b, with_b.id)] == ["one", "two"]
    assert counts.reads == 0

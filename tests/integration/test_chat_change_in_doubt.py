"""A change to a message whose outcome is unknown: its write landed, but the caller got an
error (the answer lost on the way back; the writer's bound passed while the change was still
under way). The chat service's cache (domain/chat/edits.py `_forget_in_doubt`) must not
serve its page and conversation from before the change: the next reads show what is stored.
A refused change wrote nothing, and the cached page stays. Over the real MongoDB-wire store
and the chat service's own cache."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.errors import AutoReconnect

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


@pytest.mark.parametrize("doubt", ["answer lost", "writer's bound passed"])
async def test_after_a_change_in_doubt_the_next_reads_show_what_is_stored(
        services, chats, writers, doubt):
    a, b, with_b, _ = chats
    store = MongoChatStore()
    writers.append(store)
    steps = ErasureSteps()
    chat = chat_on(store, services, steps)
    await _two_messages_read(chat, a, b, with_b.id)
    bound, release = store.writer.timeout, asyncio.Event()

    async def answer_lost() -> None:
        raise AutoReconnect("the connection dropped before the answer came (test)")

    async def held() -> None:
        await release.wait()

    async def nothing(next_pos) -> None:
        return None
    # Either way the edit's message write lands (before the reads below), and its caller
    # gets an error.
    if doubt == "answer lost":
        steps.after_message_write = answer_lost
        with pytest.raises(AutoReconnect):
            await chat.edit_message(a, with_b.id, 2, "two, edited")
    else:
        steps.after_message_write = held
        store.writer.timeout = 0.05  # its caller is answered store_timeout after twice this
        with pytest.raises(UnavailableError) as unknown:
            await chat.edit_message(a, with_b.id, 2, "two, edited")
        assert unknown.value.code == "store_timeout"
        store.writer.timeout = bound
        release.set()  # the change goes on in the writer (its summary, its event), unanswered
        await store.serialized(nothing)  # queued behind the change: it has ended
    page = await chat.history(b, with_b.id)
    assert [m.text for m in page] == ["one", "two, edited"]
    conversation = await chat.conversation_for(b, with_b.id)
    assert conversation.last_message.text == await _stored_last_text(with_b.id)


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

"""A change to a message in one process (no instances, nothing stamped) whose writes stop
after the message's own write (a store error or timeout there, as a server killed then
would leave them): none of its writes may stay, so the client's retry of the change makes
it whole. Else a delete for everyone left the message tombstoned while the conversation
list's last message and the events' copies (resume) kept its text, and the retry, finding
it deleted already, planned nothing. Over the real MongoDB-wire store (storage/mongo/fence.py
`writes`)."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

import pytest
from pymongo.errors import AutoReconnect

from nirvana.domain.chat.service import ChatService
from nirvana.storage.mongo.collections import ChatCollections
from tests.support.chat_writers import chat_on, chat_writer
from tests.support.erasure_steps import ErasureSteps, copies_of

CHANGES: dict[str, Callable[[ChatService, int, str], Awaitable[Any]]] = {
    "delete for everyone": lambda chat, a, cid: chat.delete_message(
        a, cid, 1, for_everyone=True),
    "edit": lambda chat, a, cid: chat.edit_message(a, cid, 1, "changed"),
    "hide": lambda chat, a, cid: chat.delete_message(a, cid, 1, for_everyone=False),
}


async def last_message(conversation_id: str) -> dict[str, Any]:
    state = await ChatCollections().states.find_one({"_id": conversation_id})
    return state["last_message"]


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_a_change_whose_writes_stop_after_the_message_leaves_nothing_and_its_retry_lands(
        services, chats, writers, change):
    """In a group of a and b, a's "secret" is the last message (its summary written) and b
    reacted to it (an event carrying a copy of it). a's change fails after writing the
    message: nothing of it is stored. a's retry answers and writes it whole: the stored last
    message, the events' copies and a's resume agree with the message."""
    a, b, _, _ = chats
    store = await chat_writer(writers, fenced=False)
    steps = ErasureSteps()
    chat = chat_on(store, services, steps)
    group = await chat.create_group(a, "team", [b])
    await chat.send_message(a, group.id, client_id="one", text="secret")
    await chat.react(b, group.id, 1, "👍")
    await store.summaries.flush()
    since = await store.head()

    async def fail() -> None:
        raise AutoReconnect("the store went away")
    steps.after_message_write = fail
    with pytest.raises(AutoReconnect):
        await CHANGES[change](chat, a, group.id)
    assert steps.after_message_write is None  # the message was written, then it failed
    stored = await ChatCollections().messages.find_one({"conversation_id": group.id})
    assert (stored["text"], stored["deleted"], stored["hidden_for"]) == ("secret", False, [])
    assert await store.head() == since

    answer = await CHANGES[change](chat, a, group.id)
    last = await last_message(group.id)
    # From the start for a delete: no copy of the text, however old, is replayed.
    page = await chat.resume(a, 0 if change == "delete for everyone" else since)
    resumed = [repr(item) for item in page.items]
    if change == "delete for everyone":
        assert answer.deleted and answer.text == ""
        assert await copies_of("secret") == 0
        assert last["deleted"] and last["text"] == ""
    elif change == "edit":
        assert answer.text == "changed" and last["text"] == "changed"
        assert any("changed" in r for r in resumed)
    else:
        assert a in last["hidden_for"]
        [listed] = [c for c in (await chat.conversations(a)).items if c.id == group.id]
        assert a in listed.last_message.hidden_for
    assert resumed and not [r for r in resumed if "secret" in r]

"""A deleted account's erasure against the chat cache, on in-memory fakes."""

from __future__ import annotations

from tests.support.chat_world import build


async def test_a_history_read_that_raced_the_erasure_does_not_cache_the_text():
    chat, _, changes, _ = build()
    c = await chat.create_group(1, "G", [2])
    await chat.send_message(1, c.id, client_id="m1", text="my secret")
    store_messages = changes.store.messages

    async def read_then_erase(*args, **kwargs):
        # The store's read sees the text, then the erasure runs whole before it answers.
        page = await store_messages(*args, **kwargs)
        await chat.erase_sender(1)
        return page

    changes.store.messages = read_then_erase
    assert [m.text for m in await chat.history(2, c.id)] == ["my secret"]  # that one read
    changes.store.messages = store_messages
    await chat.send_message(2, c.id, client_id="m2", text="still there?")
    assert [m.text for m in await chat.history(2, c.id)] == ["", "still there?"]

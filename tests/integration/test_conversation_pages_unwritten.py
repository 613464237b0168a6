"""The conversation list's pages count the messages whose summaries are not written yet
(storage/mongo/summaries.py): a conversation whose last message is only in the writer's
buffer is ordered by it, on the real MongoDB-wire server."""

from __future__ import annotations

from tests.support.http import sign_up

INTERVAL = 3600.0  # the background flush's own tick never comes during the test


async def test_a_message_not_summarised_yet_moves_its_conversation_to_the_first_page(
        client, services, flaky):
    chat, store, _ = flaky(summary_interval=INTERVAL)
    a = (await sign_up(client))["user"]["id"]
    groups = [(await chat.create_group(a, f"g{n}", [])).id for n in range(5)]
    before = await chat.conversations(a, limit=2)
    assert [c.id for c in before.items] == groups[:-3:-1] and before.next is not None
    await chat.send_message(a, groups[0], client_id="k", text="now")
    states = services.mongo[services.settings.mongodb_db]["chat_conversation_state"]
    assert (await states.find_one({"_id": groups[0]}))["last_seq"] == 0  # still buffered
    first = await chat.conversations(a, limit=2)
    assert [c.id for c in first.items] == [groups[0], groups[4]]
    assert first.items[0].last_message.text == "now"
    rest = await chat.conversations(a, first.next, limit=2)
    listed = [c.id for c in first.items + rest.items]
    rest = await chat.conversations(a, rest.next, limit=2)
    listed += [c.id for c in rest.items]
    assert rest.next is None and sorted(listed) == sorted(groups)

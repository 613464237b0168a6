"""The conversation list's pages count the messages whose summaries are not written yet
(storage/mongo/summaries.py): a conversation whose last message is only in the writer's
buffer is ordered by it, on the real MongoDB-wire server; and it has one position whether a
page holds all of them or only some (docs/protocol.md, "Your conversation list, by page")."""

from __future__ import annotations

from datetime import timedelta

from nirvana.domain.chat.listing import position_of
from tests.support.http import sign_up

INTERVAL = 3600.0  # the background flush's own tick never comes during the test


async def walk(chat, user_id: int, limit: int) -> list:
    page = await chat.conversations(user_id, limit=limit)
    listed = list(page.items)
    while page.next is not None:
        page = await chat.conversations(user_id, page.next, limit=limit)
        listed += page.items
    return listed


async def test_a_message_not_summarised_yet_moves_its_conversation_to_the_first_page(
        client, services, flaky):
    chat, store, _ = flaky(summary_interval=INTERVAL)
    a = (await sign_up(client))["user"]["id"]
    groups = [(await chat.create_group(a, f"g{n}", [])).id for n in range(5)]
    whole = (await chat.conversations(a)).items
    before = await chat.conversations(a, limit=2)
    assert [c.id for c in before.items] == [c.id for c in whole[:2]] and before.next
    oldest = whole[-1].id  # by (creation time, id): not on the first page
    await chat.send_message(a, oldest, client_id="k", text="now")
    states = services.mongo[services.settings.mongodb_db]["chat_conversation_state"]
    assert (await states.find_one({"_id": oldest}))["last_seq"] == 0  # still buffered
    first = await chat.conversations(a, limit=2)
    assert first.items[0].id == oldest and first.items[1].id == whole[0].id
    assert first.items[0].last_message.text == "now"
    listed = [c.id for c in await walk(chat, a, 2)]
    assert sorted(listed) == sorted(groups) and listed[0] == oldest


async def test_a_higher_seq_with_an_earlier_time_has_one_position_on_either_read(
        client, services, flaky):
    """A stored activity later than the buffered message's time (another server's clock, or
    a send that took its time before the one buffered): the message's seq wins, as the
    summary's write will, both when one page holds every conversation and when it does not."""
    chat, _, _ = flaky(summary_interval=INTERVAL)
    a = (await sign_up(client))["user"]["id"]
    early = (await chat.create_group(a, "early", [])).id
    sent, _ = await chat.send_message(a, early, client_id="k", text="now")
    states = services.mongo[services.settings.mongodb_db]["chat_conversation_state"]
    later = sent.created_at + timedelta(hours=1)
    await states.update_one({"_id": early}, {"$set": {"last_activity": later}})
    for n in range(3):  # newer than the message: above it, not below the stored hour
        await chat.create_group(a, f"g{n}", [])
    whole = await walk(chat, a, 200)
    assert len(whole) == 4
    assert next(c for c in whole if c.id == early).last_activity == sent.created_at
    for limit in (1, 2, 3):
        paged = await walk(chat, a, limit)
        assert [position_of(c) for c in paged] == [position_of(c) for c in whole], limit

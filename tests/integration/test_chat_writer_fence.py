"""The store's own fence against a deposed chat writer (storage/mongo/fence.py), on the real
MongoDB-wire store: two writers over one database, as two instances are after a takeover.

The pause a SIGSTOP can land between a writer's own lease check and its insert leaving is
made deterministic here: the deposed writer's insert is held there (an insert injected
through the store's constructor) until the next writer has committed, then released.
"""

from __future__ import annotations

import pytest

from nirvana.domain.chat.entities import Message, ReceiptKind
from nirvana.domain.chat.service import ChatService
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.changes import MongoChatChanges
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.postgres.chat_peers import PgChatPeers
from tests.support.chat_writers import PausedInsert, draft, queue, send


async def stored_positions(services) -> list[int]:
    db = services.mongo[services.settings.mongodb_db]
    return ([d["pos"] async for d in db["chat_messages"].find({}, {"pos": 1})]
            + [d["pos"] async for d in db["chat_events"].find({}, {"pos": 1})])


async def test_a_deposed_writers_insert_released_after_the_next_writer_committed_is_refused(
        services, chats, writers):
    a, b, with_b, with_c = chats
    paused = PausedInsert()
    deposed = MongoChatStore(insert=paused)
    following = MongoChatStore()
    writers += [deposed, following]
    lease = {"valid": True}
    await deposed.lead(lambda: lease["valid"], 1)
    acked = [await send(deposed, with_c, a, "before")]
    # Numbered and past its own lease check, then paused; in a conversation the next
    # writer does not touch, so no (conversation, seq) collision would refuse it.
    paused.armed = True
    late = queue(deposed, draft(with_c, a, "late"))
    await paused.reached.wait()
    lease["valid"] = False  # its lease lapsed while it was paused; another instance took it
    await following.lead(lambda: True, 2)
    acked += [await send(following, with_b, a, f"during{i}") for i in range(3)]
    receipt = await following.record_receipt(with_b.id, b, ReceiptKind.READ, 3,
                                             tuple(with_b.member_ids))
    assert receipt is not None
    paused.release.set()  # the paused process wakes: its insert leaves now

    with pytest.raises(UnavailableError):  # never acknowledged
        await late
    positions = await stored_positions(services)
    assert len(set(positions)) == len(positions), "two writes at one position"
    assert [m.client_id for m in await following.messages(with_c.id, before=None, after=None,
                                                          limit=10)] == ["before"]
    # A's device resumes from the start, and from the last position it saw before the
    # pause: each replay holds every acknowledged message, in position order.
    for since in (0, acked[0].pos):
        page = await following.stream_since(a, since, 100)
        replayed = [i for i in page.items if isinstance(i, Message)]
        assert [m.pos for m in replayed] == sorted(m.pos for m in replayed)
        assert [m.id for m in replayed] == [m.id for m in acked if m.pos > since]
        assert page.head >= max(positions)
    # The client's retry through the next writer stores it once, after what it saw.
    retried = await send(following, with_c, a, "late")
    assert retried.seq == 2 and retried.pos > receipt.pos


async def test_the_store_refuses_a_deposed_writer_that_still_trusts_its_lease(
        services, chats, writers):
    """Its own clock not yet past the lease (the check passed before the pause): only the
    store stands in the way, for every write: messages, receipts, and a change, whose
    update lands with its event or not at all. Three deposed processes, one write each:
    the first refusal stops a writer, so its next writes would not reach the store at
    all."""
    a, b, with_b, with_c = chats
    sending, marking, editing, following = (MongoChatStore() for _ in range(4))
    writers += [sending, marking, editing, following]
    editing_chat = ChatService(store=editing, changes=MongoChatChanges(editing),
                               peers=PgChatPeers(services.pool), publisher=services.hub,
                               clock=services.clock, limits=services.chat.limits)
    await sending.lead(lambda: True, 7)
    await send(sending, with_b, a, "first")
    await marking.lead(lambda: True, 7)
    await editing.lead(lambda: True, 7)
    await following.lead(lambda: True, 8)
    with pytest.raises(UnavailableError):
        await send(sending, with_c, a, "refused")
    with pytest.raises(UnavailableError):
        await marking.record_receipt(with_b.id, b, ReceiptKind.READ, 1,
                                     tuple(with_b.member_ids))
    with pytest.raises(UnavailableError):
        await editing_chat.edit_message(a, with_b.id, 1, "edited")
    db = services.mongo[services.settings.mongodb_db]
    assert await db["chat_messages"].count_documents({"client_id": "refused"}) == 0
    assert await db["chat_events"].count_documents({}) == 0  # no edit event, no receipt
    assert (await db["chat_messages"].find_one({"client_id": "first"}))["text"] == "first"
    # The writer holding the lease goes on writing, in the conversation refused too.
    assert (await send(following, with_c, a, "next")).seq == 1


async def test_one_process_writes_on_a_database_instances_fenced_before(
        services, chats, writers):
    """A process without REDIS_URL stamps no epoch, and the fence lets that through: a
    deployment may go back to one process."""
    a, b, with_b, _ = chats
    earlier = MongoChatStore()
    writers.append(earlier)
    await earlier.lead(lambda: True, 5)
    await send(earlier, with_b, a, "clustered")
    await earlier.close()
    writers.remove(earlier)
    one, _ = await services.chat.send_message(a, with_b.id, client_id="alone", text="alone")
    assert one.seq == 2
    db = services.mongo[services.settings.mongodb_db]
    stored = await db["chat_messages"].find_one({"client_id": "alone"})
    assert "epoch" not in stored

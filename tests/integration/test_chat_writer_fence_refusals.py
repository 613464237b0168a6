"""What a writer does with a refusal by the store's fence (storage/mongo/fence.py), what the
next writer may still change, and a lead whose fence cannot be raised: two writers over the
real MongoDB-wire store, the real PostgreSQL lease."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pymongo.errors import OperationFailure

from nirvana.chat_writer_role import CHAT_WRITER
from nirvana.domain.chat.entities import ReceiptKind
from nirvana.domain.chat.service import ChatService
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.changes import MongoChatChanges
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.erasure import MongoChatErasure
from nirvana.storage.mongo.fence import FencedOutError, WriterFence
from nirvana.storage.postgres.chat_peers import PgChatPeers
from nirvana.storage.postgres.leases import PgLeases
from nirvana.wiring.instances import cluster_chat
from tests.support.chat_writers import PausedInsert, draft, send


def chat_on(store: MongoChatStore, services) -> ChatService:
    return ChatService(store=store, changes=MongoChatChanges(store),
                       peers=PgChatPeers(services.pool), publisher=services.hub,
                       clock=services.clock, limits=services.chat.limits)


def failing_collmod(code: int):
    async def command(database, cmd):
        if "collMod" in cmd:
            raise OperationFailure("refused by the test", code=code)
        return await database.command(cmd)
    return command


async def stored(services, client_id: str) -> dict:
    db = services.mongo[services.settings.mongodb_db]
    return await db["chat_messages"].find_one({"client_id": client_id})


async def test_a_refused_send_retried_through_the_next_writer_is_delivered_once(
        services, chats, writers):
    """The refused send is not in doubt: the process that sent it neither moves nor
    delivers it again, while it still trusts its lease nor once it leads again."""
    a, b, with_b, with_c = chats
    old, new = MongoChatStore(), MongoChatStore()
    writers += [old, new]
    await old.lead(lambda: True, 1)
    await new.lead(lambda: True, 2)
    with pytest.raises(UnavailableError):
        await send(old, with_b, a, "x")
    acked = await send(new, with_b, a, "x")  # the client's retry, through the writer now
    # Refused by the epoch it leads at: it stopped, though its lease looks valid to it.
    with pytest.raises(UnavailableError):
        await send(old, with_c, a, "after")
    assert old.writer.stepped_down  # its lease role gives the lease back at its renewal
    await new.close()
    writers.remove(new)
    await old.lead(lambda: True, 3)  # it leads again, later
    assert not old.writer.stepped_down
    delivered = []
    message, _ = await old.append(draft(with_c, a, "next"), on_stored=delivered.append)
    assert [m.client_id for m in delivered] == ["next"]
    again, new_one = await old.append(draft(with_b, a, "x"))  # one more retry of x
    assert not new_one and again.pos == acked.pos
    assert (await stored(services, "x"))["pos"] == acked.pos


async def test_a_late_refusal_of_an_older_epoch_leaves_a_later_lead_alone(
        services, chats, writers):
    a, b, with_b, with_c = chats
    paused = PausedInsert()
    old, new = MongoChatStore(insert=paused), MongoChatStore()
    writers += [old, new]
    await old.lead(lambda: True, 1)
    paused.armed = True
    late = old.append(draft(with_c, a, "late"))
    await paused.reached.wait()  # stamped 1, then paused
    await new.lead(lambda: True, 2)
    await old.lead(lambda: True, 3)  # taken back before the paused insert answers
    paused.armed = False
    paused.release.set()
    with pytest.raises(UnavailableError):
        await late
    assert (await send(old, with_c, a, "on")).seq == 1  # still the writer, at epoch 3


async def test_a_writer_that_may_not_fence_stamps_nothing_under_a_higher_fence(
        services, chats, writers):
    """A MongoDB user without collMod (13) over a database an earlier writer fenced at a
    higher epoch (a lease table started over): the lease check alone fences, and inserts
    still land."""
    a, b, with_b, _ = chats
    earlier = MongoChatStore()
    unauthorized = MongoChatStore(fence=WriterFence(failing_collmod(13)))
    writers += [earlier, unauthorized]
    await earlier.lead(lambda: True, 9)
    await send(earlier, with_b, a, "earlier")
    await unauthorized.lead(lambda: True, 3)
    assert (await send(unauthorized, with_b, a, "unstamped")).seq == 2
    assert (await unauthorized.record_receipt(with_b.id, b, ReceiptKind.READ, 2,
                                              tuple(with_b.member_ids))) is not None
    assert "epoch" not in await stored(services, "unstamped")


async def test_a_lead_whose_fence_fails_gives_the_lease_back_and_follows(
        services, settings, writers):
    """The fence cannot be raised (a timeout, here 50): the instance does not stay holding
    the lease with a cache no writer's changes pass through; another may lead at once."""
    store = MongoChatStore(fence=WriterFence(failing_collmod(50)))
    writers.append(store)
    bus, role, _ = cluster_chat(replace(settings, redis_url="redis://127.0.0.1:9"),
                                services.pool, store, services.chat)
    try:
        await role.start()  # the process starts, following; `run` would try again
        assert role.held is None and not role.is_writer() and not store.writer.may_commit()
        assert not services.chat.cache.holding
        leases = PgLeases(services.pool)
        taken, lease = await leases.acquire(CHAT_WRITER, "another", 5.0, {})
        assert taken and lease.epoch == 2
    finally:
        await bus.close()


async def test_the_next_writer_changes_messages_of_older_epochs_and_unstamped_ones(
        services, chats, writers):
    """Edits, reactions, deletes and erasure are updates: the fence (validationLevel
    moderate) leaves documents it would refuse as inserts alone."""
    a, b, with_b, with_c = chats
    plain, _ = await services.chat.send_message(a, with_b.id, client_id="plain", text="plain")
    old, new = MongoChatStore(), MongoChatStore()
    writers += [old, new]
    await old.lead(lambda: True, 1)
    stamped = await send(old, with_b, a, "stamped")
    await send(old, with_c, a, "gone")
    await new.lead(lambda: True, 2)
    chat = chat_on(new, services)
    for seq in (plain.seq, stamped.seq):
        assert (await chat.edit_message(a, with_b.id, seq, "edited")).text == "edited"
        assert (await chat.react(b, with_b.id, seq, "👍")).reactions
    await chat.delete_message(a, with_c.id, 1, for_everyone=True)
    assert (await stored(services, "gone"))["deleted"] is True
    await MongoChatErasure().erase_sender(a)
    assert (await stored(services, "stamped"))["text"] == ""


async def test_an_update_refused_by_another_validator_is_not_taken_for_the_fence(
        services, chats, writers):
    """Only an insert's 121 means a later writer: the writer keeps committing."""
    a, b, with_b, _ = chats
    store = MongoChatStore()
    writers.append(store)
    await store.lead(lambda: True, 1)
    await send(store, with_b, a, "short")
    db = services.mongo[services.settings.mongodb_db]
    await db.command({"collMod": "chat_messages", "validationLevel": "moderate",
                      "validator": {"$jsonSchema": {"properties": {
                          "text": {"maxLength": 10}}}}})
    chat = chat_on(store, services)
    with pytest.raises(Exception) as refused:
        await chat.edit_message(a, with_b.id, 1, "far too long for it")
    assert not isinstance(refused.value, FencedOutError)
    assert (await send(store, with_b, a, "next")).seq == 2


async def test_a_refusal_episode_logs_one_warning(services, chats, writers, caplog):
    a, b, with_b, with_c = chats
    old, new = MongoChatStore(), MongoChatStore()
    writers += [old, new]
    await old.lead(lambda: True, 1)
    await new.lead(lambda: True, 2)
    caplog.set_level("WARNING", logger="nirvana.chat.store")
    with pytest.raises(UnavailableError):
        await send(old, with_b, a, "refused")
    with pytest.raises(UnavailableError):  # stopped: not sent to the store at all
        await old.record_receipt(with_b.id, b, ReceiptKind.READ, 1, tuple(with_b.member_ids))
    warnings = [r for r in caplog.records if r.name == "nirvana.chat.store"]
    assert [r.getMessage() for r in warnings] == [
        "the store refused a chat write of this instance's (epoch 1): another instance is "
        "the chat writer now"]

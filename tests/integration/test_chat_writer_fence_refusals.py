"""What a writer does with a refusal by the store's fence (storage/mongo/fence.py), what the
next writer may still change, and a lead whose fence cannot be raised: two writers over the
real MongoDB-wire store, the real PostgreSQL lease. A deposed writer's receipts:
test_chat_writer_fence_receipts.py."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, replace

import pytest
from pymongo.errors import OperationFailure

from nirvana.chat_writer_role import CHAT_WRITER
from nirvana.domain.chat.entities import Conversation, ReceiptKind
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.fence import TAKEOVER_WAIT, FencedOutError, WriterFence
from nirvana.storage.mongo.message_inserts import insert_messages
from nirvana.storage.postgres.leases import PgLeases
from nirvana.wiring.instances import cluster_chat
from tests.support.chat_writers import (PausedInsert, chat_on, draft, failing_collmod, queue,
                                        send)


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
    message, _ = await queue(old, draft(with_c, a, "next"), on_stored=delivered.append)
    assert [m.client_id for m in delivered] == ["next"]
    again, new_one = await queue(old, draft(with_b, a, "x"))  # one more retry of x
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
    late = queue(old, draft(with_c, a, "late"))
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
                                services.pool, store, services.chat, services.accounts.users)
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
    await chat.erase_sender(a)  # its second phase in the new writer, through the fence
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


# -- a deposed writer's updates and deletes (fence.py `writes`) --------------------------

async def everything(services) -> dict[str, list[dict]]:
    """Every document of the Mongo database, by collection."""
    db = services.mongo[services.settings.mongodb_db]
    found: dict[str, list[dict]] = {}
    for name in sorted(await db.list_collection_names()):
        found[name] = sorted([d async for d in db[name].find({})], key=lambda d: str(d["_id"]))
    return found


@dataclass
class World:
    a: int
    b: int
    c: int
    with_b: Conversation
    group: Conversation


CHANGES = {
    "edit": lambda chat, store, w: chat.edit_message(w.a, w.with_b.id, 1, "edited"),
    "delete for everyone": lambda chat, store, w: chat.delete_message(
        w.a, w.with_b.id, 1, for_everyone=True),
    "hide": lambda chat, store, w: chat.delete_message(w.b, w.with_b.id, 1,
                                                       for_everyone=False),
    "reaction": lambda chat, store, w: chat.react(w.b, w.with_b.id, 1, "👍"),
    "member change": lambda chat, store, w: chat.add_members(w.a, w.group.id, [w.c]),
}


@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_deposed_writers_change_lands_whole_or_not_at_all(
        services, chats, writers, change):
    """Its lease still valid by its own clock, the next writer's fence already up: the
    change's updates are refused with its event, and the store is as it was; the live
    writer's same change lands."""
    a, b, with_b, with_c = chats
    c = next(m for m in with_c.member_ids if m != a)
    await services.chat.send_message(a, with_b.id, client_id="m", text="m")
    await services.chat.react(a, with_b.id, 1, "❤")  # an event with a copy of the message
    group = await services.chat.create_group(a, "g", [b])
    world = World(a, b, c, with_b, group)
    await services.chat_store.summaries.flush()
    old, new = MongoChatStore(), MongoChatStore()
    writers += [old, new]
    await old.lead(lambda: True, 1)
    await new.lead(lambda: True, 2)
    before = await everything(services)
    with pytest.raises(FencedOutError):
        await CHANGES[change](chat_on(old, services), old, world)
    assert await everything(services) == before
    assert old.writer.stepped_down
    assert await CHANGES[change](chat_on(new, services), new, world) is not None
    assert await everything(services) != before


async def test_a_deposed_writers_take_back_is_refused(services, chats, writers):
    """A batch with a retry of a stored message takes back its other message of that
    conversation (sends.py `_sort_out`). The next writer raises its fence between the
    deposed writer's insert and its take-back: the delete is refused, the message stays
    where the next writer loaded it, and the senders hear `unavailable`."""
    a, b, with_b, _ = chats
    await services.chat.send_message(a, with_b.id, client_id="old", text="old")
    new = MongoChatStore()
    insert = insert_messages(ChatCollections())

    async def insert_then_deposed(docs) -> None:
        try:
            await insert(docs)  # lands before the fence; refuses the retry's duplicate
        finally:
            await new.lead(lambda: True, 2)

    old = MongoChatStore(insert=insert_then_deposed)
    writers += [old, new]
    await old.lead(lambda: True, 1)
    answers = await asyncio.gather(queue(old, draft(with_b, a, "old")),
                                   queue(old, draft(with_b, b, "n")), return_exceptions=True)
    assert all(isinstance(x, FencedOutError) for x in answers)
    assert (await stored(services, "n"))["seq"] == 3  # not taken back
    # The live writer's take-back of the same shape lands: n2 is numbered again after n.
    retry, n2 = await asyncio.gather(queue(new, draft(with_b, a, "old")),
                                     queue(new, draft(with_b, b, "n2")))
    assert retry[0].seq == 1 and not retry[1]
    assert n2[0].seq == 4 and (await stored(services, "n2"))["seq"] == 4


async def test_the_next_writer_waits_for_a_deposed_writers_open_transaction(
        services, chats, writers):
    """The store does not make a collMod wait for an open transaction that checked the
    old fence: the next writer's lead does (fence.py `raise_to`), so the deposed write
    lands before anything is loaded, or not at all."""
    a, b, with_b, _ = chats
    old, new = MongoChatStore(), MongoChatStore()
    writers += [old, new]
    await old.lead(lambda: True, 1)
    states = ChatCollections().states
    write, release = await paused_inside(old, with_b.id)
    lead = asyncio.create_task(new.lead(lambda: True, 2))
    await asyncio.sleep(0.5)
    assert not lead.done()
    release.set()
    await write
    await lead
    assert (await states.find_one({"_id": with_b.id}))["probe"] == 1
    with pytest.raises(FencedOutError):  # once the fence is up, the same write is refused
        await old.fence.writes(ChatCollections(), lambda session: states.update_one(
            {"_id": with_b.id}, {"$set": {"probe": 2}}, session=session))
    assert (await states.find_one({"_id": with_b.id}))["probe"] == 1


# -- a deposed writer's transaction left open (fence.py `_write_token`) -------------------

HOLDER = r"""
import asyncio, sys
from pymongo import AsyncMongoClient
async def main(url, name, states, conversation):
    client = AsyncMongoClient(url)
    db = client[name]
    session = client.start_session()
    await session.start_transaction()
    # The fence's check at epoch 1 (fence.py `_check`), then a write of the change.
    done = await db.chat_meta.update_one({"_id": "writer-fence", "epoch": {"$lte": 1}},
                                         {"$inc": {"transactions": 1}}, session=session)
    assert done.matched_count == 1
    await db[states].update_one({"_id": conversation}, {"$set": {"probe": 1}},
                                session=session)
    print("open", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main(*sys.argv[1:]))
"""


async def test_a_writer_killed_inside_its_transaction_does_not_block_the_next(
        services, server_urls, chats, writers, caplog):
    """A writer killed (SIGKILL) inside a fenced transaction leaves it open, and the
    embedded store never ends it: the next writer's lead ends it after TAKEOVER_WAIT, the
    open transaction's write is gone, and a later write of the old epoch is refused."""
    _, _, with_b, _ = chats
    old, new = MongoChatStore(), MongoChatStore()
    writers += [old, new]
    await old.lead(lambda: True, 1)
    states = ChatCollections().states
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, server_urls[1], services.settings.mongodb_db,
        states.name, with_b.id, stdout=asyncio.subprocess.PIPE)
    try:
        assert (await asyncio.wait_for(holder.stdout.readline(), 20)).strip() == b"open"
    finally:
        holder.kill()
        await holder.wait()
    started = time.monotonic()
    await asyncio.wait_for(new.lead(lambda: True, 2), 10)
    assert time.monotonic() - started < 5  # TAKEOVER_WAIT and the fence's SETTLE
    assert "probe" not in await states.find_one({"_id": with_b.id})
    assert any("ending the store's sessions" in r.getMessage() for r in caplog.records)
    with pytest.raises(FencedOutError):
        await old.fence.writes(ChatCollections(), lambda session: states.update_one(
            {"_id": with_b.id}, {"$set": {"probe": 2}}, session=session))
    assert "probe" not in await states.find_one({"_id": with_b.id})


async def paused_inside(store: MongoChatStore, conversation_id: str):
    """`store`'s fenced write, paused inside its transaction (after the check and one
    update) until the returned event is set: a writer paused (SIGSTOP) in the middle."""
    inside, release = asyncio.Event(), asyncio.Event()
    states = ChatCollections().states

    async def paused(session) -> None:
        await states.update_one({"_id": conversation_id}, {"$set": {"probe": 1}},
                                session=session)
        inside.set()
        await release.wait()
        await states.update_one({"_id": conversation_id}, {"$set": {"after": 1}},
                                session=session)

    write = asyncio.create_task(store.fence.writes(ChatCollections(), paused))
    await inside.wait()
    return write, release


async def test_a_writer_paused_inside_its_transaction_wakes_refused(
        services, chats, writers):
    """Paused past TAKEOVER_WAIT: the next writer ends its transaction and leads; woken,
    the paused writer's write is refused (unavailable), never acknowledged, and nothing of
    it is stored."""
    _, _, with_b, _ = chats
    old, new = MongoChatStore(), MongoChatStore()
    writers += [old, new]
    await old.lead(lambda: True, 1)
    write, release = await paused_inside(old, with_b.id)
    await asyncio.wait_for(new.lead(lambda: True, 2), 10)
    release.set()
    with pytest.raises(FencedOutError) as refused:
        await write
    # Its transaction ended, it ran again (fence.py `writes`), and that check was refused:
    # the refusal of its epoch, not a "retry" of a write that might still lead.
    assert refused.value.stamped == 1
    state = await ChatCollections().states.find_one({"_id": with_b.id})
    assert "probe" not in state and "after" not in state


@pytest.mark.parametrize("store", ["MongoDB", "refusing"])
async def test_a_takeover_that_may_not_end_sessions_keeps_waiting(
        services, chats, writers, caplog, store):
    """On MongoDB (which ends a transaction 60 s after it began) the lead does not kill
    sessions, and a user without killAnySession (13) cannot: either way it keeps waiting
    for the open transaction, here until the paused writer commits."""
    _, _, with_b, _ = chats
    sent = []

    async def command(database, cmd):
        sent.append(next(iter(cmd)))
        if "buildInfo" in cmd and store == "MongoDB":
            return {"version": "8.0.4", "ok": 1.0}
        if "killAllSessions" in cmd:
            raise OperationFailure("not authorized on admin", code=13)
        return await database.command(cmd)
    old, new = MongoChatStore(), MongoChatStore(fence=WriterFence(command))
    writers += [old, new]
    await old.lead(lambda: True, 1)
    write, release = await paused_inside(old, with_b.id)
    lead = asyncio.create_task(new.lead(lambda: True, 2))
    await asyncio.sleep(TAKEOVER_WAIT + 0.5)
    assert not lead.done()
    said = [r.getMessage() for r in caplog.records]
    if store == "MongoDB":
        assert "killAllSessions" not in sent
        assert any("waiting for MongoDB to end it" in m for m in said)
    else:
        assert any("cannot end the store's sessions" in m for m in said)
    release.set()
    await write  # committed before the token's write: loaded by the next writer
    await asyncio.wait_for(lead, 10)
    assert (await ChatCollections().states.find_one({"_id": with_b.id}))["after"] == 1

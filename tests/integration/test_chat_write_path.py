"""The write path against the real MongoDB-wire server: summaries after a crash, history
from memory, membership from memory."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timezone
from importlib.metadata import distribution
from pathlib import Path

from nirvana.bootstrap import build_services
from nirvana.domain.chat.errors import NotMemberError
from nirvana.storage.mongo.summaries import CHECKPOINT_ID
from nirvana.storage.mongo.wire import MAX_IDLE
from tests.support.people import a_with_two_friends, friends


async def test_summaries_lost_in_a_crash_are_repaired_on_the_next_start(
        client, services, stores, settings):
    a, b = await friends(client, services)
    c = await services.chat.open_direct(a, b)
    for i in range(3):
        await services.chat.send_message(b, c.id, client_id=f"k{i}", text=f"m{i}")
    await services.chat_store.close()
    # What a kill -9 between the acks and the summary flush leaves behind.
    db = services.mongo[settings.mongodb_db]
    await db["chat_meta"].update_one({"_id": CHECKPOINT_ID}, {"$set": {"pos": 0}})
    await db["chat_conversation_state"].update_one(
        {"_id": c.id}, {"$set": {"last_seq": 0, "last_message": None,
                                 f"marks.{a}": {"read": 0, "delivered": 0},
                                 f"marks.{b}": {"read": 0, "delivered": 0}}})
    pool, mongo = stores
    fresh = build_services(settings, pool, mongo, secret="t" * 48)
    (listed,) = (await fresh.chat.conversations(a)).items
    assert listed.last_seq == 3 and listed.last_message.text == "m2"
    assert listed.unread_for(a) == 3 and listed.unread_for(b) == 0
    await fresh.chat_store.close()


async def test_latest_history_comes_from_memory_and_follows_new_sends(client, services):
    a, b = await friends(client, services)
    chat = services.chat
    c = await chat.open_direct(a, b)
    for i in range(60):
        await chat.send_message(a, c.id, client_id=f"k{i}", text=f"m{i}")
    page = await chat.history(b, c.id, limit=50)  # first read fills memory
    assert [m.seq for m in page] == list(range(11, 61))
    await chat.send_message(b, c.id, client_id="late", text="late")
    held = chat.cache.latest(c.id, 61, 50)
    assert held is not None and held[-1].text == "late"
    assert await chat.history(a, c.id, limit=50) == held
    assert [m.seq for m in await chat.history(a, c.id, before=11, limit=5)] == [6, 7, 8, 9, 10]


async def test_membership_is_checked_on_every_read_from_memory(client, services):
    a, b = await friends(client, services)
    stranger = (await friends(client, services))[0]
    c = await services.chat.open_direct(a, b)
    await services.chat.send_message(a, c.id, client_id="k", text="hi")
    await services.chat.history(a, c.id)  # conversation and page now in memory
    try:
        await services.chat.history(stranger, c.id)
    except NotMemberError:
        pass
    else:
        raise AssertionError("a non-member read a conversation held in memory")


async def test_an_index_no_longer_declared_is_dropped_at_start(stores, settings):
    """A database from an older release keeps no index the code stopped declaring: an
    unused index would still cost every message write."""
    from nirvana.wiring.stores import init_documents

    _, mongo = stores
    messages = mongo[settings.mongodb_db]["chat_messages"]
    await messages.create_index([("audience", 1), ("pos", 1)], name="audience_1_pos_1")
    await init_documents(mongo, settings.mongodb_db)  # what open_stores runs at start
    names = set(await messages.index_information())
    assert "audience_1_pos_1" not in names
    assert names == {"_id_", "conversation_id_1_seq_1", "pos_-1"}


async def test_search_finds_messages_stored_before_the_terms_index_was_dropped(
        client, services, settings, caplog):
    """Search terms are no longer indexed (each distinct word cost every message write an
    index entry): a database that had the index loses it at start, saying so in the log
    first (on the embedded store the drop is slow), and search still finds every message,
    those stored before and those stored after."""
    from nirvana.wiring.stores import init_documents

    a, b = await friends(client, services)
    chat = services.chat
    c = await chat.open_direct(a, b)
    messages = services.mongo[settings.mongodb_db]["chat_messages"]
    await messages.create_index([("terms", 1)], name="terms_1")  # as older releases had
    await chat.send_message(a, c.id, client_id="old", text="Crème brûlée at noon")
    await init_documents(services.mongo, settings.mongodb_db)  # what a start runs
    assert "terms_1" not in set(await messages.index_information())
    assert any("dropping the search-terms index" in r.getMessage() for r in caplog.records)
    caplog.clear()
    await init_documents(services.mongo, settings.mongodb_db)  # once: the next start is quiet
    assert not any("search-terms" in r.getMessage() for r in caplog.records)
    await chat.send_message(b, c.id, client_id="new", text="brûlée again, tonight")
    assert [m.seq for m in await chat.search(b, "creme brulee")] == [1]
    assert [m.seq for m in await chat.search(a, "brulee")] == [2, 1]
    assert [m.seq for m in await chat.search(a, "brulee to")] == [2]


async def test_resume_replays_only_what_the_user_was_sent(client, services):
    """Resume reads the user's conversations by position; a message sent before the user
    joined a group is not theirs to replay, one sent after is."""
    a, b, c = await a_with_two_friends(client, services)
    chat = services.chat
    group = await chat.create_group(a, "g", [b])
    before = await chat.head()
    await chat.send_message(a, group.id, client_id="early", text="before c joined")
    await chat.add_members(a, group.id, [c])
    await chat.send_message(a, group.id, client_id="late", text="after c joined")
    texts = [getattr(i, "text", None) for i in (await chat.resume(c, before)).items]
    assert "after c joined" in texts and "before c joined" not in texts
    page_b = await chat.resume(b, before)
    assert [i.text for i in page_b.items if hasattr(i, "text")] == ["before c joined",
                                                                    "after c joined"]


async def test_resume_after_a_crash_replays_messages_whose_summary_was_lost(
        client, services, stores, settings):
    """Resume reads only conversations whose summarised last message is new to the client;
    a summary lost in a crash must not make it skip that conversation."""
    a, b = await friends(client, services)
    c = await services.chat.open_direct(a, b)
    since = await services.chat.head()
    await services.chat.send_message(b, c.id, client_id="k", text="while you were away")
    await services.chat_store.close()
    db = services.mongo[settings.mongodb_db]
    await db["chat_meta"].update_one({"_id": CHECKPOINT_ID}, {"$set": {"pos": since}})
    await db["chat_conversation_state"].update_one(
        {"_id": c.id}, {"$set": {"last_seq": 0, "last_message": None}})
    pool, mongo = stores
    fresh = build_services(settings, pool, mongo, secret="t" * 48)
    page = await fresh.chat.resume(a, since)
    assert [i.text for i in page.items] == ["while you were away"] and not page.truncated
    await fresh.chat_store.close()


async def test_resume_replays_buffered_and_written_summaries_and_honours_delete_for_me(
        client, services):
    a, b, c = await a_with_two_friends(client, services)
    chat, store = services.chat, services.chat_store
    store.summaries.interval = 3600  # flushed only where the test says
    quiet = await chat.open_direct(a, c)
    await chat.send_message(c, quiet.id, client_id="q", text="before since")
    busy = await chat.open_direct(a, b)
    since = await chat.head()
    await chat.send_message(b, busy.id, client_id="w", text="written")
    await store.summaries.flush()
    await chat.send_message(b, busy.id, client_id="h", text="hidden")
    await chat.send_message(b, busy.id, client_id="u", text="unwritten summary")
    await chat.delete_message(a, busy.id, 2, for_everyone=False)
    page = await chat.resume(a, since)
    texts = [i.text for i in page.items if hasattr(i, "text")]
    assert texts == ["written", "unwritten summary"] and not page.truncated
    b_page = await chat.resume(b, since)
    assert [i.text for i in b_page.items if hasattr(i, "text")] == [
        "written", "hidden", "unwritten summary"]


async def test_resume_past_the_limit_in_one_conversation_is_truncated(client, services):
    a, b = await friends(client, services)
    c = await services.chat.open_direct(a, b)
    since = await services.chat.head()
    for i in range(4):
        await services.chat.send_message(b, c.id, client_id=f"k{i}", text=f"m{i}")
    store = services.chat_store
    assert (await store.stream_since(a, since, 3)).truncated
    full = await store.stream_since(a, since, 4)
    assert not full.truncated and [i.text for i in full.items] == ["m0", "m1", "m2", "m3"]


async def test_reads_see_unwritten_summaries_without_waiting_for_a_flush(client, services,
                                                                         settings):
    """The chat list is exact while summaries are still buffered: a conversation whose new
    message is not summarised in the store yet still comes first, with its unread count,
    and reading it wrote nothing (a flush under load takes seconds)."""
    a, b, c = await a_with_two_friends(client, services)
    chat, store = services.chat, services.chat_store
    store.summaries.interval = 3600  # nothing is flushed during this test
    old = await chat.open_direct(a, b)
    new = await chat.open_direct(a, c)
    await chat.send_message(c, new.id, client_id="n", text="newer")
    await chat.send_message(b, old.id, client_id="o1", text="older")
    await store.summaries.flush()  # written: both summarised in the store
    await chat.send_message(c, new.id, client_id="n2", text="newest")
    await chat.send_message(b, old.id, client_id="o2", text="now the newest")

    (first,) = (await store.conversations_of(a, 1)).items
    assert first.id == old.id and first.last_message.text == "now the newest"
    assert first.last_seq == 2 and first.unread_for(a) == 2 and first.unread_for(b) == 0
    direct = await store.get_conversation(new.id)
    assert direct.last_message.text == "newest" and direct.unread_for(a) == 2
    stored = await services.mongo[settings.mongodb_db]["chat_conversation_state"].find_one(
        {"_id": old.id})
    assert stored["last_seq"] == 1  # the read applied the buffer; it did not flush it


def embedded_store_idle_timeout() -> float:
    """The embedded store's idle close, read from its installed source as text: the store is
    GPL, so the project runs it as a process and never imports it."""
    source = distribution("secantusdb").locate_file("secantus/server.py")
    found = re.search(r"^DEFAULT_CLIENT_IDLE_TIMEOUT_S\s*(?::[^=]*)?=\s*([0-9_.]+)",
                      Path(source).read_text(), re.M)
    assert found, f"the store's idle timeout is no longer named in {source}"
    return float(found.group(1))


async def test_pooled_mongo_connections_are_replaced_before_the_server_drops_them(stores):
    """The embedded server closes connections idle for its timeout; a pooled connection
    kept longer made the first operation after a quiet spell fail. The writer's own
    connection (`wire.py`) is replaced sooner too."""
    limit = embedded_store_idle_timeout()
    _, mongo = stores
    assert mongo.options.pool_options.max_idle_time_seconds < limit
    assert MAX_IDLE < limit


async def test_the_head_after_a_start_counts_what_lies_past_the_summary_checkpoint(
        client, services, stores, settings):
    """The head is read from the checkpoint on: messages not summarised yet (a crash) and
    receipts newer than every message must still be in it."""
    from nirvana.domain.chat.entities import ReceiptKind

    a, b = await friends(client, services)
    chat, store = services.chat, services.chat_store
    store.summaries.interval = 3600
    c = await chat.open_direct(a, b)
    await chat.send_message(a, c.id, client_id="k1", text="summarised")
    await store.summaries.flush()  # the checkpoint is at this message
    unsummarised, _ = await chat.send_message(a, c.id, client_id="k2", text="not yet")
    await chat.mark(b, c.id, ReceiptKind.READ, 2)
    top = await chat.head()
    assert top == unsummarised.pos + 1  # the receipt's position
    await store.close()
    pool, mongo = stores
    fresh = build_services(settings, pool, mongo, secret="t" * 48)  # as after a crash
    assert await fresh.chat.head() == top
    await fresh.chat_store.close()


async def test_sockets_connecting_at_once_after_a_start_load_the_head_once(
        client, services, stores, settings):
    a, b = await friends(client, services)
    c = await services.chat.open_direct(a, b)
    sent, _ = await services.chat.send_message(a, c.id, client_id="k", text="hi")
    pool, mongo = stores
    fresh = build_services(settings, pool, mongo, secret="t" * 48)  # a new start
    loads = 0
    real = fresh.chat_store.positions.load

    async def counted() -> None:
        nonlocal loads
        loads += 1
        await real()

    fresh.chat_store.positions.load = counted
    heads = await asyncio.gather(*(fresh.chat.head() for _ in range(50)))
    assert loads == 1 and set(heads) == {sent.pos}
    await fresh.chat_store.close()


async def test_summaries_and_last_seen_are_written_as_one_transaction_each(
        client, services, settings):
    """The embedded server has transactions: a flush is one commit, not one per update."""
    a, b = await friends(client, services)
    chat, store = services.chat, services.chat_store
    store.summaries.interval = 3600
    c = await chat.open_direct(a, b)
    sent, _ = await chat.send_message(a, c.id, client_id="k", text="hi")
    await store.summaries.flush()
    assert store.summaries.one_commit.supported is True
    db = services.mongo[settings.mongodb_db]
    assert (await db["chat_conversation_state"].find_one({"_id": c.id}))["last_seq"] == 1
    assert (await db["chat_meta"].find_one({"_id": CHECKPOINT_ID}))["pos"] == sent.pos
    presence = services.presence_store
    await presence.save_last_seen(a, datetime.now(timezone.utc))
    await presence.flush()
    assert presence.one_commit.supported is True
    assert await db["chat_presence"].find_one({"_id": a}) is not None


async def test_a_big_store_keeps_the_retired_terms_index_until_the_operator_says(
        client, services, settings, caplog):
    """Dropping the retired index holds the embedded store for about an hour per million
    messages, so above a size a start keeps it and says how to drop it; a start with
    DROP_RETIRED_INDEXES drops it whatever the size. Search works throughout."""
    from nirvana.storage.mongo.upgrade import retire_indexes

    a, b = await friends(client, services)
    chat = services.chat
    c = await chat.open_direct(a, b)
    database = services.mongo[settings.mongodb_db]
    messages = database["chat_messages"]
    await messages.create_index([("terms", 1)], name="terms_1")  # as older releases had
    await chat.send_message(a, c.id, client_id="one", text="tiramisu for two")
    assert await retire_indexes(database, drop_anyway=False, up_to=0)
    assert any("keeping the retired search-terms index" in r.getMessage()
               and "DROP_RETIRED_INDEXES=on" in r.getMessage() for r in caplog.records)
    assert [m.text for m in await chat.search(b, "tiramisu")] == ["tiramisu for two"]
    assert not await retire_indexes(database, drop_anyway=True, up_to=0)
    assert not await retire_indexes(database, drop_anyway=False)  # small: dropped


async def test_a_start_drops_the_retired_position_index_unless_the_store_is_big(
        client, services, settings, caplog):
    """Resume reads by seq now (conversation_since.py): the (conversation_id, pos) index of
    an older database goes at start when the store is small, and is kept with a word in the
    log above the bound until DROP_RETIRED_INDEXES; resume works throughout."""
    from nirvana.storage.mongo.upgrade import retire_indexes
    from nirvana.wiring.stores import init_documents

    a, b = await friends(client, services)
    chat = services.chat
    c = await chat.open_direct(a, b)
    sent, _ = await chat.send_message(a, c.id, client_id="one", text="one")
    database = services.mongo[settings.mongodb_db]
    messages = database["chat_messages"]
    await messages.create_index([("conversation_id", 1), ("pos", 1)],
                                name="conversation_id_1_pos_1")  # as older releases had
    assert await retire_indexes(database, drop_anyway=False, up_to=0)
    assert any("keeping the retired (conversation_id, pos) index" in r.getMessage()
               and "DROP_RETIRED_INDEXES=on" in r.getMessage() for r in caplog.records)
    page = await chat.resume(b, sent.pos - 1)
    assert [i.pos for i in page.items] == [sent.pos]
    assert not await retire_indexes(database, drop_anyway=True, up_to=0)
    await init_documents(services.mongo, settings.mongodb_db)  # a start: small, so dropped
    assert any("dropping the (conversation_id, pos) index" in r.getMessage()
               for r in caplog.records)
    assert "conversation_id_1_pos_1" not in await messages.index_information()
    page = await chat.resume(b, sent.pos - 1)
    assert [i.pos for i in page.items] == [sent.pos]


async def test_hiding_a_message_twice_stores_and_announces_it_once(client, services):
    """Delete for me is idempotent: the second hide changes nothing, so it records no
    second event (the store answers the no-op update as modifying nothing)."""
    a, b = await friends(client, services)
    c = await services.chat.open_direct(a, b)
    await services.chat.send_message(b, c.id, client_id="k", text="hide me")
    for _ in range(2):
        hidden = await services.chat.delete_message(a, c.id, 1, for_everyone=False)
        assert hidden.hidden_for == (a,)
    db = services.mongo[services.settings.mongodb_db]
    stored = await db["chat_messages"].find_one({"conversation_id": c.id, "seq": 1})
    assert stored["hidden_for"] == [a]
    assert await db["chat_events"].count_documents(
        {"conversation_id": c.id, "data.scope": "me"}) == 1

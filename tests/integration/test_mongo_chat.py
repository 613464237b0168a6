"""The chat store against the real MongoDB-wire server: seqs, idempotency, group commit."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.errors import UnavailableError
from tests.support.chat_store import record_posts, write
from tests.support.chat_writers import draft, queue
from tests.support.people import friends, two_chats


async def test_concurrent_senders_get_gapless_seqs_in_few_batches(client, services):
    a, b = await friends(client, services)
    chat, store = services.chat, services.chat_store
    c = await chat.open_direct(a, b)
    before = store.batches
    results = await asyncio.gather(*(
        chat.send_message(a if i % 2 else b, c.id, client_id=f"k{i}", text=f"m{i}")
        for i in range(200)))
    assert sorted(m.seq for m, _ in results) == list(range(1, 201))
    assert len({m.pos for m, _ in results}) == 200
    assert store.batches - before < 50  # group commit: many sends per round trip
    history = await chat.history(a, c.id, limit=100)
    assert [m.seq for m in history] == list(range(101, 201))
    conv = await chat.conversation_for(a, c.id)
    assert conv.last_seq == 200 and conv.last_message.seq == 200


async def test_concurrent_retries_of_one_client_id_store_one_message(client, services):
    a, b = await friends(client, services)
    c = await services.chat.open_direct(a, b)
    results = await asyncio.gather(*(
        services.chat.send_message(a, c.id, client_id="same", text="x") for _ in range(10)))
    assert len({m.id for m, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    again, created = await services.chat.send_message(a, c.id, client_id="same", text="x")
    assert not created and again.id == results[0][0].id


async def test_under_load_commits_are_spaced_and_an_idle_writer_commits_at_once(
        client, services):
    a, b = await friends(client, services)
    chat, store = services.chat, services.chat_store
    c = await chat.open_direct(a, b)
    spacing = 2.0  # long beside a send on a busy machine, so the two cases stay apart
    store.writer.commit_spacing = spacing
    store.writer.spacing_from = 1  # held after any commit (by default after `short_from` or more)
    await asyncio.sleep(spacing)  # idle: the last commit is long past
    started = asyncio.get_running_loop().time()
    await chat.send_message(a, c.id, client_id="lone", text="lone")
    assert asyncio.get_running_loop().time() - started < spacing / 2  # not held for it
    # Sends trickling in right after it share the next commit, one spacing later.
    batches = store.batches
    sends = []
    for i in range(3):
        sends.append(asyncio.ensure_future(
            chat.send_message(b, c.id, client_id=f"t{i}", text=f"t{i}")))
        await asyncio.sleep(0.1)
    done = await asyncio.gather(*sends)
    assert [m.seq for m, _ in done] == [2, 3, 4]
    assert store.batches - batches == 1


async def test_a_retry_among_new_sends_leaves_no_gap_in_the_seqs(client, services):
    """A retry of a stored message is found by its duplicate `_id` at insert time; the seq it
    was given, and those after it, are taken back, so the conversation stays gapless."""
    a, b, c, other = await two_chats(client, services)
    chat, store = services.chat, services.chat_store
    stored, _ = await chat.send_message(a, c.id, client_id="old", text="old")
    # Queued at once, so one batch: new, retry, new in `c`, and one in another conversation.
    sends = [queue(store, draft(c, b, "n1")), queue(store, draft(c, a, "old")),
             queue(store, draft(c, b, "n2")), queue(store, draft(other, a, "o1"))]
    batches = store.batches
    (n1, new1), (retry, new_r), (n2, new2), (o1, new_o) = await asyncio.gather(*sends)
    assert (new1, new_r, new2, new_o) == (True, False, True, True)
    assert retry.id == stored.id and retry.seq == stored.seq == 1
    assert (n1.seq, n2.seq, o1.seq) == (2, 3, 1)
    assert n1.pos < n2.pos
    assert store.batches - batches == 2  # the taken-back sends went in the next batch
    history = await chat.history(b, c.id)
    assert [(m.seq, m.text) for m in history] == [(1, "old"), (2, "n1"), (3, "n2")]
    assert [m.text for m in await store.messages(c.id, before=None, after=None, limit=10)] \
        == ["old", "n1", "n2"]
    # And the next send continues from there.
    n3, _ = await chat.send_message(b, c.id, client_id="n3", text="n3")
    assert n3.seq == 4


async def test_a_retry_after_a_restart_answers_the_stored_message(client, services, stores,
                                                                   settings):
    from nirvana.bootstrap import build_services

    a, b = await friends(client, services)
    c = await services.chat.open_direct(a, b)
    first, _ = await services.chat.send_message(a, c.id, client_id="k", text="x")
    await services.chat_store.close()
    pool, mongo = stores
    fresh = build_services(settings, pool, mongo, secret="t" * 48)
    again, created = await fresh.chat.send_message(a, c.id, client_id="k", text="x")
    assert not created and again.id == first.id and again.seq == 1
    m, created = await fresh.chat.send_message(a, c.id, client_id="k2", text="y")
    assert created and m.seq == 2
    await fresh.chat_store.close()


async def test_seqs_continue_after_a_restart_of_the_writer(client, services, stores, settings):
    from nirvana.bootstrap import build_services

    a, b = await friends(client, services)
    c = await services.chat.open_direct(a, b)
    await services.chat.send_message(a, c.id, client_id="1", text="x")
    await services.chat_store.close()
    pool, mongo = stores
    fresh = build_services(settings, pool, mongo, secret="t" * 48)
    m, _ = await fresh.chat.send_message(b, c.id, client_id="2", text="y")
    assert m.seq == 2
    await fresh.chat_store.close()


async def test_a_send_past_its_deadline_is_answered_at_once_and_delivered_when_stored(
        client, services, flaky, monkeypatch):
    """A store slower than the deadline: the sender hears store_timeout then, not when the
    store answers; the write that lands afterwards is still delivered live, once, and the
    retry the sender was told to make finds it."""
    a, b, c, _ = await two_chats(client, services)
    chat, store, insert = flaky(timeout=0.1)  # the deadline is twice this
    posted = record_posts(chat, monkeypatch)
    release = asyncio.Event()

    async def slow(docs):
        await release.wait()
        await write(docs)

    insert.failure = slow
    started = asyncio.get_running_loop().time()
    with pytest.raises(UnavailableError) as refused:
        await chat.send_message(a, c.id, client_id="slow", text="slow")
    assert refused.value.code == "store_timeout"
    # Refused at the deadline (0.2 s), not when the insert ends: it never would by itself.
    assert asyncio.get_running_loop().time() - started < 0.2 + 3 and posted == []

    release.set()
    for _ in range(100):
        if posted:
            break
        await asyncio.sleep(0.02)
    assert [m.text for m in posted] == ["slow"]
    again, created = await chat.send_message(a, c.id, client_id="slow", text="slow")
    assert not created and again.id == posted[0].id and len(posted) == 1

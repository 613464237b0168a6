"""The chat store against the real MongoDB-wire server: seqs, idempotency, group commit."""

from __future__ import annotations

import asyncio

from tests.helpers import sign_up


async def friends(client, services):
    a, b = (await sign_up(client))["user"]["id"], (await sign_up(client))["user"]["id"]
    await services.pool.execute(
        "INSERT INTO friendships (user_id, friend_id) VALUES ($1, $2), ($2, $1)", a, b)
    return a, b


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

"""A run's receipts of one conversation are one event document (storage/mongo/codec.py
`receipts_doc`), each receipt at its own position: a room of 10's nine receipts are one
document beside another conversation's plain one; a resume from inside the bundle, or in
pages cut through it, replays each receipt once, in order, mixed with plain receipt
documents; pruning removes whole bundles under a floor that covers them, and a restart
continues past a bundle's highest position, as it does after the bundles are rewritten as
plain receipts for an older release. Over the real MongoDB-wire store."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

from nirvana.domain.chat.entities import Receipt, ReceiptKind
from nirvana.storage.mongo.changes import MongoChatChanges
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.codec import receipt_doc
from nirvana.storage.mongo.collections import ChatCollections
from tests.support.admin_cli import run_admin
from tests.support.live_frames import live_frames
from tests.support.receipt_runs import queued_together, receipts_world, room_of
from tests.support.stored_receipts import stored_receipts

DELIVERED, READ = ReceiptKind.DELIVERED, ReceiptKind.READ


async def _room_run(services, chats, writers, kind=DELIVERED):
    """A room of 10 (a and nine others) and a's conversation with b; one run of the nine
    others' `kind` marks of the room, b's of the conversation with b queued among them.
    The writer, the room, a's socket's receipt frames of the run, and its receipts by
    position: the room's nine, then b's."""
    db, store, (a, b, c), conv = await receipts_world(services, chats, writers)
    room = await room_of(store, a)
    others = [m for m in room.member_ids if m != a]
    marks = ([(room, m, kind, 1) for m in others[:4]] + [(conv["b"], b, kind, 1)]
             + [(room, m, kind, 1) for m in others[4:]])
    async with live_frames(services.hub, a, await store.head()) as frames:
        seen = len(await frames.read())  # what a socket gets first (the online list)
        answers = await queued_together(store, marks,
                                        on_recorded=services.hub.receipt_recorded)
        delivered = [json.loads(t) for t in (await frames.read())[seen:]]
    return store, room, conv["b"], delivered, answers[:4] + answers[5:] + answers[4:5]


async def _pages(store: MongoChatStore, user: int, since: int, limit: int) -> list[list[int]]:
    """`user`'s resume from `since` in pages of `limit`, each from the last position of the
    one before: the positions of each page's receipts."""
    pages: list[list[int]] = []
    while True:
        page = await store.stream_since(user, since, limit)
        pages.append([i.pos for i in page.items if isinstance(i, Receipt)])
        if not page.truncated:
            return pages
        since = page.items[-1].pos


async def test_a_rooms_receipts_of_one_run_are_one_document_each_at_its_own_position(
        services, chats, writers):
    store, room, with_b, delivered, receipts = await _room_run(services, chats, writers)
    p = receipts[0].pos
    assert [r.pos for r in receipts] == list(range(p, p + 10))
    assert [(r.conversation_id, r.user_id) for r in receipts] == (
        [(room.id, m) for m in room.member_ids[1:]] + [(with_b.id, chats[1])])
    stored = [d async for d in ChatCollections().events.find().sort("pos", 1)]
    assert [(d["type"], d["conversation_id"], d.get("first"), d["pos"]) for d in stored] == [
        ("receipts", room.id, p, p + 8), ("receipt", with_b.id, None, p + 9)]
    assert await stored_receipts() == receipts
    # a is in both: every receipt's frame, in position order (a frame below one sent is
    # dropped: ws/connection.py `push`).
    assert [(f["type"], f["pos"]) for f in delivered] == [("receipt", r.pos) for r in receipts]


async def test_a_resume_replays_a_bundles_receipts_past_since_once_in_pages(
        services, chats, writers):
    store, room, with_b, _, receipts = await _room_run(services, chats, writers)
    a, member = room.member_ids[0], room.member_ids[9]
    p = receipts[0].pos
    # From inside the bundle: only its receipts past `since`, then b's plain one (a's).
    page = await store.stream_since(a, p + 3, 100)
    assert not page.truncated and page.head == p + 9
    assert page.items == receipts[4:]
    assert (await store.stream_since(member, p + 3, 100)).items == receipts[4:9]
    # Pages cut through the bundle continue where the last one ended: each once, in order.
    assert await _pages(store, a, p - 1, 4) == [
        list(range(p, p + 4)), list(range(p + 4, p + 8)), [p + 8, p + 9]]
    assert await _pages(store, member, p + 1, 3) == [
        [p + 2, p + 3, p + 4], [p + 5, p + 6, p + 7], [p + 8]]


async def test_pruning_takes_whole_bundles_and_a_restart_continues_past_the_newest(
        services, chats, writers):
    """Two runs of the room (delivered, then read), the first's documents a day old: a
    prune removes those whole, its floor their highest position; a writer started again
    finds the second bundle's highest as the top, and its next receipt takes the position
    after it."""
    store, room, with_b, _, first = await _room_run(services, chats, writers)
    events = ChatCollections().events
    await events.update_many({}, {"$set": {"created_at": datetime.now(timezone.utc)
                                           - timedelta(days=1)}})
    second = await queued_together(store, [(room, m, READ, 1) for m in room.member_ids[1:]])
    changes = MongoChatChanges(store)
    assert await changes.prune_events(datetime.now(timezone.utc) - timedelta(hours=1)) == 2
    assert await changes.resume_floor() == first[-1].pos
    assert await stored_receipts() == second
    assert [r.pos for r in second] == list(range(first[-1].pos + 1, first[-1].pos + 10))
    await store.close()
    again = MongoChatStore()
    writers.append(again)
    await again.lead(lambda: True, 2)
    assert await again.head() == second[-1].pos
    after = await again.record_receipt(with_b.id, chats[1], READ, 1, tuple(with_b.member_ids))
    assert after is not None and after.pos == second[-1].pos + 1


async def test_unbundling_for_an_older_release_keeps_every_receipt_and_the_top(
        services, chats, writers, server_urls, settings):
    """`python -m nirvana.admin unbundle-receipts` (docs/operations.md, going back to an
    earlier release): two runs, the second's bundle the newest event, the first's rewrite
    cut after three of its receipts. Every receipt is then one plain document, each once
    at its own position, and a writer started again continues past the newest: no
    position is handed out twice."""
    store, room, _, _, first = await _room_run(services, chats, writers)
    second = await queued_together(store, [(room, m, READ, 1) for m in room.member_ids[1:]])
    await store.close()
    events = ChatCollections().events
    await events.insert_many([receipt_doc(r, datetime.now(timezone.utc)) for r in first[:3]])
    env = {**os.environ, "DATABASE_URL": server_urls[0], "MONGODB_URL": server_urls[1],
           "MONGODB_DB": settings.mongodb_db}
    for rewritten in (2, 0):  # again: nothing left
        code, out, err = await run_admin(env, "unbundle-receipts")
        assert code == 0, err
        assert f"Rewrote {rewritten} receipt bundles" in out and "0 bundles remain" in out
    stored = [d async for d in events.find().sort("pos", 1)]
    assert {d["type"] for d in stored} == {"receipt"}
    assert await stored_receipts() == first + second
    again = MongoChatStore()
    writers.append(again)
    await again.lead(lambda: True, 2)
    assert await again.head() == second[-1].pos

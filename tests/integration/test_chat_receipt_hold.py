"""A writer woken from idle by receipts alone holds them for the rest of their message's
(storage/mongo/receipt_hold.py), and what clients see stays as docs/protocol.md says: every
member gets every receipt in position order, each mark is answered with its receipt, a send
or change queued behind held receipts is answered at once, and a close or a lead during a
hold answers or refuses every mark. The writer here holds for a minute, far past each
test's bound, so a hold that does not end when it should fails the test. Over the real
MongoDB-wire store."""

from __future__ import annotations

import asyncio
import json

from nirvana.domain.chat.entities import Receipt, ReceiptKind
from nirvana.domain.errors import UnavailableError
from tests.support.chat_writers import chat_on, send
from tests.support.live_frames import live_frames
from tests.support.receipt_runs import receipts_world
from tests.support.stored_receipts import stored_receipts

DELIVERED = ReceiptKind.DELIVERED
LONG = 60.0  # the hold: longer than any bound below


def _marking(store, services, conversation, user: int, seq: int) -> asyncio.Future:
    return asyncio.ensure_future(store.record_receipt(
        conversation.id, user, DELIVERED, seq, tuple(conversation.member_ids),
        on_recorded=services.hub.receipt_recorded))


async def _held(store, services, conversation, user: int, seq: int) -> asyncio.Future:
    """`user`'s mark of `seq`, queued and held by the writer (not answered yet)."""
    future = _marking(store, services, conversation, user, seq)
    for _ in range(3):  # queued, and the writer woken to hold it
        await asyncio.sleep(0)
    assert not future.done()
    return future


async def test_a_groups_receipts_arriving_apart_reach_every_member_in_position_order(
        services, chats, writers):
    """b and c mark a's message a moment apart: each is answered with its receipt, and a's
    socket and the store have both, in position order."""
    db, store, (a, b, c), conv = await receipts_world(services, chats, writers, LONG)
    g = conv["g"]
    async with live_frames(services.hub, a, await store.head()) as frames:
        seen = len(await frames.read())
        by_b = await _held(store, services, g, b, 3)
        await asyncio.sleep(0.01)
        by_c = _marking(store, services, g, c, 3)
        async with asyncio.timeout(10):
            answers = await asyncio.gather(by_b, by_c)
        delivered = [json.loads(t) for t in (await frames.read())[seen:]]
    assert all(isinstance(r, Receipt) for r in answers)
    assert [(r.user_id, r.seq) for r in answers] == [(b, 3), (c, 3)]
    assert answers[1].pos == answers[0].pos + 1
    assert [(f["type"], f["pos"], f["user_id"]) for f in delivered] == [
        ("receipt", r.pos, r.user_id) for r in answers]
    assert await stored_receipts(g.id) == answers


async def test_a_send_queued_behind_held_receipts_is_answered_at_once(
        services, chats, writers):
    """b's mark waits for c's; a's send behind it ends the hold: both are answered, the
    message at the next seq; so again for c's mark of that message. a's socket gets both
    receipts, in position order."""
    db, store, (a, b, c), conv = await receipts_world(services, chats, writers, LONG)
    g = conv["g"]
    async with live_frames(services.hub, a, await store.head()) as frames:
        seen = len(await frames.read())
        by_b = await _held(store, services, g, b, 3)
        async with asyncio.timeout(10):
            message = await send(store, g, a, "behind-a-hold")
            receipt = await by_b
        assert message.seq == 4 and (receipt.user_id, receipt.seq) == (b, 3)
        by_c = await _held(store, services, g, c, 4)
        async with asyncio.timeout(10):
            again = await send(store, g, a, "behind-a-second-hold")
            late = await by_c
        assert again.seq == 5 and (late.user_id, late.seq) == (c, 4)
        delivered = [json.loads(t) for t in (await frames.read())[seen:]]
    assert [(f["type"], f["pos"]) for f in delivered] == [
        ("receipt", receipt.pos), ("receipt", late.pos)]
    assert receipt.pos < late.pos
    assert await stored_receipts(g.id) == [receipt, late]


async def test_a_change_queued_behind_held_receipts_is_answered_at_once(
        services, chats, writers):
    db, store, (a, b, c), conv = await receipts_world(services, chats, writers, LONG)
    g = conv["g"]
    chat = chat_on(store, services, db)
    by_b = await _held(store, services, g, b, 3)
    async with asyncio.timeout(10):
        edited = await chat.edit_message(a, g.id, 3, "edited")
        receipt = await by_b
    assert edited.text == "edited" and receipt.user_id == b


async def test_a_close_during_a_hold_refuses_the_held_marks(services, chats, writers):
    db, store, (a, b, c), conv = await receipts_world(services, chats, writers, LONG)
    by_b = await _held(store, services, conv["g"], b, 3)
    async with asyncio.timeout(10):
        await store.close()
        refused = (await asyncio.gather(by_b, return_exceptions=True))[0]
    assert isinstance(refused, UnavailableError) and str(refused) == "The server is stopping."


async def test_a_lead_during_a_hold_refuses_the_held_marks_whose_retry_records_them(
        services, chats, writers):
    """Held marks are the earlier tenure's: refused to retry at once, and the retry is
    answered with the receipt (the mark was never written)."""
    db, store, (a, b, c), conv = await receipts_world(services, chats, writers, LONG)
    g = conv["g"]
    by_b = await _held(store, services, g, b, 3)
    async with asyncio.timeout(10):
        await store.lead(lambda: True, 2)
        refused = (await asyncio.gather(by_b, return_exceptions=True))[0]
    assert isinstance(refused, UnavailableError) and refused.retry_after is not None
    assert await stored_receipts(g.id) == []
    async with asyncio.timeout(10):  # held again, alone: ended by the send, not by time
        retried = await _held(store, services, g, b, 3)
        await send(store, g, a, "ends-the-hold")
        receipt = await retried
    assert receipt.user_id == b and await stored_receipts(g.id) == [receipt]

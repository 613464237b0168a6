"""A deposed writer's receipts (storage/mongo/receipt_commits.py): its marks are outside the
fence's transaction, its receipt events are refused by the store's fence (fence.py), alone,
in a run, or as one bundle. Two writers over the real MongoDB-wire store; the
refusals of a deposed writer's other writes are test_chat_writer_fence_refusals.py's."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.chat.entities import ReceiptKind
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.fence import FencedOutError
from tests.support.chat_collections import SteeredCollections
from tests.support.chat_writers import readers


@pytest.mark.parametrize("run", ["one", "run", "bundle"])
async def test_a_deposed_writers_receipt_event_is_refused_its_mark_may_land(
        services, chats, writers, run):
    """Receipts are not in the fence's transaction (receipt_commits.py): the deposed
    writer's raised mark lands, which is true (a mark only rises, and the reader reached
    it), and only its event is refused: others see the mark on their next read, not live.
    With `run`, c's receipt is committed with b's: the fence refuses their one insert. With
    `bundle`, b's delivered 2 and read 1 are one document (codec.py `receipts_doc`),
    stamped and refused as any event: the refused insert is that one document."""
    marking = [(conversation, user, ReceiptKind.READ, 1)
               for user, conversation in await readers(services, chats, run == "run")]
    if run == "bundle":
        a, b, with_b, _ = chats
        await services.chat.send_message(a, with_b.id, client_id="second", text="m")
        marking.insert(0, (with_b, b, ReceiptKind.DELIVERED, 2))
    # Summarised, so the deposed writer's recover has no flush to be refused (fenced too).
    await services.chat_store.summaries.flush()
    steered = SteeredCollections()
    old, new = MongoChatStore(db=steered), MongoChatStore()
    writers += [old, new]
    await old.lead(lambda: True, 1)
    await new.lead(lambda: True, 2)
    refused = await asyncio.gather(*(
        old.record_receipt(conversation.id, user, kind, seq, tuple(conversation.member_ids))
        for conversation, user, kind, seq in marking), return_exceptions=True)
    assert all(isinstance(r, FencedOutError) for r in refused), refused
    assert old.writer.stepped_down
    db = services.mongo[services.settings.mongodb_db]
    assert await db["chat_events"].count_documents({}) == 0
    if run == "bundle":
        [[tried]] = steered.receipt_inserts
        assert (tried["type"], tried["epoch"], tried["conversation_id"]) == (
            "receipts", 1, marking[0][0].id)
        assert [(r["user_id"], r["kind"]) for r in tried["receipts"]] == [
            (b, "delivered"), (b, "read")]
    for conversation, user, kind, seq in marking:
        marks = (await ChatCollections().states.find_one({"_id": conversation.id}))["marks"]
        assert marks[str(user)][kind.value] == seq
        # The live writer's same receipt changes nothing: the mark is there already.
        assert await new.record_receipt(conversation.id, user, kind, seq,
                                        tuple(conversation.member_ids)) is None

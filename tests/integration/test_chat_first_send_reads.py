"""What the first send of a conversation reads before its insert, after a read of the
conversation (the domain's cache miss) or its creation: the writer numbers from the state's
stored last_seq that read saw (last_seqs.py `SeqFloors`), and reads no state of its own.
Counted through the collections the store is given (tests/support/chat_reads.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from nirvana.domain.chat.entities import (
    Conversation,
    ConversationKind,
    Member,
    Message,
    MessageDraft,
    MessageKind,
)
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.codec import conversation_doc, message_doc, message_id, state_doc
from tests.support.chat_reads import CountingCollections
from tests.support.chat_store import write
from tests.support.chat_writers import chat_writer

SENDER, READER = 1, 2
SEND_TIMEOUT = 10  # seconds: an idle store answers in milliseconds


def _conversation(cid: str, last_seq: int = 0) -> Conversation:
    now = datetime.now(timezone.utc)
    return Conversation(id=cid, kind=ConversationKind.GROUP,
                        members=[Member(SENDER), Member(READER)], created_by=SENDER,
                        created_at=now, last_activity=now, name=cid, last_seq=last_seq)


def _message(cid: str, seq: int) -> Message:
    return Message(id=message_id(SENDER, f"{cid}-{seq}"), conversation_id=cid, seq=seq,
                   pos=seq, sender_id=SENDER, client_id=f"{cid}-{seq}",
                   kind=MessageKind.TEXT, text=f"m{seq}", attachments=(), reply_to=None,
                   created_at=datetime.now(timezone.utc), audience=(SENDER, READER))


async def _stored(counts: CountingCollections, cid: str, last: int, last_seq: int) -> None:
    """Conversation `cid` with messages 1..`last` stored, its state's last_seq `last_seq`."""
    await write([message_doc(_message(cid, s)) for s in range(1, last + 1)])
    await counts.conversations.insert_one(conversation_doc(_conversation(cid), None))
    await counts.states.insert_one(state_doc(_conversation(cid, last_seq=last_seq)))


async def _send(store: MongoChatStore, cid: str, client_id: str) -> Message:
    draft = MessageDraft(conversation_id=cid, sender_id=SENDER, client_id=client_id,
                         kind=MessageKind.TEXT, text="hello", attachments=(), reply_to=None,
                         audience=(SENDER, READER), created_at=datetime.now(timezone.utc))
    async with asyncio.timeout(SEND_TIMEOUT):
        message, created = await store.append(draft, admitted=store.admission())
    assert created
    return message


async def test_a_first_send_after_a_read_reads_no_state_and_numbers_past_a_lagging_one(counted):
    store, counts = counted
    # As after a crash before a summary flush: messages 1-5 stored, the state says 2.
    cid = "lagging"
    await _stored(counts, cid, last=5, last_seq=2)
    read = await store.get_conversation(cid)
    assert read is not None and read.last_seq == 2
    counts.reset()
    batches = store.batches

    sent = await _send(store, cid, "first")

    assert sent.seq == 6  # past the stored messages, not the state's 2 + 1
    assert store.batches == batches + 1  # numbered right the first time: no seq conflict
    assert counts.state_finds == 0 and counts.floor_reads == 0  # the read's floor served
    ranges = [q for q in counts.highest_seqs if "conversation_id" in q]  # not the head's
    assert ranges == [{"conversation_id": cid, "seq": {"$gte": 2}}]
    # The floor serves one read: once the writer forgets its seqs, it reads the state again.
    store.writer.forget_seqs()
    counts.reset()
    assert (await _send(store, cid, "second")).seq == 7
    assert counts.state_finds == 1


async def test_a_first_send_after_its_conversation_was_created_reads_no_state(counted):
    store, counts = counted
    await store.create_conversation(_conversation("new"), None)
    counts.reset()

    assert (await _send(store, "new", "first")).seq == 1
    assert counts.state_finds == 0 and counts.floor_reads == 0


async def test_floors_live_within_one_tenure_of_leading(services, writers):
    """A floor a read offered goes when the writer leads again, and when it follows; a read
    while following offers none (that writer numbers nothing): the first send of the next
    tenure reads the state, as at a start (last_seqs.py `SeqFloors`)."""
    counts = CountingCollections()
    store = await chat_writer(writers, db=counts)  # leads at epoch 1
    floors = store.writer._sends._floors
    cid = "across"
    await _stored(counts, cid, last=2, last_seq=2)
    assert await store.get_conversation(cid) is not None and len(floors) == 1

    await store.lead(lambda: True, 2)
    counts.reset()
    assert (await _send(store, cid, "after a lead")).seq == 3
    assert counts.state_finds == 1  # the earlier tenure's floor was not used

    store.writer.forget_seqs()
    assert await store.get_conversation(cid) is not None and len(floors) == 1

    async def leader_head() -> int:
        return 0

    await store.follow(leader_head)
    assert len(floors) == 0  # dropped at the follow
    assert await store.get_conversation(cid) is not None
    assert len(floors) == 0  # following: none offered

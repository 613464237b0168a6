"""History pages read windows of seqs (storage/mongo/history.py), not the whole
conversation: whatever the gaps, the tombstones, a message that landed late, the messages a
reader deleted for themselves or a summary that lags the messages, every page of every size
holds exactly the stored messages it should."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from pymongo.errors import NetworkTimeout

from nirvana.storage.mongo.changes import MongoChatChanges
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.codec import message_doc
from nirvana.storage.mongo.documents import ConversationStateDoc, MessageDoc
from tests.support.chat_store import write
from tests.support.people import friends

LIMIT = 20
LIMITS = pytest.mark.parametrize("limit", [1, LIMIT, 100])
FAR = 2 ** 63 - 1  # the farthest cursor a store holds


async def _conversation(client, services, n: int):
    """A direct conversation of `n` messages sent through the writer: (a, b, id, messages)."""
    a, b = await friends(client, services)
    c = await services.chat.open_direct(a, b)
    sent = await asyncio.gather(*(
        services.chat.send_message(a if i % 3 else b, c.id, client_id=f"m{i}", text=f"m{i}")
        for i in range(n)))
    return a, b, c.id, sorted((m for m, _ in sent), key=lambda m: m.seq)


async def _every_page_matches(read, stored: list[int]) -> None:
    """The newest page, and every `before` and `after` cursor from below the first stored
    seq to past the last, and the farthest either way, against the stored seqs."""
    stored, limit = sorted(stored), read.limit
    assert [m.seq for m in await read(before=None, after=None)] == stored[-limit:]
    for cursor in [-FAR - 1, *range(-1, (stored[-1] if stored else 0) + 3), FAR]:
        older = [m.seq for m in await read(before=cursor, after=None)]
        assert older == [s for s in stored if s < cursor][-limit:], f"before={cursor}"
        newer = [m.seq for m in await read(before=None, after=cursor)]
        assert newer == [s for s in stored if s > cursor][:limit], f"after={cursor}"


class _reader:
    def __init__(self, store, conversation_id: str, user_id: int | None = None, *,
                 limit: int = LIMIT) -> None:
        self.store, self.conversation_id, self.user_id = store, conversation_id, user_id
        self.changes = MongoChatChanges(store)
        self.limit = limit

    async def __call__(self, *, before, after):
        if self.user_id is None:
            return await self.store.messages(self.conversation_id, before=before,
                                             after=after, limit=self.limit)
        return await self.changes.messages_for(self.user_id, self.conversation_id,
                                               before=before, after=after, limit=self.limit)


@LIMITS
async def test_pages_hold_every_message_across_gaps_and_tombstones(client, services, limit):
    a, b, cid, sent = await _conversation(client, services, 120)
    messages = MessageDoc.get_pymongo_collection()
    # Gaps: one seq, a run wider than a page, a run wider than twice a page, and the
    # first seq; a page then straddles each.
    gone = {1, 7, *range(30, 52), *range(60, 110)}
    await messages.delete_many({"conversation_id": cid, "seq": {"$in": sorted(gone)}})
    # Tombstones are shown.
    await messages.update_many({"conversation_id": cid, "seq": {"$in": [2, 55, 115]}},
                               {"$set": {"deleted": True, "text": ""}})
    stored = [m.seq for m in sent if m.seq not in gone]
    await _every_page_matches(_reader(services.chat_store, cid, limit=limit), stored)
    page = await services.chat_store.messages(cid, before=56, after=None, limit=LIMIT)
    assert [m.seq for m in page][-3:] == [53, 54, 55] and page[-1].deleted


@LIMITS
async def test_messages_past_a_lagging_summary_are_in_the_newest_and_forward_pages(
        client, services, limit):
    a, b, cid, sent = await _conversation(client, services, 60)
    await services.chat_store.summaries.flush()
    # Stored past what the conversation's summary says (as by a writer whose summaries
    # were not written yet): the summary's last seq is only a lower bound.
    late = [replace(sent[-1], id=f"late{s}", client_id=f"late{s}", seq=s,
                    pos=sent[-1].pos + s) for s in range(61, 61 + 2 * LIMIT + 5)]
    await write([message_doc(m) for m in late])
    await _every_page_matches(_reader(services.chat_store, cid, limit=limit),
                              list(range(1, 106)))
    # A summary that leads the messages (they were never all written) hides nothing either.
    await ConversationStateDoc.get_pymongo_collection().update_one(
        {"_id": cid}, {"$set": {"last_seq": 500}})
    # Read by a store that did not write them (services.chat_store knows seq 60 is stored).
    other = MongoChatStore()
    await _every_page_matches(_reader(other, cid, limit=limit), list(range(1, 106)))
    await other.close()


@LIMITS
async def test_messages_deleted_for_me_do_not_shorten_or_end_my_pages(client, services, limit):
    a, b, cid, sent = await _conversation(client, services, 100)
    # b deleted a run longer than two pages for themselves, and a few around it.
    hidden = {3, *range(20, 75), 99}
    await MessageDoc.get_pymongo_collection().update_many(
        {"conversation_id": cid, "seq": {"$in": sorted(hidden)}},
        {"$addToSet": {"hidden_for": b}})
    await _every_page_matches(_reader(services.chat_store, cid, b, limit=limit),
                              [s for s in range(1, 101) if s not in hidden])
    await _every_page_matches(_reader(services.chat_store, cid, a, limit=limit),
                              list(range(1, 101)))
    # The same through the service, as HTTP and the WebSocket ask.
    page = await services.chat.history(b, cid, before=80, limit=LIMIT)
    assert [m.seq for m in page] == [*range(5, 20), *range(75, 80)]


async def test_a_message_that_landed_late_is_in_its_seq_place(client, services, flaky):
    """A send whose answer was lost (the store wrote it) is asked again and acked, in its
    seq and position: history pages by seq hold it where it was sent."""
    a, b = await friends(client, services)
    chat, store, insert = flaky()
    c = await chat.open_direct(a, b)
    for i in range(30):
        await chat.send_message(a, c.id, client_id=f"k{i}", text=f"m{i}")

    async def answer_lost(docs):
        await write(docs)
        raise NetworkTimeout("the answer was lost")

    insert.failure = answer_lost
    lost, created = await chat.send_message(b, c.id, client_id="lost", text="lost")
    assert created
    insert.failure = None
    for i in range(30, 40):
        await chat.send_message(a, c.id, client_id=f"k{i}", text=f"m{i}")
    messages = MessageDoc.get_pymongo_collection()
    late = await messages.find_one({"client_id": "lost"})
    before = await messages.find_one({"conversation_id": c.id, "seq": 30})
    assert late["seq"] == lost.seq == 31 and late["pos"] == lost.pos == before["pos"] + 1
    for limit in (1, LIMIT, 100):
        await _every_page_matches(_reader(store, c.id, limit=limit), list(range(1, 42)))

"""History pages read windows of seqs (storage/mongo/history.py), not the whole conversation:
whatever the gaps, the tombstones, the moved positions, the messages a reader deleted for
themselves or a summary that lags the messages, every page holds exactly the stored
messages it should."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from nirvana.storage.mongo.changes import MongoChatChanges
from nirvana.storage.mongo.codec import message_doc
from nirvana.storage.mongo.documents import ConversationStateDoc, MessageDoc
from tests.support.chat_store import write
from tests.support.people import friends

LIMIT = 20


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
    seq to past the last, against the stored seqs."""
    stored = sorted(stored)
    assert [m.seq for m in await read(before=None, after=None)] == stored[-LIMIT:]
    for cursor in range(-1, (stored[-1] if stored else 0) + 3):
        older = [m.seq for m in await read(before=cursor, after=None)]
        assert older == [s for s in stored if s < cursor][-LIMIT:], f"before={cursor}"
        newer = [m.seq for m in await read(before=None, after=cursor)]
        assert newer == [s for s in stored if s > cursor][:LIMIT], f"after={cursor}"


def _reader(store, conversation_id: str, user_id: int | None = None):
    changes = MongoChatChanges(store)

    async def read(*, before, after):
        if user_id is None:
            return await store.messages(conversation_id, before=before, after=after,
                                        limit=LIMIT)
        return await changes.messages_for(user_id, conversation_id, before=before,
                                          after=after, limit=LIMIT)
    return read


async def test_pages_hold_every_message_across_gaps_tombstones_and_moved_positions(
        client, services):
    a, b, cid, sent = await _conversation(client, services, 120)
    messages = MessageDoc.get_pymongo_collection()
    # Gaps: one seq, a run wider than a page, a run wider than twice a page, and the
    # first seq; a page then straddles each.
    gone = {1, 7, *range(30, 52), *range(60, 110)}
    await messages.delete_many({"conversation_id": cid, "seq": {"$in": sorted(gone)}})
    # Tombstones are shown; a message moved to a fresh position (a send in doubt that
    # landed late) keeps its seq.
    await messages.update_many({"conversation_id": cid, "seq": {"$in": [2, 55, 115]}},
                               {"$set": {"deleted": True, "text": ""}})
    await messages.update_one({"conversation_id": cid, "seq": 112},
                              {"$set": {"pos": sent[-1].pos + 1000}})
    stored = [m.seq for m in sent if m.seq not in gone]
    await _every_page_matches(_reader(services.chat_store, cid), stored)
    page = await services.chat_store.messages(cid, before=56, after=None, limit=LIMIT)
    assert [m.seq for m in page][-3:] == [53, 54, 55] and page[-1].deleted


async def test_messages_past_a_lagging_summary_are_in_the_newest_and_forward_pages(
        client, services):
    a, b, cid, sent = await _conversation(client, services, 60)
    await services.chat_store.summaries.flush()
    # Stored past what the conversation's summary says (as by a writer whose summaries
    # were not written yet): the summary's last seq is only a lower bound.
    late = [replace(sent[-1], id=f"late{s}", client_id=f"late{s}", seq=s,
                    pos=sent[-1].pos + s) for s in range(61, 61 + 2 * LIMIT + 5)]
    await write([message_doc(m) for m in late])
    await _every_page_matches(_reader(services.chat_store, cid), list(range(1, 106)))
    # A summary that leads the messages (they were never all written) hides nothing either.
    await ConversationStateDoc.get_pymongo_collection().update_one(
        {"_id": cid}, {"$set": {"last_seq": 500}})
    await _every_page_matches(_reader(services.chat_store, cid), list(range(1, 106)))


async def test_messages_deleted_for_me_do_not_shorten_or_end_my_pages(client, services):
    a, b, cid, sent = await _conversation(client, services, 100)
    # b deleted a run longer than two pages for themselves, and a few around it.
    hidden = {3, *range(20, 75), 99}
    await MessageDoc.get_pymongo_collection().update_many(
        {"conversation_id": cid, "seq": {"$in": sorted(hidden)}},
        {"$addToSet": {"hidden_for": b}})
    await _every_page_matches(_reader(services.chat_store, cid, b),
                              [s for s in range(1, 101) if s not in hidden])
    await _every_page_matches(_reader(services.chat_store, cid, a), list(range(1, 101)))
    # The same through the service, as HTTP and the WebSocket ask.
    page = await services.chat.history(b, cid, before=80, limit=LIMIT)
    assert [m.seq for m in page] == [*range(5, 20), *range(75, 80)]

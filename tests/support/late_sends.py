"""A message an older release moved to the head with its old seq, below a later seq of its
conversation (marked `moved`), and what a client resuming from between the two is
replayed."""

from __future__ import annotations

from typing import Any, NamedTuple

from dataclasses import replace

from nirvana.domain.chat.entities import Conversation, Message
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.documents import ChatMetaDoc, MessageDoc
from nirvana.storage.mongo.upgrade import SEQ_ORDER_ID
from tests.support.chat_collections import SummaryClock
from tests.support.people import two_chats


class LateSend(NamedTuple):
    chat: Any
    store: MongoChatStore
    a: int
    c: Conversation  # where "late" (seq 1) landed past "later" (seq 2)
    other: Conversation  # a's other conversation, where "seen" is
    late: Message
    since: int  # "seen"'s position: between "later"'s and "late"'s
    expected: list[tuple[int, str]]  # what a resuming from `since` must get


async def moved_below_a_later_seq(client, services, flaky, *, flushed_before_move: bool,
                                  failing_repair: Any = None, **options) -> LateSend:
    """What an older release's writer left: b's "late" (seq 1 of `c`) landed after an
    insert with no answer and was moved to the head, past a's "later" (seq 2) and "seen"
    (in `other`), marked `moved` (this release never moves a message: sends.py). That
    writer then stopped without writing its summaries (`flushed_before_move`: but for
    those written before the move); the returned store is the next start's, on the same
    data. `options` go to it (`flaky`); by default its summary clock stands still: no
    background flush, the test says when summaries are written."""
    a, b, c, other = await two_chats(client, services)
    old_chat, old, _ = flaky(summary_clock=SummaryClock())
    late, _ = await old_chat.send_message(b, c.id, client_id="late", text="late")
    later, _ = await old_chat.send_message(a, c.id, client_id="later", text="later")
    seen, _ = await old_chat.send_message(a, other.id, client_id="seen", text="seen")
    if flushed_before_move:
        await old.summaries.flush()
    moved_to = seen.pos + 1
    await MessageDoc.get_pymongo_collection().update_one(
        {"_id": late.id}, {"$set": {"pos": moved_to, "moved": True}})
    await old.summaries.forget()  # its crash: the rest of its summaries die with it
    old.writer.may_commit = lambda: False
    # An older release's database: no note of where seq order holds (upgrade.py); the
    # next start's writer notes it past everything stored.
    await ChatMetaDoc.get_pymongo_collection().delete_many({"_id": SEQ_ORDER_ID})
    chat, store, _ = flaky(**{"summary_clock": SummaryClock(), **options})
    # The start's repair, as its first read or write does: it re-summarises what lies past
    # the checkpoint and writes it at once. `failing_repair` (a SteeredCollections passed
    # as the store's `db`): that write fails, so the buffer keeps the moved position.
    if failing_repair is not None:
        failing_repair.fail_state_writes = True
    try:
        await store.summaries.recover()
    except Exception:
        assert failing_repair is not None
    finally:
        if failing_repair is not None:
            failing_repair.fail_state_writes = False
    late = replace(late, pos=moved_to)
    assert (late.seq, later.seq) == (1, 2)
    assert later.pos < seen.pos < late.pos
    return LateSend(chat, store, a, c, other, late, seen.pos, [(late.pos, "late")])


async def replayed(store: MongoChatStore, user_id: int, since: int) -> list[tuple[int, str]]:
    """The messages a resume from `since` gives the user: (position, text)."""
    page = await store.stream_since(user_id, since, 100)
    return [(i.pos, i.text) for i in page.items if isinstance(i, Message)]

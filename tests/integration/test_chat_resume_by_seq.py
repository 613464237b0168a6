"""Resume reads a conversation's messages past a position by seq (conversation_since.py)
where seq order holds, and by position where an older release wrote: checked against a
brute-force answer on the real store, over message documents numbered as the writers
number them."""

from __future__ import annotations

import asyncio
import os
import random
from datetime import datetime, timezone
from typing import Any

import pytest

from nirvana.domain.chat.entities import Message, StreamPage
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.conversation_since import by_seq
from nirvana.storage.mongo.resume import OLDER_SPAN, stream_since
from nirvana.storage.mongo.summaries import Summaries
from nirvana.storage.mongo.upgrade import SEQ_ORDER_ID, SeqOrder, mark_seq_order
from tests.support.chat_reads import CountingCollections
from tests.support.people import two_chats

READER = 1
NOW = datetime(2026, 12, 5, tzinfo=timezone.utc)
# The model test's reads of a stored model run this many at a time: they only read, and
# while one waits on the store another decodes its answer (the two share the test's time).
READS_AT_ONCE = 8


class WriterModel:
    """Message documents as the chat writers leave them. This release's (sends.py): each
    send gets its conversation's next seq and the next position. An older release's, as
    well: a send in doubt that the writer did not find stored made it re-read seqs without
    it; the store may write it later with its older seq and position (below a seq reused
    meanwhile, and not marked), and a retry that found it moved it to the head with its
    seq (marked `moved`)."""

    def __init__(self, rng: random.Random, conversations: dict[str, list[int]]) -> None:
        self.rng = rng
        self.members = conversations
        self.pos = 0
        self.next_seq = {c: 0 for c in conversations}
        self.docs: dict[tuple[str, int], dict[str, Any]] = {}  # (cid, seq) -> document
        self.unseen: dict[str, list[dict[str, Any]]] = {}  # cid -> its sends not found
        self.count = 0

    def _doc(self, cid: str, seq: int, pos: int) -> dict[str, Any]:
        self.count += 1
        others = [u for u in self.members[cid] if u != READER]
        audience = self.members[cid] if self.rng.random() < 0.85 else others
        return {"_id": f"m{self.count}", "conversation_id": cid, "seq": seq, "pos": pos,
                "sender_id": self.rng.choice(self.members[cid]), "client_id": f"k{self.count}",
                "kind": "text", "text": f"{cid}:{seq}", "attachments": [], "reply_to": None,
                "created_at": NOW, "audience": audience,
                "hidden_for": [READER] if self.rng.random() < 0.1 else []}

    def _allocate(self, cid: str) -> tuple[int, int]:
        self.next_seq[cid] += 1
        self.pos += 1
        return self.next_seq[cid], self.pos

    def send(self, cid: str) -> None:
        seq, pos = self._allocate(cid)
        while (cid, seq) in self.docs:  # a late one holds it: refused, seqs re-read
            self.next_seq[cid] = max(s for c, s in self.docs if c == cid)
            seq, pos = self._allocate(cid)
        self.docs[(cid, seq)] = self._doc(cid, seq, pos)

    def doubt(self, cid: str, k: int) -> None:
        """An older release: k sends of one batch get no answer and are not found, and
        seqs are re-read without them."""
        base = max([s for c, s in self.docs if c == cid], default=0)
        self.next_seq[cid] = base
        held = []
        for _ in range(k):
            seq, pos = self._allocate(cid)
            held.append(self._doc(cid, seq, pos))
        self.next_seq[cid] = base
        self.unseen.setdefault(cid, []).extend(held)

    def land(self, cid: str) -> None:
        """The store gets to the stalled insert: what no later send took lands as it was."""
        for d in self.unseen.get(cid, []):
            if (cid, d["seq"]) not in self.docs:
                self.docs[(cid, d["seq"])] = d
                d["landed"] = True

    def found(self, cid: str) -> None:
        """The retries come: the landed ones are moved to the head, the rest sent anew."""
        for d in sorted(self.unseen.pop(cid, []), key=lambda d: d["pos"]):
            if d.pop("landed", False):
                self.pos += 1
                d["pos"], d["moved"] = self.pos, True
            else:
                self.send(cid)

    def upgrade(self) -> int:
        """This release starts: sends in doubt are forgotten (their senders' retries are
        new sends here), and seqs are read from the store."""
        self.unseen.clear()
        for cid in self.members:
            self.next_seq[cid] = max([s for c, s in self.docs if c == cid], default=0)
        return self.pos

    def states(self) -> list[dict[str, Any]]:
        out = []
        for cid in self.members:
            mine = [d for (c, _), d in self.docs.items() if c == cid]
            if not mine:
                continue
            last = max(mine, key=lambda d: d["seq"])
            out.append({"_id": cid, "last_seq": last["seq"], "last_activity": NOW,
                        "last_message": {"_id": last["_id"], "pos": last["pos"],
                                         "seq": last["seq"]},
                        "last_pos": max([d["pos"] for d in mine if d.get("moved")],
                                        default=0)})
        return out


def _build(rng: random.Random) -> tuple[WriterModel, int]:
    """A model whose older release left moved and late-landed messages, then this
    release's sends; and the position where this release began."""
    conversations = {"long": [READER, 2], "g": [READER, 2, 3], "d": [READER, 3],
                     "quiet": [READER, 4], "theirs": [2, 3]}
    model = WriterModel(rng, conversations)
    for _ in range(120):  # a long backlog in one conversation
        model.send("long")
    busy = ["long", "g", "d", "theirs"]
    for _ in range(400):
        cid = rng.choice(busy)
        roll = rng.random()
        if roll < 0.06 and cid not in model.unseen:
            model.doubt(cid, rng.choice([1, 2, 3, 4]))
        elif roll < 0.14 and cid in model.unseen:
            model.land(cid)
        elif roll < 0.17 and cid in model.unseen:
            model.found(cid)
        else:
            model.send(cid)
    for cid in list(model.unseen):
        model.land(cid)
    ordered_from = model.upgrade()
    for _ in range(300):
        model.send(rng.choice(busy))
    model.send("quiet")
    return model, ordered_from


def _expected(model: WriterModel, since: int, head: int, limit: int
              ) -> tuple[list[str], bool]:
    """What resume answered when it read each conversation by position: each of the
    reader's conversations' first limit + 1 messages in the window, the visible ones
    merged in position order."""
    pages = []
    for cid, members in model.members.items():
        if READER not in members:
            continue
        window = sorted((d for (c, _), d in model.docs.items()
                         if c == cid and since < d["pos"] <= head), key=lambda d: d["pos"])
        pages.append(window[:limit + 1])
    visible = sorted((d for page in pages for d in page
                      if READER in d["audience"] and READER not in d["hidden_for"]),
                     key=lambda d: d["pos"])
    more = any(len(page) > limit for page in pages) or len(visible) > limit
    return [d["_id"] for d in visible[:limit]], more


async def _store(model: WriterModel, ordered_from: int | None) -> ChatCollections:
    db = ChatCollections()
    await db.conversations.insert_many([
        {"_id": cid, "kind": "group", "direct_key": cid, "member_ids": members,
         "members": [{"user_id": u, "role": "member"} for u in members], "created_by": 2,
         "created_at": NOW} for cid, members in model.members.items()])
    await db.messages.insert_many([{k: v for k, v in d.items() if k != "landed"}
                                   for d in model.docs.values()])
    await db.states.insert_many(model.states())
    if ordered_from is not None:
        await db.meta.insert_one({"_id": SEQ_ORDER_ID, "pos": ordered_from})
    return db


def _out_of_order(model: WriterModel) -> list[dict[str, Any]]:
    """The messages a read by seq alone would skip from some `since`: below a higher seq
    at a lower position of their conversation."""
    out = []
    for cid in model.members:
        mine = sorted((d for (c, _), d in model.docs.items() if c == cid),
                      key=lambda d: d["seq"])
        for i, d in enumerate(mine):
            if any(e["pos"] < d["pos"] for e in mine[i + 1:]):
                out.append(d)
    return out


# Seeds that leave both kinds. The suite runs seed 2 only: 4 and 5 took every branch of the
# resume, seq-order and summary reads that it takes, and no other (docs/performance.md);
# `SOAK_SEEDS` set (as for the real-writer soak) runs all four, 7 the slowest.
MODEL_SEEDS = [2, 4, 5, 7] if os.environ.get("SOAK_SEEDS") else [2]


@pytest.mark.parametrize("seed", MODEL_SEEDS)
async def test_resume_answers_as_reading_by_position(services, seed):
    rng = random.Random(seed)
    model, ordered_from = _build(rng)
    top = model.pos
    moved = sorted(d["pos"] for d in model.docs.values() if d.get("moved"))
    unmarked = [d for d in _out_of_order(model) if not d.get("moved")]
    assert moved and unmarked, "the older release left nothing out of order: untested"
    assert all(d["pos"] <= ordered_from for d in _out_of_order(model))
    positions = sorted(d["pos"] for d in model.docs.values())
    cases = [(0, top, 5000), (0, top, 50), (top - 1, top, 1), (top, top, 10),
             (ordered_from, top, 3), (ordered_from - 1, top, 3)]
    cases += [(p, top, 3) for p in moved[:20]] + [(p - 1, top, 3) for p in moved[:20]]
    cases += [(d["pos"] - 1, top, 3) for d in unmarked[:20]]
    targeted = len(cases)
    for _ in range(60):
        since = rng.choice(positions) if rng.random() < 0.5 else rng.randint(0, top)
        head = top if rng.random() < 0.5 else rng.randint(since, top)
        cases.append((since, head, rng.choice([1, 2, 3, 5, 20, 200])))
    for since in range(0, top, 50):  # paging through the long backlog
        cases.append((since, top, 10))
    # Noted, and not noted yet (another process leads and has not started): then every
    # position up to the head is read as an older release's.
    # As a follower (others_unwritten: the messages past the checkpoint read as well) on
    # every case above and every other one below: these reads were most of the test's time.
    checks = [(since, head, limit, follower) for i, (since, head, limit) in enumerate(cases)
              for follower in ((False, True) if i < targeted or i % 2 else (False,))]
    for noted in (ordered_from, None):
        db = await _store(model, noted)
        summaries = Summaries(db, interval=1.0, share=0.5)
        seq_order = SeqOrder(db)
        readers = asyncio.Semaphore(READS_AT_ONCE)

        async def read(since: int, head: int, limit: int, follower: bool) -> StreamPage:
            async with readers:
                return await stream_since(db, summaries, seq_order, READER, since, head,
                                          limit, others_unwritten=follower)

        pages = await asyncio.gather(*(read(*check) for check in checks))
        for (since, head, limit, follower), page in zip(checks, pages):
            got = [i.id for i in page.items if isinstance(i, Message)]
            assert (got, page.truncated) == _expected(model, since, head, limit), (
                since, head, limit, follower, noted)
        for coll in (db.conversations, db.messages, db.states, db.meta):
            await coll.delete_many({})


@pytest.mark.parametrize("seed", [3, 6])
async def test_by_seq_finds_the_window_from_any_lower_bound_of_the_top(services, seed):
    """The known top lags the conversation (summaries not written yet): the read above it
    is open, and the search down starts wherever it ends."""
    rng = random.Random(seed)
    model, ordered_from = _build(rng)
    db = await _store(model, ordered_from)
    for cid in ("long", "g", "d"):
        mine = [d for (c, _), d in model.docs.items() if c == cid]
        top_seq = max(d["seq"] for d in mine)
        for _ in range(60):
            since = rng.randint(ordered_from, model.pos)
            head = rng.randint(since, model.pos)
            limit = rng.choice([1, 3, 10, 100])
            want = sorted((d for d in mine if since < d["pos"] <= head),
                          key=lambda d: d["pos"])[:limit + 1]
            got = await by_seq(db, cid, since, head, limit, rng.randint(0, top_seq))
            assert [d["_id"] for d in got] == [d["_id"] for d in want], (cid, since, head)


def _message(seq: int, pos: int, cid: str = "c", **extra: Any) -> dict[str, Any]:
    return {"_id": f"s{seq}", "conversation_id": cid, "seq": seq, "pos": pos,
            "sender_id": 2, "client_id": f"k{seq}", "kind": "text", "text": f"{seq}",
            "attachments": [], "reply_to": None, "created_at": NOW,
            "audience": [READER, 2], **extra}


async def test_an_older_release_s_messages_out_of_seq_order_are_read_by_position(services):
    """An older release moved seq 5 to the head (pos 30, `moved`, the state's `last_pos`)
    and let a stalled insert land late at seq 22, pos 22, below seq 21 that a later send
    reused at pos 23 (unmarked). This release began at pos 31. A read by seq alone skips
    both from the right `since`; resume reads the older positions by position."""
    db = ChatCollections()
    older = [_message(s, s) for s in range(1, 21) if s != 5]
    older += [_message(22, 22), _message(21, 23)]
    older += [_message(s, s + 1) for s in range(23, 29)]  # up to pos 29
    older.append(_message(5, 30, moved=True))
    newer = [_message(s, s + 2) for s in range(29, 60)]  # pos 31..61
    await db.messages.insert_many(older + newer)
    await db.conversations.insert_one({"_id": "c", "kind": "group", "direct_key": "c",
                                       "member_ids": [READER, 2], "members": [],
                                       "created_by": 2, "created_at": NOW})
    await db.states.insert_one({"_id": "c", "last_seq": 59, "last_activity": NOW,
                                "last_message": {"_id": "s59", "pos": 61, "seq": 59},
                                "last_pos": 30})
    await mark_seq_order(db, None)
    assert (await db.meta.find_one({"_id": SEQ_ORDER_ID}))["pos"] == 61  # all older here
    await db.meta.update_one({"_id": SEQ_ORDER_ID}, {"$set": {"pos": 30}})  # as at upgrade
    summaries = Summaries(db, interval=1.0, share=0.5)
    seq_order = SeqOrder(db)
    docs = sorted(older + newer, key=lambda d: d["pos"])
    for since, limit in ((22, 100), (22, 3), (29, 100), (4, 5), (30, 2), (40, 100)):
        want = [d["_id"] for d in docs if d["pos"] > since][:limit]
        page = await stream_since(db, summaries, seq_order, READER, since, 61, limit)
        assert [i.id for i in page.items] == want, since
    # Not vacuous: by seq alone, from a top that stops its search there, each is skipped.
    assert "s21" not in [d["_id"] for d in await by_seq(db, "c", 22, 61, 100, 29)]
    assert "s5" not in [d["_id"] for d in await by_seq(db, "c", 29, 61, 100, 36)]


async def _one_message_far_past_the_start(db: ChatCollections) -> int:
    """READER's conversation "c" with one message, "s1", at a position OLDER_SPAN past
    10: returned (the head)."""
    top = OLDER_SPAN + 10
    await db.messages.insert_one(_message(1, top))
    await db.conversations.insert_one({"_id": "c", "kind": "group", "direct_key": "c",
                                       "member_ids": [READER, 2], "members": [],
                                       "created_by": 2, "created_at": NOW})
    await db.states.insert_one({"_id": "c", "last_seq": 1, "last_activity": NOW,
                                "last_message": {"_id": "s1", "pos": top, "seq": 1}})
    return top


async def test_a_resume_from_far_before_where_seq_order_holds_is_not_recovered(services):
    """Up to `SEQ_ORDER_ID` resume reads every conversation's messages by position through
    the (pos) index; from further back than OLDER_SPAN it answers "not recovered" (the
    client refetches over HTTP) rather than read that much of the stream."""
    db = ChatCollections()
    top = await _one_message_far_past_the_start(db)
    await db.meta.insert_one({"_id": SEQ_ORDER_ID, "pos": top})
    summaries = Summaries(db, interval=1.0, share=0.5)
    seq_order = SeqOrder(db)
    page = await stream_since(db, summaries, seq_order, READER, 5, top, 100)
    assert (page.items, page.truncated) == ([], True)
    page = await stream_since(db, summaries, seq_order, READER, 10, top, 100)
    assert ([i.id for i in page.items], page.truncated) == (["s1"], False)


async def test_the_writer_notes_where_seq_order_begins_before_it_writes(client, services,
                                                                        flaky):
    """A database an older release wrote: the first writer of this release notes its
    newest position before it writes, so the older messages are read by position and its
    own by seq."""
    a, b, c, _ = await two_chats(client, services)
    db = ChatCollections()
    await db.meta.delete_many({"_id": SEQ_ORDER_ID})  # as an older release left it
    head = await services.chat_store.head()
    older = [_message(s, head + 10 + s, c.id, audience=[a, b], sender_id=b)
             for s in range(1, 4)]
    await db.messages.insert_many(older)
    chat, store, _ = flaky()
    sent, _ = await chat.send_message(a, c.id, client_id="new", text="new")
    assert (sent.seq, sent.pos > older[-1]["pos"]) == (4, True)
    assert (await db.meta.find_one({"_id": SEQ_ORDER_ID}))["pos"] == older[-1]["pos"]
    page = await store.stream_since(b, head, 100)
    assert [i.id for i in page.items if isinstance(i, Message)] == [
        "s1", "s2", "s3", sent.id]


async def test_resume_reads_where_seq_order_holds_until_found_then_keeps_it(services):
    """A follower started before any writer of this release: while `SEQ_ORDER_ID` is
    absent every resume reads it (the whole stream counts as an older release's, so a
    resume from far back is not recovered); once a writer notes it, the next resume finds
    it and answers by it, and no resume reads it again (it never changes)."""
    counts = CountingCollections()
    await counts.meta.delete_many({"_id": SEQ_ORDER_ID})  # no writer of this release yet
    top = await _one_message_far_past_the_start(counts)
    follower = MongoChatStore(db=counts)

    async def leader_head() -> int:
        return top

    await follower.follow(leader_head)
    try:
        for _ in range(2):
            page = await follower.stream_since(READER, 5, 100)
            assert (page.items, page.truncated) == ([], True)
        assert counts.seq_order_reads == 2
        # The writer, elsewhere, notes it (`mark_seq_order`): here, all by seq.
        await counts.meta.insert_one({"_id": SEQ_ORDER_ID, "pos": 0})
        for _ in range(3):
            page = await follower.stream_since(READER, 5, 100)
            assert ([i.id for i in page.items], page.truncated) == (["s1"], False)
        assert counts.seq_order_reads == 3
    finally:
        await follower.close()

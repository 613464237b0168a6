"""What bringing replayed change events up to date costs a resume (storage/mongo/resume.py
`_as_now`: the changed messages not in the page read, as seq ranges or by id): the resume
read with it and without it, each way first in turn, over a conversation where every
message (or every fifth) has a reaction, replayed with the messages (no read) or past them
(every changed message read), and over 200 groups with two reactions each. "without" is
the read before `_as_now`, each event's message copy decoded whole. Measures; asserts only
that every way replays the same positions. Run by name (not collected by the suite):

    .venv/bin/python -m pytest -q -s tests/integration/measure_resume_changes.py

Prints, per window, the median wall and this process's CPU ms of `stream_since` each way."""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time

from pymongo import ASCENDING

from nirvana.storage.mongo import resume
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.codec import RECEIPT_TYPES, event_of, receipts_of

MESSAGES = int(os.environ.get("RESUME_MESSAGES", "2400"))  # and as many reactions
ROUNDS = int(os.environ.get("RESUME_ROUNDS", "7"))
LIMIT = 5000  # the default resume window


async def _unchanged(db, user_id, conversations, items, refs):
    return items  # the resume read as it was before `_as_now`


async def _events_whole(db, user_id, since, head, limit):
    """`_events_since` as it was before `_as_now`: each event's message copy read whole."""
    events = []
    async with db.events.find({"audience": user_id, "pos": {"$gt": since, "$lte": head}}
                              ).sort("pos", ASCENDING).limit(limit + 1) as cursor:
        async for d in cursor:
            found = receipts_of(d) if d["type"] in RECEIPT_TYPES else [event_of(d)]
            events += [item for item in found if since < item.pos <= head]
            if len(events) > limit:
                break
    return events[:limit + 1], {}


async def test_measure_resume_with_change_events(services, chats, writers):
    """Every message has a reaction: runs of seqs, read as ranges."""
    await _measure(services, chats, writers, every=1)


async def test_measure_resume_with_sparse_change_events(services, chats, writers):
    """Every fifth message has a reaction: seqs 5 apart, within `RUN_GAP`, so read as
    ranges that take the four unchanged messages between each two changed ones too."""
    await _measure(services, chats, writers, every=5)


async def test_measure_resume_with_changes_over_many_conversations(services, chats, writers):
    """Two reactions in each of `RESUME_GROUPS` groups, on seqs 1 and 2: runs too short for a
    range, read by id; "with, one range a run" is the grouping before `RUN_MIN` and
    `READS_AT_ONCE` (every run of two a range read, all at once)."""
    a, b, _, _ = chats
    chat = services.chat
    groups = [await chat.create_group(a, f"g{i}", [b])
              for i in range(int(os.environ.get("RESUME_GROUPS", "200")))]
    for g in groups:
        for i in range(4):
            await chat.send_message(a, g.id, client_id=f"{g.id}-{i}", text="hi")
    sent_to = await chat.head()
    for g in groups:
        for seq in (1, 2):
            await chat.react(b, g.id, seq, "👍")
    await _time(writers, b, {"reactions only": sent_to}, "many", extra=True)


async def _measure(services, chats, writers, every: int) -> None:
    a, b, with_b, _ = chats
    chat = services.chat
    first = await chat.head()
    seqs = []
    for start in range(0, MESSAGES, 200):
        sent = await asyncio.gather(*(chat.send_message(a, with_b.id, client_id=f"m{i}",
                                                        text="hi")
                                      for i in range(start, min(start + 200, MESSAGES))))
        seqs += [message.seq for message, _ in sent]
    sent_to = await chat.head()
    for seq in seqs[::every]:
        await chat.react(b, with_b.id, seq, "👍")
    head = await chat.head()
    await _time(writers, b, {"messages and reactions": first, "reactions only": sent_to,
                             "newest 50 reactions": head - 50}, f"every={every}")


async def _time(writers, b, windows, label, extra=False) -> None:
    store = MongoChatStore()
    writers.append(store)
    await store.lead(lambda: True, 2)
    head = await store.head()
    ways = {"without": (_unchanged, _events_whole, resume.RUN_MIN, resume.READS_AT_ONCE),
            "with": (resume._as_now, resume._events_since, resume.RUN_MIN,
                     resume.READS_AT_ONCE)}
    if extra:
        ways["with, one range a run"] = (resume._as_now, resume._events_since, 2, 1 << 20)
    kept = ways["with"]
    for name, since in windows.items():
        took: dict[str, list[tuple[float, float]]] = {way: [] for way in ways}
        pages = {}
        for r in range(ROUNDS):
            # Each way first in turn, and a collection before each call: the garbage one way
            # leaves is not collected in the other's time.
            order = list(ways)[r % len(ways):] + list(ways)[:r % len(ways)]
            for way in order:
                (resume._as_now, resume._events_since, resume.RUN_MIN,
                 resume.READS_AT_ONCE) = ways[way]
                gc.collect()
                t, c = time.perf_counter(), time.process_time()
                page = await store.stream_since(b, since, LIMIT)
                took[way].append((time.perf_counter() - t, time.process_time() - c))
                pages[way] = page
        (resume._as_now, resume._events_since, resume.RUN_MIN, resume.READS_AT_ONCE) = kept
        for way in ways:
            assert [i.pos for i in pages[way].items] == [i.pos for i in pages["with"].items]
        read = sum(1 for i in pages["with"].items
                   if getattr(i, "message", None) is not None and i.message.pos <= since)
        print(f"\nMEASURE {label} {name}: since={since} head={head} "
              f"items={len(pages['with'].items)} changes read={read} "
              f"truncated={pages['with'].truncated} load={os.getloadavg()[0]:.2f}")
        for way, runs in took.items():
            print(f"  {way:22} wall ms median {statistics.median(w for w, _ in runs) * 1e3:7.1f}"
                  f"  cpu ms median {statistics.median(c for _, c in runs) * 1e3:7.1f}"
                  f"  walls {[round(w * 1e3, 1) for w, _ in runs]}")

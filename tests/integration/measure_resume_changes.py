"""What bringing replayed change events up to date costs a resume (storage/mongo/resume.py
`_as_now`: one read of the page's messages): the resume read with it and without it,
alternated, over a conversation where every message (or every fifth) has a reaction:
replayed with the messages (no read), or past them (every changed message read). Measures; asserts
only that both ways replay the same positions. Run by name (not collected by the suite):

    .venv/bin/python -m pytest -q -s tests/integration/measure_resume_changes.py

Prints, per window, the median wall and this process's CPU ms of `stream_since` each way."""

from __future__ import annotations

import asyncio
import os
import statistics
import time

from nirvana.storage.mongo import resume
from nirvana.storage.mongo.chat_store import MongoChatStore

MESSAGES = int(os.environ.get("RESUME_MESSAGES", "2400"))  # and as many reactions
ROUNDS = int(os.environ.get("RESUME_ROUNDS", "7"))
LIMIT = 5000  # the default resume window


async def _unchanged(db, user_id, conversations, items):
    return items  # the resume read as it was before `_as_now`


async def test_measure_resume_with_change_events(services, chats, writers):
    """Every message has a reaction: runs of seqs, read as ranges."""
    await _measure(services, chats, writers, every=1)


async def test_measure_resume_with_sparse_change_events(services, chats, writers):
    """Every fifth message has a reaction: seqs too far apart for a range, read by id."""
    await _measure(services, chats, writers, every=5)


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
    store = MongoChatStore()
    writers.append(store)
    await store.lead(lambda: True, 2)
    head = await store.head()
    as_now = resume._as_now
    windows = {"messages and reactions": first, "reactions only": sent_to,
               "newest 50 reactions": head - 50}
    for name, since in windows.items():
        took: dict[str, list[tuple[float, float]]] = {"with": [], "without": []}
        pages = {}
        for _ in range(ROUNDS):
            for way in ("without", "with"):
                resume._as_now = as_now if way == "with" else _unchanged
                t, c = time.perf_counter(), time.process_time()
                page = await store.stream_since(b, since, LIMIT)
                took[way].append((time.perf_counter() - t, time.process_time() - c))
                pages[way] = page
        resume._as_now = as_now
        assert [i.pos for i in pages["with"].items] == [i.pos for i in pages["without"].items]
        print(f"\nMEASURE every={every} {name}: since={since} head={head} items={len(pages['with'].items)} "
              f"truncated={pages['with'].truncated} load={os.getloadavg()[0]:.2f}")
        for way, runs in took.items():
            print(f"  {way:8} wall ms median {statistics.median(w for w, _ in runs) * 1e3:7.1f}"
                  f"  cpu ms median {statistics.median(c for _, c in runs) * 1e3:7.1f}"
                  f"  walls {[round(w * 1e3, 1) for w, _ in runs]}")

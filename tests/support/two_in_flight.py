"""A chat writer leading at epoch 1 with two batches in flight, the first held in its
insert and the second stored behind it: what a writer paused past its lease, or deposed,
does with a batch it stored (storage/mongo/tenures.py, sends.py `settle`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.fence import WriterFence
from tests.support.chat_writers import PausedInsert, draft, queue


async def reached(event: asyncio.Event) -> None:
    async with asyncio.timeout(5):  # a regression fails here, not at the run's timeout
        await event.wait()


async def reached_or_released(event: asyncio.Event, release: asyncio.Event) -> None:
    """`reached(event)`, where what set it then waits for `release`: set here on a
    failure, so that the waiting writer does not hold up the `writers` fixture's close."""
    try:
        await reached(event)
    except BaseException:
        release.set()
        raise


@dataclass
class TwoInFlight:
    """a's "held" (to c), whose insert is held, and b's "mine" (to b), stored and waiting
    for "held" to be answered first, with `more` after it in its batch."""

    store: MongoChatStore
    paused: PausedInsert
    held: asyncio.Future[Any] | None = None
    mine: asyncio.Future[Any] | None = None
    more: list[asyncio.Future[Any]] = field(default_factory=list)
    lease_valid: bool = True


async def two_in_flight(chats, writers, on_stored=None, db: ChatCollections | None = None,
                        fence: WriterFence | None = None, more: int = 0) -> TwoInFlight:
    """`more`: how many of b's messages follow "mine" in its batch ("mine-1", ...)."""
    a, b, with_b, with_c = chats
    paused = PausedInsert()
    store = MongoChatStore(insert=paused, max_inflight=2, db=db, fence=fence)
    writers.append(store)
    flight = TwoInFlight(store, paused)
    await store.lead(lambda: flight.lease_valid, 1)
    paused.armed, paused.only = True, with_c.id
    flight.held = queue(store, draft(with_c, a, "held"))
    try:
        await reached(paused.reached)
        flight.mine = queue(store, draft(with_b, b, "mine"), on_stored=on_stored)
        flight.more = [queue(store, draft(with_b, b, f"mine-{n}"), on_stored=on_stored)
                       for n in range(1, more + 1)]
        await reached(paused.passed)  # stored; answered only after "held"
    except BaseException:
        paused.release.set()
        raise
    return flight

"""A chat writer held by an op that waits, so that what is queued behind it is answered
`store_timeout` (the writer's bound shortened meanwhile) and still runs once it is let go:
a store slow for longer than twice the store timeout."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable

import pytest

from nirvana.domain.errors import UnavailableError
from nirvana.http.deadline import DeadlineError, within
from nirvana.storage.mongo.chat_store import MongoChatStore


@asynccontextmanager
async def writer_held(store: MongoChatStore, *, bound: float | None = 0.05
                      ) -> AsyncIterator[None]:
    """Hold `store`'s writer inside the block; on leaving it, let it go and return once
    everything queued in the block has ended (an op queued behind it has run). `bound`:
    the writer's store timeout inside the block (a receipt or change queued there is
    answered store_timeout after twice it); None leaves it (its caller waits for it)."""
    running, release = asyncio.Event(), asyncio.Event()

    async def hold(next_pos: Any) -> None:
        running.set()
        await release.wait()

    async def nothing(next_pos: Any) -> None:
        return None
    holding = asyncio.create_task(store.serialized(hold, bounded=False))
    await asyncio.wait_for(running.wait(), 10)
    kept = store.writer.timeout
    store.writer.timeout = kept if bound is None else bound
    try:
        yield
    finally:
        store.writer.timeout = kept
        release.set()
        await asyncio.wait_for(holding, 10)
    await asyncio.wait_for(store.serialized(nothing), 10)


async def answered_store_timeout(call: Awaitable[Any]) -> None:
    """Await a use case queued behind a held writer: it is answered store_timeout."""
    with pytest.raises(UnavailableError) as unknown:
        await asyncio.wait_for(call, 10)
    assert unknown.value.code == "store_timeout"


async def cut_off_by_deadline(call: Awaitable[Any]) -> None:
    """Await a use case queued behind a held writer under an HTTP route's deadline, which
    passes first (store_timeout + 0.25 s there, before the writer's bound): the use case
    is cancelled while it waits."""
    with pytest.raises(DeadlineError):
        await within(call, 0.01)


STOPS_WAITING = {"store_timeout": answered_store_timeout, "deadline": cut_off_by_deadline}

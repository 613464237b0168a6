"""Stream positions: allocated by the writer, one after another across all conversations.

A client that has seen position P resumes from it: every event has a position that only
grows, and `committed()` answers only positions whose writes have finished, so a resume that
replays up to it cannot miss an event still in flight (its live delivery comes later).
"""

from __future__ import annotations

import asyncio

from pymongo import DESCENDING

from .collections import ChatCollections
from .summaries import CHECKPOINT_ID


class StreamPositions:
    def __init__(self, db: ChatCollections) -> None:
        self._db = db
        self._last: int | None = None  # the last position allocated; None until loaded
        # The last position whose write has finished: every position up to it is stored
        # (or was never stored, its write having failed).
        self._committed = 0
        self._loading: asyncio.Task[None] | None = None

    @property
    def loaded(self) -> bool:
        return self._last is not None

    def allocate(self) -> int:
        """The next position; only the writer calls this, after `load`."""
        assert self._last is not None
        self._last += 1
        return self._last

    def mark_committed(self) -> None:
        # Called with no await since the write finished: no reader sees a position
        # allocated and not yet written.
        if self._last is not None:
            self._committed = self._last

    async def committed(self) -> int:
        """The newest position stored (0 when empty)."""
        if self._last is None:
            # One load however many sockets connect at once after a start: each load reads
            # the stream's index, and a thousand of them at once timed out on the store.
            if self._loading is None or self._loading.done():
                self._loading = asyncio.get_running_loop().create_task(self.load())
            await asyncio.shield(self._loading)
        return self._committed

    async def load(self) -> None:
        # The newest position is at or past the summary checkpoint (a position a summary
        # was written for is stored): starting the (pos) index there reads a few entries,
        # where an unbounded sort reads the whole stream on the embedded store.
        found = await self._db.meta.find_one({"_id": CHECKPOINT_ID})
        floor = {"pos": {"$gte": found["pos"]}} if found else {}
        top = 0
        for coll in (self._db.messages, self._db.events):
            d = await coll.find_one(floor, sort=[("pos", DESCENDING)], projection={"pos": 1})
            if d is None and floor:  # not expected: nothing at or past the checkpoint
                d = await coll.find_one({}, sort=[("pos", DESCENDING)], projection={"pos": 1})
            if d:
                top = max(top, d["pos"])
        self._last = max(self._last or 0, top)
        self._committed = max(self._committed, top)

"""Stream positions: allocated by the writer, one after another across all conversations.

A client that has seen position P resumes from it: every event has a position that only
grows, and `committed()` (the head a socket is given) answers only a position that is
stored, with every position below it stored or never to be. So a resume that replays up to
it cannot miss an event still in flight (its live delivery comes later), and no position
the head ever was is handed out again, in this process or after a restart:

- the positions of a write that failed are skipped, not reused: the write may still land
  (its answer was lost), and the next write that succeeds covers them;
- the head is never one of those: it moves only to a stored position, and the next start
  loads at least the highest stored one (or the highest pruned, or summarised, if higher).
  Positions a failed write took past the head may be allocated again after a restart: none
  was ever served, as head or on a frame.
"""

from __future__ import annotations

import asyncio

from pymongo import DESCENDING

from .collections import ChatCollections
from .resume import FLOOR_ID
from .summaries import CHECKPOINT_ID


class StreamPositions:
    def __init__(self, db: ChatCollections) -> None:
        self._db = db
        self._last: int | None = None  # the last position allocated; None until loaded
        self._committed = 0  # the head: see the module docstring
        self._loading: asyncio.Task[None] | None = None
        # Bumped by `forget`: a load whose reads began before it loads again (`load`).
        self._generation = 0

    @property
    def loaded(self) -> bool:
        return self._last is not None

    def allocate(self) -> int:
        """The next position; only the writer calls this, after `load`."""
        assert self._last is not None
        self._last += 1
        return self._last

    def stored(self, pos: int) -> None:
        """`pos` is written, and every position allocated before it is written or failed:
        it may be served as the head. Only the writer calls this, with no await since the
        write: no reader sees a position allocated and not yet written."""
        self._committed = max(self._committed, pos)

    async def committed(self) -> int:
        """The newest position stored (0 when empty)."""
        if self._last is None:
            # One load however many sockets connect at once after a start: each load reads
            # the stream's index, and a thousand of them at once timed out on the store.
            if self._loading is None or self._loading.done():
                self._loading = asyncio.get_running_loop().create_task(self.load())
            await asyncio.shield(self._loading)
        return self._committed

    def forget(self) -> None:
        """Load again before the next allocation: another process may have written since
        (this one becomes the writer after another, nirvana/chat_writer_role.py)."""
        self._generation += 1
        self._last = None

    async def load(self) -> None:
        """Read the newest position stored. Reads that began before a `forget` may miss
        what another writer stored meanwhile: recorded, their top would be allocated again
        (and served as the head by a reader awaiting this load), so they are read again."""
        while True:
            generation = self._generation
            top = await self._read_top()
            if generation == self._generation:
                break
        self._last = max(self._last or 0, top)
        self._committed = max(self._committed, top)

    async def _read_top(self) -> int:
        # The newest position is at or past the summary checkpoint (a position a summary
        # was written for is stored): starting the (pos) index there reads a few entries,
        # where an unbounded sort reads the whole stream on the embedded store.
        found = await self._db.meta.find_one({"_id": CHECKPOINT_ID})
        floor = {"pos": {"$gte": found["pos"]}} if found else {}
        # Pruned events were served: the newest may have been the head.
        pruned = await self._db.meta.find_one({"_id": FLOOR_ID})
        top = max(found["pos"] if found else 0, pruned["pos"] if pruned else 0)
        for coll in (self._db.messages, self._db.events):
            d = await coll.find_one(floor, sort=[("pos", DESCENDING)], projection={"pos": 1})
            if d is None and floor:  # not expected: nothing at or past the checkpoint
                d = await coll.find_one({}, sort=[("pos", DESCENDING)], projection={"pos": 1})
            if d:
                top = max(top, d["pos"])
        return top

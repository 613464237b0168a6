"""History pages: a conversation's messages by seq, read through windows of seqs.

Why windows: the embedded store reads every message of the conversation that a query's
range allows and sorts them before it applies the limit, so an open range ("the newest
50", "seq < before") costs it in proportion to the conversation's length
(docs/performance.md, "History pages"). Each read therefore asks for the seqs that hold the
page when there are no gaps. A window that comes back short (a gap, messages the reader
deleted for themselves, the conversation's start) is followed by the next one, from where
it ended and twice as wide (at most `MAX_WIDTH` pages), until the page is full or nothing
is left: a window never hides a stored message. Each read returns at most the messages the
page still needs, newest first going back, oldest first going forward: a whole page's
reads bring at most `limit` documents into this process, however many the reader hid.

Where the conversation ends is only known as a lower bound (`SeqFloor`: the stored summary
lags the messages). A window reaching past it is left open above, so a message newer than
the bound is read, not skipped; the messages past the bound are at most the summaries not
written yet. A far cursor (`before` past the floor, `after` before seq 1) comes back empty
once, then the next window reaches from where it ended to past the floor (or past seq 1):
one read, not one per doubling of the window up to the cursor.

`hidden_for` is a pipeline stage of its own after the seq range: in one filter with the
range, the embedded store scanned the whole collection; as a stage of its own, the store
reads the range through its index and filters it, and only visible messages come back.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from ...domain.chat.entities import Message
from .codec import message_of
from .collections import ChatCollections

# A lower bound of the conversation's highest seq (0 when nothing is known).
SeqFloor = Callable[[], Awaitable[int]]

# The widest window, in pages: the store materialises a window's messages before it
# filters and sorts them, so a reader who hid a long run costs it reads of this size, not
# one read of the whole run (docs/performance.md, "History pages").
MAX_WIDTH = 64


async def history_page(db: ChatCollections, conversation_id: str, *, before: int | None,
                       after: int | None, limit: int, floor: SeqFloor,
                       hidden_for: int | None = None) -> list[Message]:
    """A page of the conversation's messages by seq, ascending: `after` pages forward, else
    the newest before `before` (or the newest of all); without those `hidden_for` deleted
    for themselves. `limit` must be at least 1."""
    if limit < 1:
        raise ValueError(f"a history page holds at least one message, not {limit}")
    window = _Windows(db, conversation_id, hidden_for, floor, max_width=MAX_WIDTH * limit)
    if after is not None:
        return await window.forward(after, limit)
    if before is not None:
        return await window.backward(before, limit, width=limit)
    top = await window.floor()
    above = top - limit if top - limit >= 1 else None
    newest = await window.read(above, None, limit, newest_first=True)  # open above
    if len(newest) == limit or above is None:
        return newest
    older = await window.backward(above + 1, limit - len(newest), width=2 * limit)
    return older + newest


class _Windows:
    """Each window's bounds are exclusive, and a client's cursor goes into the first one as
    given: one no store can hold is refused by the driver (`value_out_of_range`)."""

    def __init__(self, db: ChatCollections, conversation_id: str, hidden_for: int | None,
                 floor: SeqFloor, *, max_width: int) -> None:
        self._db = db
        self._conversation_id = conversation_id
        self._hidden_for = hidden_for
        self._floor = floor
        self._top: int | None = None
        self._max_width = max_width

    async def floor(self) -> int:
        """The floor, read once per page."""
        if self._top is None:
            self._top = await self._floor()
        return self._top

    async def read(self, above: int | None, below: int | None, need: int, *,
                   newest_first: bool) -> list[Message]:
        """Up to `need` messages with above < seq < below (None: unbounded), the newest or
        the oldest of them; ascending."""
        seq: dict[str, int] = {}
        if above is not None:
            seq["$gt"] = above
        if below is not None:
            seq["$lt"] = below
        query: dict[str, Any] = {"conversation_id": self._conversation_id}
        if seq:
            query["seq"] = seq
        pipeline: list[dict[str, Any]] = [{"$match": query}]
        if self._hidden_for is not None:
            pipeline.append({"$match": {"hidden_for": {"$ne": self._hidden_for}}})
        pipeline += [{"$sort": {"seq": -1 if newest_first else 1}}, {"$limit": need}]
        found = [message_of(d) async for d in await self._db.messages.aggregate(pipeline)]
        return found[::-1] if newest_first else found

    async def backward(self, below: int, need: int, *, width: int) -> list[Message]:
        """The newest `need` messages with seq < below, ascending."""
        parts: list[list[Message]] = []
        checked_floor = False
        while need > 0:
            above: int | None = below - width - 1
            if above is not None and above < 1:
                above = None  # the conversation's start: seqs begin at 1, but never assumed
            found = await self.read(above, below, need, newest_first=True)
            parts.append(found)
            need -= len(found)
            if above is None:
                break
            below, width = above + 1, min(width * 2, self._max_width)
            if not found and not checked_floor:
                checked_floor = True
                top = await self.floor()
                if above >= top:
                    # Empty, and all past the floor: a cursor far ahead. The next window
                    # reaches from here down past the floor, the summary's lag included.
                    width += above - top
        return [m for part in reversed(parts) for m in part]

    async def forward(self, after: int, limit: int) -> list[Message]:
        """The oldest `limit` messages with seq > after, ascending."""
        # The floor first: a page reaching past it (a client catching up) is then one read.
        top = await self.floor()
        page: list[Message] = []
        above, width = after, limit
        while True:
            below: int | None = above + width + 1
            if below is not None and below > top:
                below = None  # past the known end: open above
            found = await self.read(above, below, limit - len(page), newest_first=False)
            page += found
            if len(page) >= limit or below is None:
                return page
            above, width = below - 1, min(width * 2, self._max_width)
            if not found and below <= 1:
                # Empty, and all before seq 1: a cursor far behind. The next window
                # reaches from here up past seq 1.
                width += 1 - below

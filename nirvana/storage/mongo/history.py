"""History pages: a conversation's messages by seq, read through windows of seqs.

Why windows: the embedded store reads every message of the conversation that a query's
range allows and sorts them before it applies the limit, so an open range ("the newest
50", "seq < before") costs it in proportion to the conversation's length
(docs/performance.md, "History pages"). Each read therefore asks for the seqs that hold the page when there are
no gaps. A window that comes back short (a gap, messages the reader deleted for themselves,
the conversation's start) is followed by the next one, from where it ended and twice as
wide, until the page is full or nothing is left: a window never hides a stored message.

Where the conversation ends is only known as a lower bound (`SeqFloor`: the stored summary
lags the messages). A window reaching past it is left open above, so a message newer than
the bound is read, not skipped; the messages past the bound are at most the summaries not
written yet.

`hidden_for` is checked here, not in the query: any clause besides the seq range made the
embedded store scan the whole collection.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from pymongo import ASCENDING

from ...domain.chat.entities import Message
from .codec import message_of
from .collections import ChatCollections

# A lower bound of the conversation's highest seq (0 when nothing is known).
SeqFloor = Callable[[], Awaitable[int]]


async def history_page(db: ChatCollections, conversation_id: str, *, before: int | None,
                       after: int | None, limit: int, floor: SeqFloor,
                       hidden_for: int | None = None) -> list[Message]:
    """A page of the conversation's messages by seq, ascending: `after` pages forward, else
    the newest before `before` (or the newest of all); without those `hidden_for` deleted
    for themselves."""
    window = _Windows(db, conversation_id, hidden_for)
    if after is not None:
        return await window.forward(after, limit, floor)
    if before is not None:
        return await window.backward(before, limit, width=limit)
    top = await floor()
    above = top - limit if top - limit >= 1 else None
    newest = (await window.read(above, None))[-limit:]  # open above: nothing newer skipped
    if len(newest) == limit or above is None:
        return newest
    older = await window.backward(above + 1, limit - len(newest), width=2 * limit)
    return older + newest


class _Windows:
    """Each window's bounds are exclusive, and a client's cursor goes into the first one as
    given: one no store can hold is refused by the driver (`value_out_of_range`)."""

    def __init__(self, db: ChatCollections, conversation_id: str, hidden_for: int | None
                 ) -> None:
        self._db = db
        self._conversation_id = conversation_id
        self._hidden_for = hidden_for

    async def read(self, above: int | None, below: int | None) -> list[Message]:
        """The messages with above < seq < below (None: unbounded), ascending."""
        seq: dict[str, int] = {}
        if above is not None:
            seq["$gt"] = above
        if below is not None:
            seq["$lt"] = below
        query: dict[str, Any] = {"conversation_id": self._conversation_id}
        if seq:
            query["seq"] = seq
        cursor = self._db.messages.find(query).sort("seq", ASCENDING)
        hidden = self._hidden_for
        return [message_of(d) async for d in cursor
                if hidden is None or hidden not in d.get("hidden_for", ())]

    async def backward(self, below: int, need: int, *, width: int) -> list[Message]:
        """The newest `need` messages with seq < below, ascending."""
        parts: list[list[Message]] = []
        while need > 0:
            above: int | None = below - width - 1
            if above is not None and above < 1:
                above = None  # the conversation's start: seqs begin at 1, but never assumed
            found = (await self.read(above, below))[-need:]
            parts.append(found)
            need -= len(found)
            if above is None:
                break
            below, width = above + 1, width * 2
        return [m for part in reversed(parts) for m in part]

    async def forward(self, after: int, limit: int, floor: SeqFloor) -> list[Message]:
        """The oldest `limit` messages with seq > after, ascending."""
        # The floor first: a page reaching past it (a client catching up) is then one read.
        top = await floor()
        page: list[Message] = []
        above, width = after, limit
        while True:
            below: int | None = above + width + 1
            if below is not None and below > top:
                below = None  # past the known end: open above
            page += (await self.read(above, below))[:limit - len(page)]
            if len(page) >= limit or below is None:
                return page
            above, width = below - 1, width * 2

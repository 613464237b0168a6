"""Holding a run of receipts a moment, so that a message's receipts meet in one commit.

Clients answer every `newMessage` with `delivered` (docs/protocol.md, *Receipts*), so a
message brings a burst of receipts, one from each member but its sender, within a few ms.
An idle writer commits the first of them at once, and the rest ride one or two more runs:
each run is a `find`, a bulk write of marks and an `insert_many` (receipt_commits.py),
whatever its size. So when the writer wakes from idle to a queue of marks alone, it waits
up to `RECEIPT_HOLD` for the rest of their bursts (writer.py `_run`). The hold ends at once
when anything but a mark is queued (a send is then stored first, before the held marks; a
change after them, in queue order: alone_commits.py), when every burst
queued is whole (`Bursts`), when the window is full, when the writer may no longer
commit under the tenure it held for (a `lead()`, a lapsed lease seen at the next wake:
`keep`), and on close (the writer task is cancelled, and close refuses what is queued; a
hold never takes a mark from the queue). Only from idle, and only after a commit too small
to space the next (writer.py `_hold`: fewer than `short_from` writes): marks that queued
while the writer committed already rode together, and a busy writer holding would only slow
it.
Why the figure: docs/performance.md, "A message's receipts in one commit".
"""

from __future__ import annotations

import asyncio
from typing import Callable, Sequence

from .work_items import Mark, WorkItem

# Long enough for a room's answers to a message to arrive (within a few ms of each other);
# a longer hold gathered no more and made each held mark wait longer (docs/performance.md).
RECEIPT_HOLD = 0.003


class Bursts:
    """The bursts of marks in a queue that only grows at its end, read as it grows
    (`read`): for each conversation and seq marked, who marked it (`delivered` or `read`:
    a member looking at the conversation reads where the others deliver), against every
    member of its audience but one (the sender). A mark of an earlier message counts for
    none: a client marks each message as it arrives."""

    def __init__(self) -> None:
        self._marked: dict[tuple[str, int], set[int]] = {}
        self._open: set[tuple[str, int]] = set()  # bursts a member has yet to mark
        self._read = 0  # items of the queue read
        self.marks_only = True

    def read(self, pending: Sequence[WorkItem]) -> None:
        for item in pending[self._read:]:
            if not isinstance(item, Mark):
                self.marks_only = False  # for good: nothing more to read
                break
            key = (item.conversation_id, item.seq)
            users = self._marked.setdefault(key, set())
            users.add(item.user_id)
            if len(users) < len(item.audience) - 1:
                self._open.add(key)
            else:
                self._open.discard(key)
        self._read = len(pending)

    @property
    def whole(self) -> bool:
        return not self._open


def worth_holding(pending: Sequence[WorkItem], full: int, bursts: Bursts) -> bool:
    """Whether a writer that just woke from idle should go on holding `pending` for more
    marks: it is all marks, not yet `full`, and some burst in it is not whole."""
    bursts.read(pending)
    return 0 < len(pending) < full and bursts.marks_only and not bursts.whole


async def hold(pending: list[WorkItem], wake: asyncio.Event, full: int,
               keep: Callable[[], bool], seconds: float = RECEIPT_HOLD) -> None:
    """Wait, at most `seconds`, while `worth_holding(pending, full, …)` and `keep()`, looked
    at whenever `wake` is set (writer.py sets it on every item queued and on a lead); only
    items appended to `pending` meanwhile are read. `wake` is left cleared or set.
    Cancelled (close), it ends at once, leaving `pending` as is."""
    bursts = Bursts()
    if not (keep() and worth_holding(pending, full, bursts)):
        return
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        wake.set()
    # A flag, not the clock: a timer may fire a hair before its time by the loop's clock.
    timer = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        while True:
            wake.clear()
            await wake.wait()
            if expired or not (keep() and worth_holding(pending, full, bursts)):
                return
    finally:
        timer.cancel()

"""The chat writer's tenures: each `lead()` begins one, and work queued under an earlier one
is never committed (several instances, nirvana/chat_writer_role.py).

The writer checked that work (the sender's account exists, say) before another instance
may have led meanwhile and changed what it depends on (deleted and erased that account):
a process paused past its lease can get it back before its writer gets to what it had
queued. Such work is answered `unavailable`: each client retries with the same client_id
(or command), the retry is checked again, and a send that did land is found by its key.
Cost: one int compare per item taken.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from ...domain.errors import UnavailableError
from .fence import FencedOutError
from .work_items import WorkItem

Item = TypeVar("Item", bound=WorkItem)


class Tenures:
    def __init__(self) -> None:
        self.now = 0  # one process never leads: everything is queued under 0

    def begin(self) -> None:
        self.now += 1

    def stamp(self, item: WorkItem) -> None:
        item.tenure = self.now

    def current(self, items: list[Item]) -> list[Item]:
        """The items queued under this tenure; the others are refused."""
        if all(i.tenure == self.now for i in items):
            return items
        earlier = UnavailableError("The chat writer changed; retry with the same client_id.")
        for item in items:
            if item.tenure != self.now:
                item.refuse(earlier)
        return [i for i in items if i.tenure == self.now]

    def fence(self, may_commit: Callable[[], bool]) -> Callable[[], None]:
        """For work taken now: raises FencedOutError (before anything is sent: nothing in
        doubt) once `may_commit()` is false, or another tenure began. The store's epoch
        fence is not enough for a batch of sends: it is numbered when taken, but stamped
        with the epoch when its insert starts, which may be after a lead (with seqs and
        positions from before another writer's). Once sent, it carries the old epoch,
        which the store refuses after the lead raised its fence, and this check ends its
        asking again (sends.py `_until_answered`)."""
        taken = self.now

        def fence() -> None:
            if taken != self.now or not may_commit():
                raise FencedOutError()
        return fence

"""The chat writer's tenures: each `lead()` begins one, and work queued under an earlier one
is never committed (several instances, nirvana/chat_writer_role.py).

The writer checked that work (the sender's account exists, say) before another instance
may have led meanwhile and changed what it depends on (deleted and erased that account):
a process paused past its lease can get it back before its writer gets to what it had
queued. Such work is answered `unavailable`: each client retries with the same client_id
(or command), the retry is checked again, and a send that did land is found by its key.
Cost: one int compare per item taken. A writer deposed but not leading again answers a
batch (a receipt, a change) it stored only while the store's fence still stands at the
epoch it was taken under (`TenureFence.unless_taken_over`): one read of the fence's
token, only once its lease has lapsed.

A send's checks read before it is queued (the account's existence from PostgreSQL, on a
user cache miss): one answered after a lead may be from before another writer's deletion,
so the send carries the tenure read before its checks (`ChatStore.admission`), and is
refused when queued under a later one (writer.py `enqueue`).
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from pymongo.errors import PyMongoError

from ...domain.chat.ports import Admission
from ...domain.errors import RETRY_AT_ONCE_SECONDS, UnavailableError
from .fence import FencedOutError, WriterFence
from .work_items import WorkItem

Item = TypeVar("Item", bound=WorkItem)


def earlier() -> UnavailableError:
    """The answer to work of an earlier tenure."""
    return UnavailableError("The chat writer changed; retry (a send with the same "
                            "client_id).", retry_after=RETRY_AT_ONCE_SECONDS)


class Tenures:
    def __init__(self) -> None:
        # One process never leads: everything is queued under 0. An Admission as it is:
        # handed out per send (`ChatStore.admission`), no object is made for it.
        self.now = Admission(0)

    def begin(self) -> None:
        self.now = Admission(self.now + 1)

    def stamp(self, item: WorkItem) -> None:
        item.tenure = self.now

    def current(self, items: list[Item]) -> list[Item]:
        """The items queued under this tenure; the others are refused."""
        if all(i.tenure == self.now for i in items):
            return items
        refused = earlier()
        for item in items:
            if item.tenure != self.now:
                item.refuse(refused)
        return [i for i in items if i.tenure == self.now]

    def fence(self, may_commit: Callable[[], bool],
              store: WriterFence | None = None) -> TenureFence:
        """The fence of work taken now (a batch, an alone-window); `store`: the store's
        epoch fence this process raised (several instances)."""
        return TenureFence(self, may_commit, store)


class TenureFence:
    """Raises FencedOutError once `may_commit()` is false, or another tenure began than the
    one the work was taken in. The store's epoch fence is not enough for a batch of sends:
    it is numbered when taken, but stamped with the epoch when its insert starts, which may
    be after a lead (with seqs and positions from before another writer's). Once sent, it
    carries the old epoch, which the store refuses after the lead raised its fence, and
    this check ends its asking again (sends.py `_until_answered`).

    What is in doubt when it raises depends on where it is called:
    - the whole check, before a request (sends.py `prepare`, `_until_answered`,
      alone_commits.py `commit`): nothing, the request is not sent;
    - `tenure()` alone, in receipt_commits.py `commit` after the marks' `$max` (which the
      store does not fence): the mark is raised, its event is not written; the client's
      retry of the receipt finds the mark raised, and resolves with no event (others see
      the mark on their next read);
    - `tenure()` alone, in a change's `next_pos`: inside the fenced transaction nothing
      lands; on a store without transactions (fence.py `OneCommit` falls back to plain
      writes) the writes before it have landed, with no event, and a retried change may
      plan nothing (a delete for everyone already applied emits no event).
    Past a write already sent, only the tenure is checked: a lease that merely lapsed
    leaves the rest to the store's epoch fence, which refuses the event only once another
    instance raised it, so the mark or change keeps its event if nobody took over.
    Once a batch's insert is answered, and after each await since (sends.py `settle`,
    `_sort_out`), the whole check runs, and only when it fails for the lease (not the
    tenure) is the store asked whether its fence still stands at the epoch the batch was
    taken under (`unless_taken_over`): `settle` answers what it stored while its lease
    merely lapsed, but not once a later raise was written (another writer's, which may
    have erased the sender since: the text would be delivered here; or this one's own,
    leading again). A batch with failures needs `_sort_out`'s read and take-back, which
    are asked under the full fence: deposed, that batch is refused whole (its stored
    messages found by the retries).
    """

    def __init__(self, tenures: Tenures, may_commit: Callable[[], bool],
                 store: WriterFence | None = None) -> None:
        self._tenures = tenures
        self._taken = tenures.now  # taken before any await of the work's
        self._may_commit = may_commit
        self._store = store
        # The epoch of the raise this process last wrote the token at: for work whose
        # first check passes, its lead's (`lead` stops commits before it raises).
        self._epoch = None if store is None else store.raised

    def __call__(self) -> None:
        self.tenure()
        if not self._may_commit():
            raise FencedOutError()

    def tenure(self) -> None:
        """Raises once the writer led again since the work was taken: its messages,
        stored under the earlier tenure, are answered `unavailable` (a retry finds them
        stored, or refused if the sender was deleted meanwhile), never acked, delivered or
        summarised under the later one, whose summaries may hold another writer's erasure
        (the new tenure's `recover` summarises them from the store)."""
        if self._taken != self._tenures.now:
            raise FencedOutError()

    def leads(self) -> bool:
        """Whether the check passes (`__call__` would not raise): answering needs no read."""
        return self._taken == self._tenures.now and self._may_commit()

    async def unless_taken_over(self, meta: Any) -> None:
        """Raises FencedOutError unless this process may still answer what it stored: it
        leads, or its lease merely lapsed and the store's fence (its token in `meta`)
        still stands at the epoch the work was taken under. Once a later raise wrote it
        (another writer's, or this one's own lead in progress), that writer may have
        deleted and erased a sender since, and answering would deliver the text here to
        sockets that had the tombstone: the sends are answered `unavailable` instead
        (their retries are checked again there). A store that cannot say counts as taken
        over. Not stamped: `may_commit` is already false, and the step-down is the role's
        (writer.py `_deposed`). The caller awaits nothing after this before the answers
        it guards (sends.py `settle`, `_sort_out`; alone_commits.py `_op`;
        receipt_commits.py `_answer`, once per chunk). Leading, it returns at once (the
        `leads()` check, nothing read), so callers await it with no check of their own,
        per batch and answer chunk included."""
        if self.leads():
            return
        self.tenure()  # led again since: refused as before, nothing read
        if self._store is None or self._epoch is None:
            raise FencedOutError()  # never raised the fence: nothing to compare with
        try:
            here = await self._store.stands_at(meta, self._epoch)
        except PyMongoError:
            raise FencedOutError() from None
        self.tenure()  # led again during the read
        if not here:
            raise FencedOutError()

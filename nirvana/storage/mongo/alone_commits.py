"""The chat writer's commits of work that runs alone: receipts (a mark and its event),
changes (edits, reactions, deletes, group changes, an erasure's second phase), and the
sends taken with them, with no batch in flight (writer.py `_run`): they take positions
outside the batches' order, so nothing else is committed meanwhile. The receipts between
two changes are committed together (receipt_commits.py), in queue order with the changes.

A receipt or change that committed is answered at once while this process leads. Deposed
since it was taken (its lease lapsed, or it led again), it is answered only while the
store's fence still stands at the epoch it was taken under (tenures.py
`TenureFence.unless_taken_over`, as sends.py `settle` does for a batch): its write may
have landed just before another writer raised the fence, deleted its author and erased
the text, which its caller would then announce here (an edit's new text, a reaction's copy
of the message, a conversation's last message). It is answered `unavailable` instead, and
its retry plans again from what is stored (an edit or reaction of an erased message is
refused `message_deleted`, a change already applied plans nothing and emits no event; a
receipt's mark is raised, so its retry records no event). So it may be announced to
nobody live, a delete for everyone's tombstone included: members past its position (they
got the other writer's later events) see it on their next history read, or a resume from
before it (docs/cluster-chat.md, "Failover")."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Callable

from .collections import ChatCollections
from .fence import WriterFence
from .positions import StreamPositions
from .receipt_commits import ReceiptCommits
from .sends import DeliveryPass, SendCommitter
from .summaries import Summaries
from .tenures import TenureFence
from .work_items import Mark, Op, Send, WorkItem


class AloneCommits:
    def __init__(self, db: ChatCollections, positions: StreamPositions, summaries: Summaries,
                 sends: SendCommitter, fence: WriterFence,
                 deposed: Callable[[Exception], bool],
                 delivery_pass: DeliveryPass = nullcontext) -> None:
        """`fence`: the store's epoch fence a receipt's event is inserted through;
        `deposed(exc)`: whether `exc` says this process may not write (and steps it down:
        writer.py `_deposed`); `delivery_pass`: opened around a run's answers (sends.py)."""
        self._db = db
        self._positions = positions
        self._summaries = summaries
        self._sends = sends
        self._deposed = deposed
        self._receipts = ReceiptCommits(db, positions, fence, deposed, delivery_pass)

    async def commit(self, batch: list[WorkItem], fence: TenureFence,
                     generation: int) -> None:
        """Commit `batch` in order, each run of receipts and each change answered
        (`Answered.finish`) before the next is written; raises only before the first (the
        caller refuses the whole batch)."""
        fence()
        await self._summaries.recover()
        if not self._positions.loaded:
            await self._positions.load()
        sends = [i for i in batch if isinstance(i, Send)]
        if sends:
            await self._sends.commit(sends, fence, generation)
        for run in runs(batch):
            # Checked again before each: a refusal earlier in this batch stopped this
            # writer, a lead since began another tenure, and a receipt's mark (and, on a
            # store without transactions, a change's update) is not fenced by the store.
            fence()
            # Past a write the store does not fence, only a lead refuses the rest: a lapsed
            # lease alone leaves the store's epoch fence to refuse it (tenures.py).
            if isinstance(run, Op):
                await self._op(run, fence)
            else:
                members = self._sends.members
                try:
                    await members.read_doubted((m.conversation_id for m in run), fence)
                except Exception as exc:  # this run's marks fail, not the runs committed
                    self._receipts.refuse(run, exc)
                    continue
                if run := members.marks(run):  # their audience at the head
                    await self._receipts.commit(run, fence)

    async def _op(self, op: Op, fence: TenureFence) -> None:
        try:
            # A change reads the conversation as stored and writes parts of it (members,
            # marks, last message): its deferred summary must be in it first, or the change
            # would plan on a stale last seq and marks, and miss (or later overwrite) the
            # last message it edits. Only that conversation's: the others wait for their
            # slice. Nothing adds to the buffer meanwhile: a change runs alone, after
            # `_drain()`, so no batch is in flight whose settling would (max_inflight > 1).
            if not op.flushes_itself:
                await self._summaries.flush(
                    None if op.conversation_id is None else [op.conversation_id])
            taken: list[int] = []

            def next_pos() -> int:
                # A lead while the change ran began another tenure, whose epoch its
                # transaction would pass the fence at: raised inside it, nothing lands
                # (without transactions, what it wrote before stays: tenures.py).
                fence.tenure()
                taken.append(self._positions.allocate())
                return taken[-1]

            result = await op.run(next_pos)
            if taken:  # a change that returns has written every event it took a position for
                self._positions.stored(taken[-1])
            # Deposed since: answered only if nobody took over.
            await fence.unless_taken_over(self._db.meta)
            op.finish(result)
        except Exception as exc:  # the caller gets it (a domain error or a store error)
            self._deposed(exc)
            op.refuse(exc)


def runs(batch: list[WorkItem]) -> list[list[Mark] | Op]:
    """The changes of `batch`, and between them its receipts in runs, in queue order; its
    sends (committed first) are left out."""
    out: list[list[Mark] | Op] = []
    for item in batch:
        if isinstance(item, Op):
            out.append(item)
        elif isinstance(item, Mark):
            last = out[-1] if out else None
            if isinstance(last, list):
                last.append(item)
            else:
                out.append([item])
    return out

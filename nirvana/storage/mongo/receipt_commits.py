"""A run of receipts committed together: the marks the writer took one after another with
no change between them (alone_commits.py), in a bounded number of round trips instead of
two store commits each, one after another (the figures: docs/performance.md, "Receipts
committed together").

What the run decides, per member, kind and conversation (`candidates`): only its highest
mark can rise, carried by the first mark of that seq; a read covers a delivered at or below
it (a read raises delivered too, and emits one receipt: docs/protocol.md, *Receipts*). A
candidate rises if the stored mark is below it: one `find` of the run's conversations says
(none for a single candidate: its update's filter says). The rising marks are raised in
one unordered bulk write, one `$max` per conversation (marks.py `raise_marks`). Their
events go in one insert through the store's fence, one document per conversation and
audience (`by_conversation`, codec.py `receipts_doc`; marks of one conversation read
with different members, a change landing between, keep their own audiences). Then every
mark is answered (`_answer`): its receipt, or None (nothing rose, or a later mark of the
run covers it).

Why one document per conversation: a receipt's event was most of its store cost, its
entries in the multikey `(audience, pos)` index above all (one per member), and a message
brings its receipts within a millisecond or two, so most of them meet in one run. Stored
together they share one set of index entries (docs/performance.md, "A run's receipts of a
conversation in one document"). What a client sees does not change (docs/protocol.md:
every receipt has its own `pos`, live and on resume, and a connection receives durable
events in `pos` order), so:
- each receipt keeps its own position, and a bundle's (one conversation and audience)
  take consecutive ones: a bundle is one interval, and bundles never interleave (groups
  take theirs in the order of their first mark). So the stream reads a bundle at its
  highest position as any event: the top at start (positions.py), pruning's floor
  (changes.py `prune_events`: a floor is a document's highest, so no bundle straddles it)
  and resume (resume.py);
- the marks are answered in that order, conversation by conversation, each in queue order
  within its conversation: a receipt's frame goes out as its mark is answered
  (`Mark.finish`, the hub), and a connection drops a live frame below one it was sent
  (ws/connection.py `push`), so answered out of `pos` order a receipt would be lost live.
  A mark that rose nothing is answered with its conversation's; each connection has at
  most one mark awaiting its answer (its command is awaited; one answered `store_timeout`
  may still be in the run, but its `ack` went out first), so no `ack` overtakes another of
  its own.

Every rule of a receipt committed alone holds for the run (alone_commits.py, tenures.py):
the lease and tenure are checked before the marks are written, the tenure alone before the
events (a lead since: the marks stay raised, their events are refused, and the retries
resolve with no event), the store's fence refuses the events of a deposed writer, the
answers wait for `unless_taken_over`, and a failed write refuses the whole run
`unavailable` (a mark that landed is found raised by its retry: no second event).
Some events may have landed with it (an unordered insert's other write errors; on
MongoDB, a fence raised during the insert; a conversation's receipts, one document, land
together or not at all): those go out on a resume only, the others
never, as when one receipt's insert lost its answer; the marks are stored either way.
One at a time, a failure refused one receipt; now it refuses every mark that arrived with
it (docs/protocol.md, *Receipts*).

What differs from one at a time: between the `find` and the bulk write another write may
raise a mark the run found below (a summary flush, which runs beside the writer, raising a
sender's own marks to their newest message; a deposed writer's late `$max`). The run's
`$max` then changes nothing there, but its event is written all the same: a mark the reader
really reached, announced when it is stored already, as one at a time announced it when
that other write landed a moment later. Marks only rise, and clients apply a receipt as a
maximum, so a client sees nothing it could not have seen before. Holding the flush off
meanwhile would make receipts wait for its commits, which sends never do.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import nullcontext
from datetime import datetime
from typing import Callable

from ...domain.chat.entities import Receipt, ReceiptKind
from ...domain.errors import UnavailableError
from .codec import receipts_doc
from .collections import ChatCollections, collect
from .fence import FencedOutError, WriterFence
from .marks import kind_field, raise_mark, raise_marks, stored_mark
from .positions import StreamPositions
from .sends import ANSWER_CHUNK, DeliveryPass
from .tenures import TenureFence
from .work_items import Mark

log = logging.getLogger("nirvana.chat.store")


def candidates(marks: list[Mark]) -> list[Mark]:
    """The marks of a run that may rise, in queue order: per member, kind and conversation
    the first of the highest seq, save a delivered that a read of the run covers."""
    highest: dict[tuple[str, int, ReceiptKind], Mark] = {}
    for mark in marks:
        key = (mark.conversation_id, mark.user_id, mark.kind)
        if key not in highest or mark.seq > highest[key].seq:
            highest[key] = mark

    def covered(mark: Mark) -> bool:
        read = highest.get((mark.conversation_id, mark.user_id, ReceiptKind.READ))
        return mark.kind is ReceiptKind.DELIVERED and read is not None and read.seq >= mark.seq
    kept = {id(m) for m in highest.values() if not covered(m)}
    return [m for m in marks if id(m) in kept]


def by_conversation(marks: list[Mark]) -> list[list[Mark]]:
    """The marks of a run by conversation and audience (a bundle's, codec.py
    `receipts_doc`), in the order of each group's first mark, each in queue order."""
    groups: dict[tuple[str, tuple[int, ...]], list[Mark]] = {}
    for mark in marks:
        groups.setdefault((mark.conversation_id, mark.audience), []).append(mark)
    return list(groups.values())


class ReceiptCommits:
    def __init__(self, db: ChatCollections, positions: StreamPositions, fence: WriterFence,
                 deposed: Callable[[Exception], bool],
                 delivery_pass: DeliveryPass = nullcontext) -> None:
        """As AloneCommits': `fence`, the store's epoch fence the events go through;
        `deposed(exc)`, whether `exc` says this process may not write (and steps it down);
        `delivery_pass`, opened around the answers as a batch of sends' (sends.py)."""
        self._db = db
        self._positions = positions
        self._fence = fence
        self._deposed = deposed
        self._delivery_pass = delivery_pass

    async def commit(self, marks: list[Mark], fence: TenureFence) -> None:
        """Commit a run of marks and answer each (`Answered.finish`), in the order of
        their positions (`by_conversation`); the caller checked `fence()` before it.
        Refuses the run on any failure."""
        try:
            rising = {id(m) for m in await self._rising(candidates(marks), fence)}
            groups = by_conversation(marks)
            receipts: dict[int, Receipt] = {}
            if rising:
                # A lead while the marks were written: their events are not this tenure's.
                # The marks stay raised: the retries resolve with no event (tenures.py).
                fence.tenure()
                now = datetime.now().astimezone()
                docs = []
                for group in groups:
                    made = []
                    for m in group:
                        if id(m) in rising:
                            made.append(Receipt(self._positions.allocate(), m.conversation_id,
                                                m.user_id, m.kind, m.seq, m.audience))
                            receipts[id(m)] = made[-1]
                    if made:
                        docs.append(receipts_doc(made, now))
                await self._fence.insert_many(self._db.events, docs)
                self._positions.stored(max(r.pos for r in receipts.values()))
            await self._answer([m for group in groups for m in group], receipts, fence)
        except Exception as exc:
            self.refuse(marks, exc)

    def refuse(self, marks: list[Mark], exc: Exception) -> None:
        """Refuse the run `marks` for `exc`, which stopped it before it was stored."""
        # One error per mark: each caller raises its own (a shared one would gather
        # every caller's traceback), as writer.py `_failed` refuses a batch.
        if self._deposed(exc):
            for mark in marks:
                mark.refuse(FencedOutError())
            return
        for mark in marks:
            mark.refuse(UnavailableError("The receipt could not be stored."))
        log.warning("receipt write failed (%d receipts): %s", len(marks), exc)

    async def _answer(self, marks: list[Mark], receipts: dict[int, Receipt],
                      fence: TenureFence) -> None:
        """Answer each mark, in the order given, as a batch of sends is answered (sends.py
        `settle`): each receipt is delivered to every member as it is answered, so a big
        run goes `ANSWER_CHUNK` at a time with a turn of the loop between, in one delivery
        pass. Deposed since the events were written: answered only while nobody took
        over, checked before the first answer and after each turn."""
        with self._delivery_pass() if len(receipts) > 1 else nullcontext():
            for start in range(0, len(marks), ANSWER_CHUNK):
                if start:
                    await asyncio.sleep(0)
                if receipts:
                    await fence.unless_taken_over(self._db.meta)
                for mark in marks[start:start + ANSWER_CHUNK]:
                    mark.finish(receipts.get(id(mark)))

    async def _rising(self, marks: list[Mark], fence: TenureFence) -> list[Mark]:
        """Raise those of `marks` whose stored mark is below them; those, in queue order."""
        if len(marks) == 1:
            # Its update's filter says whether it rises: no read first.
            return marks if await raise_mark(self._db.states, marks[0]) else []
        fields = {kind_field(m): 1 for m in marks}
        states = {s["_id"]: s for s in await collect(self._db.states.find(
            {"_id": {"$in": sorted({m.conversation_id for m in marks})}},
            projection=fields))}
        rising = []
        for m in marks:
            if m.conversation_id not in states:
                continue  # as its update would: it matches no state
            stored = stored_mark(states[m.conversation_id], m)
            if stored is None or stored < m.seq:
                rising.append(m)
        if rising:
            fence()  # checked again before the write: the read awaited
            await raise_marks(self._db.states, rising)
        return rising

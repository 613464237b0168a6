"""What the chat writer queues: sends, receipts and serialised changes, each answered
through its own future, in the order the writer commits them; and a batch of sends in
flight."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from ...domain.chat.entities import Message, MessageDraft, ReceiptKind
from ...domain.errors import UnavailableError
from .codec import message_id

log = logging.getLogger("nirvana.chat.store")


@dataclass
class Send:
    draft: MessageDraft
    future: asyncio.Future[tuple[Message, bool]]
    duplicates: list[Send] = field(default_factory=list)  # the same key, in this batch
    on_stored: Callable[[Message], None] | None = None  # the port's `append`
    deadline: asyncio.TimerHandle | None = None  # fails `future` with store_timeout
    settled: bool = False  # answered by the writer (a send past its deadline is not yet)
    tenure: int = 0  # the writer's tenure it was queued under (writer.py `enqueue`)
    # Its message's `_id`, which is also its retry key (codec.message_id): made once, as
    # the writer asks for it several times per send.
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = message_id(self.draft.sender_id, self.draft.client_id)

    def _settle(self) -> None:
        self.settled = True
        if self.deadline is not None:
            self.deadline.cancel()

    def answer(self, message: Message, created: bool) -> None:
        self._settle()
        if created:
            handed_on(self.on_stored, message, self)  # now: in the turn it is settled
        if not self.future.done():  # the sender may have been told store_timeout
            self.future.set_result((message, created))

    def refuse(self, exc: BaseException) -> None:
        """Fail this send and the duplicates that share its write."""
        for send in [self, *self.duplicates]:
            send._settle()
            fail(send.future, exc)

    def expire(self) -> None:
        """The deadline: the sender hears store_timeout now; the writer still settles the
        send (a message it stores still goes to `on_stored`)."""
        fail(self.future, UnavailableError(
            "The message store did not answer in time; retry with the same client_id.",
            code="store_timeout"))


class Answered:
    """A receipt or change, answered by the writer through its `future`. `on_done` (the
    port's callback) is handed its result as the writer has it, before anything the writer
    commits after it (as a send's `on_stored`), whether its caller still waits or not; and
    None when it failed after its caller stopped waiting (`gone`: answered store_timeout,
    or cancelled), so that an outcome nobody hears is still acted on."""

    future: asyncio.Future[Any]
    on_done: Callable[[Any], None] | None
    gone: bool

    def finish(self, result: Any) -> None:
        if self.future.done():  # refused meanwhile (writer.py `close`)
            return
        handed_on(self.on_done, result, self)
        self.future.set_result(result)

    def refuse(self, exc: BaseException) -> None:
        if self.future.done():
            return
        self.future.set_exception(exc)
        if self.gone:
            consume(self.future)
            handed_on(self.on_done, None, self)

    def leave(self) -> None:
        """Its caller stops waiting: how it ends is handed to `on_done` alone from now.
        Already failed (the caller is cancelled before it woke to the error), that is now;
        already done, its result was handed on when the writer had it."""
        self.gone = True
        if self.future.done():
            consume(self.future)
            if self.future.cancelled() or self.future.exception() is not None:
                handed_on(self.on_done, None, self)


@dataclass
class Op(Answered):
    """A change run by the writer in order with sends and receipts, so the positions it
    takes are committed in order like theirs (see changes.py)."""

    run: Callable[[Callable[[], int]], Awaitable[Any]]
    future: asyncio.Future[Any]
    conversation_id: str | None = None  # the one it reads and writes; None: it may touch any
    # True: no summary is flushed before it runs; it flushes those it touches itself (an
    # erasure's second phase learns which as it reads: storage/mongo/erasure.py).
    flushes_itself: bool = False
    tenure: int = 0  # the writer's tenure it was queued under (writer.py `enqueue`)
    on_done: Callable[[Any], None] | None = None
    gone: bool = False


@dataclass
class Mark(Answered):
    conversation_id: str
    user_id: int
    kind: ReceiptKind
    seq: int
    audience: tuple[int, ...]
    future: asyncio.Future[Any]
    tenure: int = 0  # the writer's tenure it was queued under (writer.py `enqueue`)
    on_done: Callable[[Any], None] | None = None
    gone: bool = False


WorkItem = Send | Mark | Op


def handed_on(callback: Callable[[Any], None] | None, value: Any,
              item: Send | Answered | None = None) -> None:
    """Call a work item's callback (a send's `on_stored`, a receipt's or change's
    `on_done`) with `value`. A failure there is logged, naming the callback and `item`, and
    stops neither the writer nor the batch's other answers: the write stays stored and its
    caller is still answered."""
    if callback is None:
        return
    try:
        callback(value)
    except Exception:
        log.exception("%s failed for %s", _named(callback), described(item, value))


def _named(callback: Callable[[Any], None]) -> str:
    function = getattr(callback, "func", callback)  # a partial's
    return getattr(function, "__qualname__", repr(function))


def described(item: Send | Answered | None, value: Any) -> str:
    """A work item and what it was handed on with, for the log."""
    if isinstance(item, Send):
        what = f"a send ({item.key}) to {item.draft.conversation_id}"
    elif isinstance(item, Mark):
        what = (f"a {item.kind.value} receipt of user {item.user_id} to {item.seq} in "
                f"{item.conversation_id}")
    elif isinstance(item, Op):
        what = f"a change to {item.conversation_id or 'any conversation'}"
    else:
        what = "a chat write"
    if value is None:
        return f"{what}, handed on with None (nothing stored, or failed after its caller left)"
    return f"{what} at positions {_positions(value)}"


def _positions(value: Any) -> list[int]:
    """The stream positions in what a write returned (a message, a receipt, a change's
    message and events)."""
    if isinstance(value, (tuple, list)):
        return [p for v in value for p in _positions(v)]
    pos = getattr(value, "pos", None)
    return [pos] if isinstance(pos, int) else []


def consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a late failure is not logged as unhandled


def fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


@dataclass(eq=False)
class InFlight:
    """A batch of sends whose insert is under way (see writer.py `ChatWriter._run`)."""

    sends: list[Send]
    busy: frozenset[str]  # its conversations and message ids: no other batch may take them
    written: asyncio.Future[None]  # its insert has answered (or failed)
    settled: asyncio.Future[None]  # its senders are answered: the next batch may settle


def take_sends(pending: list[WorkItem], inflight: list[InFlight], max_batch: int) -> list[Send]:
    """Taken out of `pending`: the waiting sends that no batch in flight holds a
    conversation (or retry key) of, in queue order; a send behind a held one of its
    conversation stays held too (writer.py `ChatWriter._run`)."""
    busy: set[str] = set()
    for b in inflight:
        busy |= b.busy
    taken: list[Send] = []
    kept: list[WorkItem] = []
    for n, item in enumerate(pending):
        if not isinstance(item, Send) or len(taken) == max_batch:
            kept += pending[n:]  # a receipt or change waits for what is before it
            break
        key = item.key
        if item.draft.conversation_id in busy or key in busy:
            busy.add(item.draft.conversation_id)
            busy.add(key)
            kept.append(item)
        else:
            taken.append(item)
    pending[:] = kept
    return taken

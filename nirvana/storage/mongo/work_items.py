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
            stored(self.on_stored, message)
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


@dataclass
class Op:
    """A change run by the writer in order with sends and receipts, so the positions it
    takes are committed in order like theirs (see changes.py)."""

    run: Callable[[Callable[[], int]], Awaitable[Any]]
    future: asyncio.Future[Any]
    conversation_id: str | None = None  # the one it reads and writes; None: it may touch any
    # True: no summary is flushed before it runs; it flushes those it touches itself (an
    # erasure's second phase learns which as it reads: storage/mongo/erasure.py).
    flushes_itself: bool = False
    tenure: int = 0  # the writer's tenure it was queued under (writer.py `enqueue`)

    def refuse(self, exc: BaseException) -> None:
        fail(self.future, exc)


@dataclass
class Mark:
    conversation_id: str
    user_id: int
    kind: ReceiptKind
    seq: int
    audience: tuple[int, ...]
    future: asyncio.Future[Any]
    tenure: int = 0  # the writer's tenure it was queued under (writer.py `enqueue`)

    def refuse(self, exc: BaseException) -> None:
        fail(self.future, exc)


WorkItem = Send | Mark | Op


def stored(on_stored: Callable[[Message], None] | None, message: Message) -> None:
    """Hand a new message to its send's `on_stored` (it delivers it), now: in the turn its
    batch is settled, not when the sender's task next wakes. A failure there is logged and
    stops neither the writer nor the batch's other answers."""
    if on_stored is None:
        return
    try:
        on_stored(message)
    except Exception:
        log.exception("handing on a stored message failed (position %d)", message.pos)


def ended_late(on_late: Callable[[Any], None], future: asyncio.Future[Any]) -> None:
    """Tell a receipt's or change's caller, which stopped waiting before it ended (answered
    store_timeout, or cancelled), how it ended: its result, or None when it failed. A
    done-callback: it runs in the loop's next turn, before anything the writer commits
    after it is answered (that waits for the store first), so what it publishes keeps
    position order. Logged if it raises, as `stored`."""
    consume(future)
    failed = future.cancelled() or future.exception() is not None
    try:
        on_late(None if failed else future.result())
    except Exception:
        log.exception("handing on a change that ended late failed")


def resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # the caller may have timed out and gone
        future.set_result(result)


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

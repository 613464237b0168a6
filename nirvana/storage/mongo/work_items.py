"""What the chat writer queues: sends, receipts and serialised changes, each answered
through its own future, in the order the writer commits them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from ...domain.chat.entities import Message, MessageDraft, ReceiptKind
from ...domain.errors import UnavailableError
from .codec import message_id


@dataclass
class Send:
    draft: MessageDraft
    future: asyncio.Future[tuple[Message, bool]]
    duplicates: list[Send] = field(default_factory=list)  # the same key, in this batch
    landed_late: Callable[[Message], None] | None = None
    deadline: asyncio.TimerHandle | None = None  # fails `future` with store_timeout
    settled: bool = False  # answered by the writer (a send past its deadline is not yet)
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
        if not self.future.done():
            self.future.set_result((message, created))
        elif created and self.landed_late is not None:
            # The sender was told store_timeout (or stopped waiting): still delivered.
            self.landed_late(message)

    def refuse(self, exc: BaseException) -> None:
        """Fail this send and the duplicates that share its write."""
        for send in [self, *self.duplicates]:
            send._settle()
            fail(send.future, exc)

    def expire(self) -> None:
        """The deadline: the sender hears store_timeout now; the writer still settles the
        send (a message it stores then goes to `landed_late`)."""
        fail(self.future, UnavailableError(
            "The message store did not answer in time; retry with the same client_id.",
            code="store_timeout"))


@dataclass
class Op:
    """A change run by the writer in order with sends and receipts, so the positions it
    takes are committed in order like theirs (see changes.py)."""

    run: Callable[[Callable[[], int]], Awaitable[Any]]
    future: asyncio.Future[Any]

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

    def refuse(self, exc: BaseException) -> None:
        fail(self.future, exc)


WorkItem = Send | Mark | Op


def resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # the caller may have timed out and gone
        future.set_result(result)


def consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a late failure is not logged as unhandled


def fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)

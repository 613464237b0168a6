"""The chat store's collections with steps a test can hold or watch, passed to
MongoChatChanges as its `db` (its erasure uses them too), as production passes the plain
ones.

`states_erased` is set once an unrestricted `update_many` of conversation states answers:
the last write of an erasure's first phase (storage/mongo/erasure.py), done outside the
writer; `erasing_messages`, once an `update_many` of messages is sent (the phase's first
write, of the sender's messages). `before_message_write`, when set, is awaited once before
the next `update_one` of a message: a change that has read and planned, before its write;
`after_message_write`, once after it (the change's other writes still to come). On a store
with transactions that hook runs inside the change's open transaction, so one that waits
for an erasure of the message's sender deadlocks until the erasure's write times out (the
store timeout, 5 s; checked): that plain write of the message waits for the transaction to
end (start the erasure as a task and return instead). `after_conversation_read`, when set,
is awaited once after the next read of a conversation: a change that has read what it
plans from (its message first), before it plans and writes. `before_states_bulk`, when
set, is awaited once before the next `bulk_write` of states: a summary flush's slice, in
flight (its lock held, its transaction open), before it writes (or a group change's
write). `fail_last_writes`, when set, is raised by the next restricted `update_many` of
states: phase 2's last write, as a store that aborts it or a fence that refuses it would.
`fail_state_read`, when set, is raised by the next `find_one` of a state: a store that
fails a read. `after_first_phase`, when set, is awaited once after phase 1's unrestricted
`update_many` of states (sends go on meanwhile); `first_phases` counts those writes (one
per run of an erasure). `first_phase_of` makes a step that starts an erasure and waits for
its first phase. `erasing_chat` makes a chat service whose erasure uses them; `copies_of`
counts the copies of a text the store still holds."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from nirvana.domain.chat.entities import Conversation
from nirvana.domain.chat.service import ChatService
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from tests.support.chat_writers import chat_on
from tests.support.delegating import Delegating


class ErasureSteps(ChatCollections):
    def __init__(self) -> None:
        self.states_erased = asyncio.Event()
        self.erasing_messages = asyncio.Event()
        self.before_message_write: Callable[[], Awaitable[None]] | None = None
        self.after_message_write: Callable[[], Awaitable[None]] | None = None
        self.after_conversation_read: Callable[[], Awaitable[None]] | None = None
        self.before_states_bulk: Callable[[], Awaitable[None]] | None = None
        self.fail_last_writes: Exception | None = None
        self.fail_state_read: Exception | None = None
        self.after_first_phase: Callable[[], Awaitable[None]] | None = None
        self.first_phases = 0
        self.erasing: asyncio.Task[None] | None = None

    def first_phase_of(self, chat: ChatService, user_id: int) -> Callable[[], Awaitable[None]]:
        """A step to hold something at: it starts `chat`'s erasure of `user_id` (the task:
        `erasing`) and returns once the erasure's first phase is done."""
        async def erase() -> None:
            self.erasing = asyncio.create_task(chat.erase_sender(user_id))
            await self.states_erased.wait()
        return erase

    @property
    def messages(self) -> Any:
        return _Messages(super().messages, self)

    async def read_conversation(self, query: dict[str, Any]) -> Conversation | None:
        read = await super().read_conversation(query)
        hold, self.after_conversation_read = self.after_conversation_read, None
        if hold is not None:
            await hold()
        return read

    @property
    def states(self) -> Any:
        return _States(super().states, self)


class _Messages(Delegating[ErasureSteps]):
    async def update_one(self, *args: Any, **kwargs: Any) -> Any:
        hold, self._steer.before_message_write = self._steer.before_message_write, None
        if hold is not None:
            await hold()
        done = await self._inner.update_one(*args, **kwargs)
        hold, self._steer.after_message_write = self._steer.after_message_write, None
        if hold is not None:
            await hold()
        return done

    async def update_many(self, *args: Any, **kwargs: Any) -> Any:
        self._steer.erasing_messages.set()
        return await self._inner.update_many(*args, **kwargs)


class _States(Delegating[ErasureSteps]):
    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        fail, self._steer.fail_state_read = self._steer.fail_state_read, None
        if fail is not None:
            raise fail
        return await self._inner.find_one(*args, **kwargs)

    async def bulk_write(self, *args: Any, **kwargs: Any) -> Any:
        hold, self._steer.before_states_bulk = self._steer.before_states_bulk, None
        if hold is not None:
            await hold()
        return await self._inner.bulk_write(*args, **kwargs)

    async def update_many(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if "_id" in query:  # phase 2's is restricted to the conversations it names
            fail, self._steer.fail_last_writes = self._steer.fail_last_writes, None
            if fail is not None:
                raise fail
            return await self._inner.update_many(query, *args, **kwargs)
        done = await self._inner.update_many(query, *args, **kwargs)
        self._steer.first_phases += 1
        self._steer.states_erased.set()
        hold, self._steer.after_first_phase = self._steer.after_first_phase, None
        if hold is not None:
            await hold()
        return done


async def copies_of(text: str) -> int:
    """Messages, event copies and conversation summaries holding `text`."""
    db = ChatCollections()
    return (await db.messages.count_documents({"text": text})
            + await db.events.count_documents({"message.text": text})
            + await db.states.count_documents({"last_message.text": text}))


def erasing_chat(services, writers: list[MongoChatStore]) -> tuple[ErasureSteps, ChatService]:
    """The chat service of a new writer (closed by the `writers` fixture), whose changes and
    erasure go through ErasureSteps."""
    store = MongoChatStore()
    writers.append(store)
    steps = ErasureSteps()
    return steps, chat_on(store, services, steps)

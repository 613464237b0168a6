"""Two chat writers over one store (storage/mongo/fence.py): a paused insert, sends, and
lifting the fence after a test (emptying the collections keeps their validator, and one
left at a high epoch would refuse the next test's writer, which leads at a lower one)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any, Callable

import pytest
from pymongo.errors import OperationFailure

from nirvana.domain.accounts.ports import UserRepository
from nirvana.domain.accounts.standing import AccountExists, OpenGate
from nirvana.domain.chat.entities import Conversation, Message, MessageDraft, MessageKind
from nirvana.domain.chat.ports import Publisher
from nirvana.domain.chat.service import ChatService
from nirvana.storage.mongo.changes import MongoChatChanges
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.fence import WriterFence
from nirvana.storage.mongo.one_commit import OneCommit
from nirvana.storage.mongo.receipt_hold import RECEIPT_HOLD
from nirvana.storage.mongo.message_inserts import insert_messages
from nirvana.storage.postgres.chat_peers import PgChatPeers
from tests.support.people import a_with_two_friends

FENCED = ("chat_messages", "chat_events")


async def lift_fence(db: Any) -> None:
    for name in FENCED:
        try:
            await db.command({"collMod": name, "validator": {}, "validationLevel": "off"})
        except OperationFailure as exc:
            if exc.code != 26:  # the collection was never made: nothing to lift
                raise


class PausedInsert:
    """The real insert; once `armed`, held (after the writer's own lease check, which runs
    before it) until `release` is set: every insert, or with `only` set, those of that
    conversation's messages; another's sets `passed` once it is answered."""

    def __init__(self) -> None:
        self._insert = insert_messages(ChatCollections())
        self.armed = False
        self.only: str | None = None
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        self.passed = asyncio.Event()

    async def __call__(self, docs: list[dict[str, Any]]) -> None:
        held = self.armed and (self.only is None
                               or any(d["conversation_id"] == self.only for d in docs))
        if held:
            self.reached.set()
            await self.release.wait()
        await self._insert(docs)
        if self.armed and not held:
            self.passed.set()


class WatchedTurns(asyncio.Lock):
    """A lock for a chat writer fence's turns (fence.py `writes`, set as the fence's
    `_one_at_a_time` by a test): `queued` is set once an acquire finds it held, so
    something waits for the fenced write holding it."""

    def __init__(self) -> None:
        super().__init__()
        self.queued = asyncio.Event()

    async def acquire(self) -> bool:
        if self.locked():
            self.queued.set()
        return await super().acquire()


def draft(conversation: Conversation, sender: int, client_id: str) -> MessageDraft:
    return MessageDraft(conversation.id, sender, client_id, MessageKind.TEXT, client_id, (),
                        None, tuple(conversation.member_ids), datetime.now(timezone.utc))


def queue(store: MongoChatStore, d: MessageDraft,
          on_stored: Callable[[Message], None] | None = None
          ) -> asyncio.Future[tuple[Message, bool]]:
    """`store.append` of a send admitted as it is queued (its checks, none here, run now)."""
    return store.append(d, admitted=store.admission(), on_stored=on_stored)


async def send(store: MongoChatStore, conversation: Conversation, sender: int,
               client_id: str) -> Message:
    message, _ = await queue(store, draft(conversation, sender, client_id))
    return message


def chat_on(store: MongoChatStore, services, db: ChatCollections | None = None, *,
            users: UserRepository | None = None,
            publisher: Publisher | None = None) -> ChatService:
    """The chat service with `store` as its writer (one instance of several); `db`: the
    collections its changes use; `users`: the user cache it checks each sender exists in
    (and the deletions `services` heard of); `publisher`: what it announces to (the
    hub's by default)."""
    return ChatService(store=store, changes=MongoChatChanges(store, db),
                       peers=PgChatPeers(services.pool),
                       publisher=services.hub if publisher is None else publisher,
                       clock=services.clock, limits=services.chat.limits,
                       account_gate=OpenGate() if users is None else
                       AccountExists(users, services.accounts.revocations))


def fence_without_transactions() -> WriterFence:
    """A chat writer's fence whose store has no transactions, as a standalone mongod's
    (OneCommit learns it at the first write there): its writes go one by one."""
    transactions = OneCommit()
    transactions.supported = False
    return WriterFence(transactions=transactions)


def failing_collmod(code: int):
    """A fence's `command` whose collMods the store refuses with `code` (13: a user
    without the collMod action): a deployment that cannot fence."""
    async def command(database, cmd):
        if "collMod" in cmd:
            raise OperationFailure("refused by the test", code=code)
        return await database.command(cmd)
    return command


async def chat_writer(writers: list[MongoChatStore], fenced: bool = True, *,
                      db: ChatCollections | None = None, fence: WriterFence | None = None,
                      receipt_hold: float = RECEIPT_HOLD) -> MongoChatStore:
    """A chat writer (closed by the `writers` fixture) over `db` (and `fence`): leading at
    epoch 1 when `fenced` (the fence raised, its writes stamped), else one process's (no
    epoch). `receipt_hold`: how long it holds receipts for the rest of a message's."""
    store = MongoChatStore(db=db, fence=fence, receipt_hold=receipt_hold)
    writers.append(store)
    if fenced:
        await store.lead(lambda: True, 1)
    return store


async def writer_with_secret(chats, writers: list[MongoChatStore], fenced: bool = True
                             ) -> MongoChatStore:
    """A `chat_writer` over b's "secret", the last message of a's conversation with b
    (`chats`), its summary flushed."""
    a, b, with_b, _ = chats
    store = await chat_writer(writers, fenced)
    await send(store, with_b, b, "secret")
    await store.summaries.flush()  # the summary holds it: a change updates it too
    return store


async def readers(services, chats, run: bool) -> list[tuple[int, Conversation]]:
    """(b, a's conversation with b), and with `run` (c, with c) too: each with a's message at
    seq 1 there, for its reader to mark (one receipt, or a run of two)."""
    a, b, with_b, with_c = chats
    c = next(m for m in with_c.member_ids if m != a)
    found = [(b, with_b)] + ([(c, with_c)] if run else [])
    for _, conversation in found:
        await services.chat.send_message(a, conversation.id, client_id=conversation.id,
                                         text="m")
    return found


@pytest.fixture
async def chats(client, services):
    """a's direct conversations with b and with c."""
    a, b, c = await a_with_two_friends(client, services)
    return a, b, await services.chat.open_direct(a, b), await services.chat.open_direct(a, c)


@pytest.fixture
async def writers(services):
    """Chat stores a test made as writers: closed at the end, whatever it left in flight,
    and the fence they raised is lifted then too."""
    made: list[MongoChatStore] = []
    yield made
    for store in made:
        await store.close()
    await lift_fence(services.mongo[services.settings.mongodb_db])

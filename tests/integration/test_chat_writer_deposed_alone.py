"""A change, receipt or erasure's second phase a chat writer committed, answered once its
lease lapsed (storage/mongo/alone_commits.py): answered as ever while the store's fence
still stands at the epoch it was taken under, answered `unavailable` and announced nowhere
once another writer raised it (and deleted and erased the author of the message a change
carries; an erasure so answered leaves its account pending). The writer is paused past its
lease by holding the answer of the change's read of the last message, of the receipt's
event insert, or of the erasure's read of the fence (tests/support/chat_collections.py).
Over the real MongoDB-wire store and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

import pytest

from nirvana.domain.accounts.deletion import Erasure
from nirvana.domain.chat.entities import ReceiptKind
from nirvana.domain.chat.errors import MessageDeletedError
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.postgres.accounts import PgDeletedAccounts, PgUserRepository
from nirvana.wiring.account_deletion import ChatOfDeletedAccounts
from tests.support.account_deletion import delete_without_password
from tests.support.chat_collections import SteeredCollections
from tests.support.chat_writers import chat_on, send
from tests.support.erasure_steps import copies_of
from tests.support.fakes_chat import RecordingPublisher
from tests.support.stored_receipts import as_marks, stored_receipts
from tests.support.two_in_flight import reached


class TextsPublisher(RecordingPublisher):
    """Records, besides, every text an announcement carries (a change's copy of its message,
    a conversation's last message)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def event_recorded(self, event, conversation) -> None:
        super().event_recorded(event, conversation)
        for m in (event.message, conversation.last_message):
            if m is not None:
                self.texts.append(m.text)


class LapsingWriter:
    """A writer over steered collections, leading at epoch 1 while its lease holds."""

    def __init__(self, writers: list[MongoChatStore]) -> None:
        self.db = SteeredCollections()
        self.store = MongoChatStore(db=self.db)
        writers.append(self.store)
        self.lease_valid = True

    async def lead(self) -> None:
        await self.store.lead(lambda: self.lease_valid, 1)

    async def lapse_when_held(self, writers: list[MongoChatStore], taken_over: bool,
                              meanwhile: Callable[[MongoChatStore], Awaitable[None]]
                              = lambda other: asyncio.sleep(0)) -> MongoChatStore | None:
        """Once its committed work is held (`hold_committed`), the lease lapses; taken
        over, another writer leads (epoch 2) and does `meanwhile` (the one it returns);
        then the work is let go on to its answer."""
        try:
            await reached(self.db.committed_held)
            self.lease_valid = False
            if not taken_over:
                return None
            other = MongoChatStore()
            writers.append(other)
            await other.lead(lambda: True, 2)
            await meanwhile(other)
            return other
        finally:
            self.db.committed_release.set()


def change(chat, kind: str, a: int, b: int, group_id: str, seq: int):
    """b's message at `seq` edited by b, reacted to by a, deleted for everyone by b, or its
    group renamed by a."""
    if kind == "edit":
        return chat.edit_message(b, group_id, seq, "edited secret")
    if kind == "reaction":
        return chat.react(a, group_id, seq, "👍")
    if kind == "delete":
        return chat.delete_message(b, group_id, seq, for_everyone=True)
    return chat.update_group(a, group_id, {"name": "renamed"})


# What each kind announces when answered, and what its answer shows.
ANNOUNCED = {"edit": "message.edited", "reaction": "reaction", "delete": "message.deleted",
             "rename": "group.updated"}
ANSWERED = {"edit": lambda m: m.text == "edited secret",
            "reaction": lambda m: [e for e, _ in m.reactions] == ["👍"],
            "delete": lambda m: m.deleted and m.text == "",
            "rename": lambda c: c.name == "renamed"}


@pytest.mark.parametrize("taken_over", [True, False], ids=["taken-over", "lapsed"])
@pytest.mark.parametrize("kind", ["edit", "reaction", "delete", "rename"])
async def test_a_change_committed_before_a_takeover_is_not_announced_after_it(
        services, chats, writers, kind, taken_over):
    """b's "secret" is the last message of a group of a and b. A change commits (an edit's
    new text, a reaction's copy of the message, a delete's tombstone, a rename's last
    message: all read or built before the pause); before it is answered, the writer's lease
    lapses. Taken over: another writer leads, deletes b and erases b's text there; the
    change is answered unavailable and nothing is announced here. Its retry, through the
    writer leading now, plans from what is stored: the edit and the reaction meet the
    tombstone (message_deleted), the delete and the rename are applied already (answered,
    nothing announced: members see them on their next read, docs/cluster-chat.md); no
    erased text goes out. Lapsed, nobody leading since: the change is answered and
    announced as ever."""
    a, b, _, _ = chats
    writer = LapsingWriter(writers)
    await writer.lead()
    published = TextsPublisher()
    chat = chat_on(writer.store, services, writer.db, publisher=published)
    group = await chat.create_group(a, "g", [b])
    secret, _ = await chat.send_message(b, group.id, client_id="secret", text="secret")
    published.events.clear()
    writer.db.hold_committed = "change"
    changing = asyncio.ensure_future(change(chat, kind, a, b, group.id, secret.seq))

    async def erase_b(other: MongoChatStore) -> None:
        await delete_without_password(PgUserRepository(services.pool), b, services.clock.now())
        await chat_on(other, services).erase_sender(b)
    other = await writer.lapse_when_held(writers, taken_over, erase_b)
    if other is None:
        async with asyncio.timeout(5):
            assert ANSWERED[kind](await changing)
        assert [e[0] for e in published.events] == [ANNOUNCED[kind]]
        return
    async with asyncio.timeout(5):
        answered = (await asyncio.gather(changing, return_exceptions=True))[0]
    assert published.texts == [] and published.events == []  # erased text among them
    assert isinstance(answered, UnavailableError) and answered.code == "unavailable"
    again = TextsPublisher()
    retrying = chat_on(other, services, publisher=again)
    if kind in ("delete", "rename"):
        retried = await change(retrying, kind, a, b, group.id, secret.seq)
        assert ANSWERED[kind](retried)
    else:
        with pytest.raises(MessageDeletedError):
            await change(retrying, kind, a, b, group.id, secret.seq)
    assert again.events == []
    assert await ChatCollections().messages.count_documents(
        {"conversation_id": group.id, "text": {"$ne": ""}, "sender_id": b}) == 0


@pytest.mark.parametrize("run", [False, True], ids=["one", "run"])
@pytest.mark.parametrize("taken_over", [True, False], ids=["taken-over", "lapsed"])
async def test_a_receipt_stored_before_a_takeover_is_not_announced_after_it(
        services, chats, writers, taken_over, run):
    """b reads a's message (the use case a client's `read` receipt runs), and with `run` c
    reads a's other message in the same moment (the two committed together); the events
    are stored, and before they are answered the writer's lease lapses. Taken over
    (another writer leads): answered unavailable and announced to nobody; the events stay
    stored (resume replays them), and the retries, through the writer leading now, find
    the marks raised and record and announce nothing. Lapsed, nobody leading since:
    answered and announced once, as ever."""
    a, b, with_b, with_c = chats
    c = next(m for m in with_c.member_ids if m != a)
    writer = LapsingWriter(writers)
    await writer.lead()
    published = RecordingPublisher()
    chat = chat_on(writer.store, services, writer.db, publisher=published)
    said, _ = await chat.send_message(a, with_b.id, client_id="said", text="said")
    readers = [(b, with_b, said.seq)]
    if run:
        also, _ = await chat.send_message(a, with_c.id, client_id="also", text="also")
        readers.append((c, with_c, also.seq))
    published.events.clear()
    writer.db.hold_committed = "receipt"
    # Queued in one turn: the writer takes them together.
    reading = [asyncio.ensure_future(chat.mark(user, conversation.id, ReceiptKind.READ, seq))
               for user, conversation, seq in readers]
    other = await writer.lapse_when_held(writers, taken_over)
    assert writer.db.receipt_requests["events.insert_many"] == run  # one insert for both
    marked = [(user, "read", seq) for user, _, seq in readers]
    if other is None:
        async with asyncio.timeout(5):
            await asyncio.gather(*reading)
        assert published.events == [
            event for user, conversation, seq in readers
            for event in (("receipt", user, seq), ("conversation", conversation.id, (user,)))]
        assert as_marks(await stored_receipts()) == marked
        return
    async with asyncio.timeout(5):
        answered = await asyncio.gather(*reading, return_exceptions=True)
    assert published.events == []
    assert all(isinstance(r, UnavailableError) and r.code == "unavailable" for r in answered)
    again = RecordingPublisher()
    for user, conversation, seq in readers:
        await chat_on(other, services, publisher=again).mark(
            user, conversation.id, ReceiptKind.READ, seq)
    assert again.events == []
    assert as_marks(await stored_receipts()) == marked


@pytest.mark.parametrize("taken_over", [True, False], ids=["taken-over", "lapsed"])
async def test_an_erasure_whose_second_phase_is_taken_over_stays_pending(
        services, chats, writers, taken_over):
    """b, who sent "secret" to a, is deleted, and their erasure runs on the writer. Its
    second phase commits its last write while the lease holds; the lease lapses before
    the commit, and the phase's answer waits on its read of the fence. Taken over (another
    writer leads meanwhile and stores b's "later", not having heard of the deletion):
    answered unavailable, so the account stays pending with "later" unerased, and the
    erasure run again through the writer leading now erases it. Lapsed, nobody leading
    since: answered, and the account is erased."""
    a, b, with_b, _ = chats
    writer = LapsingWriter(writers)
    await writer.lead()
    chat = chat_on(writer.store, services, writer.db)
    await chat.send_message(b, with_b.id, client_id="secret", text="secret")
    await delete_without_password(PgUserRepository(services.pool), b, services.clock.now())
    deleted = PgDeletedAccounts(services.pool)
    writer.db.hold_committed = "erasure"
    writer.db.hold_token_read = 1  # the first: `unless_taken_over`'s, after the commit
    erasing = asyncio.ensure_future(
        Erasure(ChatOfDeletedAccounts(chat), deleted, services.clock).erase(b))
    await reached(writer.db.committed_held)
    writer.lease_valid = False
    writer.db.committed_release.set()
    # Its answer's read of the fence, held; or its answer, had it none (answered at once).
    checking = asyncio.ensure_future(writer.db.token_read_held.wait())
    async with asyncio.timeout(5):
        await asyncio.wait([checking, erasing], return_when=asyncio.FIRST_COMPLETED)
    checking.cancel()
    other = None
    if taken_over:
        other = MongoChatStore()
        writers.append(other)
        await other.lead(lambda: True, 2)
        await send(other, with_b, b, "later")  # it has not heard of the deletion yet
    writer.db.token_read_release.set()
    async with asyncio.timeout(5):
        answered = (await asyncio.gather(erasing, return_exceptions=True))[0]
    assert await copies_of("secret") == 0
    if other is None:
        assert answered is None
        assert await deleted.awaiting_erasure() == []
        return
    assert isinstance(answered, UnavailableError) and answered.code == "unavailable"
    assert await deleted.awaiting_erasure() == [b]
    assert await copies_of("later") > 0  # what marking it erased would have left
    again = Erasure(ChatOfDeletedAccounts(chat_on(other, services)), deleted, services.clock)
    async with asyncio.timeout(10):
        assert await again.erase_pending() == 1
    assert await deleted.awaiting_erasure() == []
    assert await copies_of("later") == 0

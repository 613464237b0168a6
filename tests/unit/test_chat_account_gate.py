"""The chat writer asks whether a send's sender still exists twice: before the send's
checks (so a deleted account's send to a direct conversation is `unknown_user`, not
`not_friends`) and again, from memory, right before the send is queued, so a deletion heard
while the checks awaited their reads stops the send too. The store's admission is taken
before all of them, so what they read while another process was the writer does not pass."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from nirvana.domain.accounts.sessions import AccessRevocations
from nirvana.domain.accounts.standing import AccountExists
from nirvana.domain.chat.entities import PeerRelation
from nirvana.domain.chat.ports import Admission
from nirvana.domain.errors import AuthenticationError, UnavailableError
from nirvana.storage.cached_users import CachedUserRepository
from tests.support import chat_world
from tests.support.clock import FakeClock
from tests.support.fakes_accounts import FakeUsers
from tests.support.fakes_chat import FakeChatStore, FakePeers


class HearsOfTheDeletion:
    """A write gate (one of the send's checks) during whose wait the instance reloads the
    deletions from PostgreSQL and finds the sender's."""

    def __init__(self, revocations: AccessRevocations) -> None:
        self._revocations = revocations

    async def check(self, user_id: int) -> None:
        self._revocations.deleted[user_id] = datetime.now(timezone.utc)


async def test_a_deletion_heard_during_a_sends_checks_stops_it():
    users = FakeUsers(FakeClock())
    ann = await users.create("ann@example.com", "ann", "Ann", "h")
    bob = await users.create("bob@example.com", "bob", "Bob", "h")
    revocations = AccessRevocations()
    chat, peers, _, published = chat_world.build(
        account_gate=AccountExists(CachedUserRepository(users), revocations),
        write_gate=HearsOfTheDeletion(revocations))
    peers.befriend(ann.id, bob.id)
    conversation = await chat.open_direct(bob.id, ann.id)
    with pytest.raises(AuthenticationError) as refused:
        await chat.send_message(bob.id, conversation.id, client_id="c", text="late")
    assert refused.value.code == "unknown_user"
    assert await chat.history(ann.id, conversation.id) == []
    assert published.events == []


async def test_a_deleted_senders_invalid_send_is_unknown_user_not_a_validation_error():
    """The account is checked before the send's fields: a deleted account's send that
    reaches the writer (forwarded, or from a socket that has not heard) is `unknown_user`,
    which closes the socket (docs/protocol.md), whatever else is wrong with it."""
    users = FakeUsers(FakeClock())
    ann = await users.create("ann@example.com", "ann", "Ann", "h")
    bob = await users.create("bob@example.com", "bob", "Bob", "h")
    revocations = AccessRevocations()
    chat, *_ = chat_world.build(
        account_gate=AccountExists(CachedUserRepository(users), revocations))
    group = await chat.create_group(ann.id, "g", [bob.id])
    revocations.deleted[bob.id] = datetime.now(timezone.utc)
    with pytest.raises(AuthenticationError) as refused:
        await chat.send_message(bob.id, group.id, client_id="c" * 65, text="late")
    assert refused.value.code == "unknown_user"


class LedDuringARead(FakeChatStore):
    """Once `led_during` names a read of a send's, another process leads while it is under
    way (and may have removed the member, ended the friendship): the admission moves on."""

    led_during: str | None = None

    def read(self, what: str) -> None:
        if what == self.led_during:
            self.tenure = Admission(self.tenure + 1)

    async def get_conversation(self, conversation_id):
        found = await super().get_conversation(conversation_id)
        self.read("conversation")
        return found


class FriendshipReads(FakePeers):
    def __init__(self, store: LedDuringARead) -> None:
        super().__init__()
        self._store = store

    async def relation(self, a: int, b: int) -> PeerRelation:
        found = await super().relation(a, b)
        self._store.read("friendship")
        return found


@pytest.mark.parametrize("read", ["conversation", "friendship"])
async def test_a_send_whose_membership_read_spans_another_writer_is_refused(read):
    """Another writer leads while the send reads its conversation (a group's) or, after
    it, the friendship (a direct one's): refused, nothing stored."""
    store = LedDuringARead()
    chat, *_ = chat_world.build(store=store, peers=FriendshipReads(store))
    if read == "conversation":
        conversation = await chat.create_group(1, "g", [2])
    else:
        conversation = await chat.open_direct(1, 2)
    chat.cache.forget(conversation.id)  # the send reads the conversation from the store
    store.led_during = read
    with pytest.raises(UnavailableError):
        await chat.send_message(2, conversation.id, client_id="c", text="late")
    assert store.stored_messages == []

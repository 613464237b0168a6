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
from nirvana.domain.chat.ports import Admission
from nirvana.domain.errors import AuthenticationError, UnavailableError
from nirvana.storage.cached_users import CachedUserRepository
from tests.support import chat_world
from tests.support.clock import FakeClock
from tests.support.fakes_accounts import FakeUsers
from tests.support.fakes_chat import FakeChatStore


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


class LedDuringTheRead(FakeChatStore):
    """Once `leading_elsewhere`, another process leads while a conversation is read (and may
    have removed the member): the store's admission moves on."""

    leading_elsewhere = False

    async def get_conversation(self, conversation_id):
        found = await super().get_conversation(conversation_id)
        if self.leading_elsewhere:
            self.tenure = Admission(self.tenure + 1)
        return found


async def test_a_send_whose_membership_read_spans_another_writer_is_refused():
    store = LedDuringTheRead()
    chat, *_ = chat_world.build(store=store)
    group = await chat.create_group(1, "g", [2])
    chat.cache.forget(group.id)  # the send reads the conversation from the store
    store.leading_elsewhere = True
    with pytest.raises(UnavailableError):
        await chat.send_message(2, group.id, client_id="c", text="late")
    assert store.stored_messages == []

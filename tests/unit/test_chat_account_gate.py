"""The chat writer asks whether a send's sender still exists twice: before the send's
checks (so a deleted account's send to a direct conversation is `unknown_user`, not
`not_friends`) and again, from memory, right before the send is queued, so a deletion heard
while the checks awaited their reads stops the send too."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from nirvana.domain.accounts.sessions import AccessRevocations
from nirvana.domain.accounts.standing import AccountExists
from nirvana.domain.errors import AuthenticationError
from nirvana.storage.cached_users import CachedUserRepository
from tests.support import chat_world
from tests.support.clock import FakeClock
from tests.support.fakes_accounts import FakeUsers


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

"""Deleting an account, on fakes: confirmed by password, gone at once, announced once."""

from __future__ import annotations

import pytest

from nirvana.domain.accounts.deletion import AccountDeleted, Erasure
from nirvana.domain.errors import AuthenticationError, PermissionDeniedError, RateLimitedError
from tests.support.accounts_world import accounts_world
from tests.support.clock import FakeClock
from tests.support.fakes_accounts import FakeDeletedAccounts, FlakyEraser

PW = "password one"


class Recorded:
    def __init__(self) -> None:
        self.events: list[AccountDeleted] = []

    def publish(self, event: AccountDeleted) -> None:
        self.events.append(event)


@pytest.fixture
def world():
    events = Recorded()
    w = accounts_world(events=events)
    return w.accounts, w.clock, events


async def test_a_deleted_account_cannot_sign_in_refresh_or_use_its_tokens(world):
    accounts, clock, events = world
    session = await accounts.sign_up("a@example.com", None, "Ann", PW)
    other = await accounts.sign_in("a@example.com", PW, "1.2.3.4")
    await accounts.delete_account(session.user.id, PW)
    # Both sessions' tokens, though issued in the very second of the deletion.
    for s in (session, other):
        with pytest.raises(AuthenticationError):
            accounts.authenticate(s.access_token)
        with pytest.raises(AuthenticationError):
            await accounts.refresh(s.refresh_token)
    with pytest.raises(AuthenticationError) as info:
        await accounts.sign_in("a@example.com", PW, "1.2.3.4")
    assert info.value.code == "invalid_credentials"
    with pytest.raises(AuthenticationError):
        await accounts.me(session.user.id)
    assert events.events == [AccountDeleted(session.user.id, clock.now(), "a@example.com")]


async def test_the_wrong_password_deletes_nothing_and_counts_as_a_failure(world):
    accounts, _, events = world
    session = await accounts.sign_up("a@example.com", None, "Ann", PW)
    with pytest.raises(PermissionDeniedError) as info:
        await accounts.delete_account(session.user.id, "not my password")
    assert info.value.code == "wrong_password"
    assert (await accounts.me(session.user.id)).email == "a@example.com"
    accounts.authenticate(session.access_token)
    assert events.events == []
    # Guessing is limited as at sign-in: after the account's failures, even the right
    # password waits.
    wrong = 1
    with pytest.raises(RateLimitedError):
        while wrong < 200:
            try:
                await accounts.delete_account(session.user.id, "guess")
            except PermissionDeniedError:
                wrong += 1
    assert wrong == accounts.policy.failures_per_account.count
    with pytest.raises(RateLimitedError):
        await accounts.delete_account(session.user.id, PW)


async def test_the_refusal_of_a_deleted_accounts_tokens_survives_a_restart():
    w = accounts_world(events=Recorded())
    accounts = w.accounts
    session = await accounts.sign_up("a@example.com", None, "Ann", PW)
    await accounts.delete_account(session.user.id, PW)
    restarted = w.restarted()
    await restarted.load_revocations()
    with pytest.raises(AuthenticationError):
        restarted.authenticate(session.access_token)


async def test_an_erasure_that_failed_is_finished_by_the_next_pending_run():
    eraser, deleted = FlakyEraser(), FakeDeletedAccounts([7])
    erasure = Erasure(eraser, deleted, FakeClock())
    with pytest.raises(ConnectionError):
        await erasure.erase(7)
    assert deleted.pending == [7]
    eraser.failures = 0
    assert await erasure.erase_pending() == 1
    assert eraser.erased == [7] and deleted.pending == []
    assert await erasure.erase_pending() == 0

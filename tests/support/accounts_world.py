"""An accounts service over in-memory fakes of every port: the one way unit tests build it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nirvana.domain.accounts.service import Accounts
from nirvana.domain.accounts.two_factor import SecondFactor
from nirvana.domain.accounts.verification import Signer
from nirvana.security import PyotpTotp
from tests.support.clock import FakeClock
from tests.support.fakes_accounts import (
    FakeHasher,
    FakeMailer,
    FakeRefreshTokens,
    FakeResets,
    FakeSessions,
    FakeSigner,
    FakeTokens,
    FakeUsers,
)
from tests.support.fakes_two_factor import FakeTwoFactorStore


@dataclass
class AccountsWorld:
    clock: FakeClock
    users: FakeUsers
    refresh: FakeRefreshTokens
    sessions: FakeSessions
    resets: FakeResets
    hasher: FakeHasher
    tokens: FakeTokens
    mailer: FakeMailer
    signer: Signer
    second_factor: SecondFactor | None
    options: dict[str, Any]
    accounts: Accounts = field(init=False)

    def __post_init__(self) -> None:
        self.accounts = self.restarted()

    def restarted(self) -> Accounts:
        """A new service on the same stores, as after a restart or on another instance:
        nothing it holds in memory carries over."""
        return Accounts(users=self.users, refresh_tokens=self.refresh, sessions=self.sessions,
                        resets=self.resets, hasher=self.hasher, tokens=self.tokens,
                        mailer=self.mailer, clock=self.clock, signer=self.signer,
                        second_factor=self.second_factor, **self.options)


def accounts_world(clock: FakeClock | None = None, *, signer: Signer | None = None,
                   two_factor: bool = False, **options: Any) -> AccountsWorld:
    """`options` go to `Accounts` as they are (policy, events, sign_in_gate, limiter);
    `two_factor` adds a real `SecondFactor` on a fake store."""
    clock = clock if clock is not None else FakeClock()
    signer = signer if signer is not None else FakeSigner()
    refresh = FakeRefreshTokens()
    users = FakeUsers(clock)
    second_factor = SecondFactor(store=FakeTwoFactorStore(users.hashes), totp=PyotpTotp(),
                                 signer=signer, clock=clock) if two_factor else None
    return AccountsWorld(
        clock=clock, users=users, refresh=refresh, sessions=FakeSessions(refresh, users),
        resets=FakeResets(), hasher=FakeHasher(), tokens=FakeTokens(clock),
        mailer=FakeMailer(), signer=signer, second_factor=second_factor, options=options)

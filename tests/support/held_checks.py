"""An instance's accounts on the test database whose password checks can be held once done:
the window between an action's check of the password and its write, which a password
change or reset must not be outrun in (tests/integration/test_*_races.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from nirvana.domain.accounts.service import Accounts
from nirvana.domain.accounts.sessions import hash_token
from nirvana.domain.accounts.two_factor import SecondFactor, TwoFactorSettings
from nirvana.security import Argon2Hasher, HmacSigner, JwtAccessTokens, PyotpTotp, SystemClock
from nirvana.storage.postgres.accounts import (
    PgPasswordResetStore,
    PgRefreshTokenStore,
    PgUserRepository,
)
from nirvana.storage.postgres.sessions import PgSessionStore
from nirvana.storage.postgres.two_factor import PgTwoFactorStore
from tests.support.fakes_accounts import FakeMailer

SECRET = "t" * 48


class HeldAfterCheck(Argon2Hasher):
    """The real hasher, with each verification held once it is done until `release` is
    set. `rehash` makes every stored hash look outdated (as after raising the argon2
    parameters)."""

    def __init__(self, rehash: bool = False) -> None:
        super().__init__(concurrency=1)
        self._rehash = rehash
        self.checked = asyncio.Event()
        self.release = asyncio.Event()

    async def verify(self, password_hash: str, password: str) -> bool:
        ok = await super().verify(password_hash, password)
        self.checked.set()
        await self.release.wait()
        return ok

    def needs_rehash(self, password_hash: str) -> bool:
        return self._rehash


def second_factor_over(pool) -> SecondFactor:
    clock = SystemClock()
    return SecondFactor(store=PgTwoFactorStore(pool), totp=PyotpTotp(),
                        signer=HmacSigner(SECRET), clock=clock)


def accounts_over(pool, hasher: Argon2Hasher) -> Accounts:
    """Another instance's accounts on the same database (its own secret, two-factor on)."""
    clock = SystemClock()
    return Accounts(users=PgUserRepository(pool), refresh_tokens=PgRefreshTokenStore(pool),
                    sessions=PgSessionStore(pool), resets=PgPasswordResetStore(pool),
                    hasher=hasher, mailer=FakeMailer(), clock=clock,
                    signer=HmacSigner(SECRET), second_factor=second_factor_over(pool),
                    tokens=JwtAccessTokens(SECRET, clock, ttl=timedelta(minutes=15)))


def two_factor_over(pool, hasher: Argon2Hasher) -> TwoFactorSettings:
    """The same instance's two-factor settings."""
    return TwoFactorSettings(second_factor_over(pool), accounts_over(pool, hasher),
                             SystemClock())


async def reset(pool, user_id: int, new_password: str) -> None:
    """A password reset of `user_id` by a mailed token, as the owner's click on it does."""
    token = "a reset token of the test"
    expires = SystemClock().now() + timedelta(minutes=5)
    await PgPasswordResetStore(pool).replace(user_id, hash_token(token), expires)
    await accounts_over(pool, Argon2Hasher()).reset_password(token, new_password)

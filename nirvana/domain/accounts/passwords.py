"""Passwords: the confirmations sensitive changes ask for (the password, and a second-factor
code when that is on), changing the password, and resetting a forgotten one by mail."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from ..clock import Clock
from ..errors import (
    InvalidInputError,
    PermissionDeniedError,
    RateLimitedError,
    field_error,
)
from .policy import AccountPolicy, RateLimiter
from .ports import Mailer, PasswordHasher, PasswordResetStore, UserRepository
from .sessions import Session, Sessions, hash_token, new_token
from .two_factor import SecondFactor, code_needed, wrong_code
from .users import (
    MAX_PASSWORD_BYTES,
    Credentials,
    account_gone,
    normalise_email,
    validate_password,
)


T = TypeVar("T")


class Passwords:
    def __init__(self, *, users: UserRepository, hasher: PasswordHasher, sessions: Sessions,
                 resets: PasswordResetStore, mailer: Mailer, clock: Clock,
                 policy: AccountPolicy, failures_per_account: RateLimiter,
                 forgot_per_ip: RateLimiter, forgot_per_account: RateLimiter,
                 second_factor: SecondFactor | None) -> None:
        self._users = users
        self._hasher = hasher
        self._sessions = sessions
        self._resets = resets
        self._mailer = mailer
        self._clock = clock
        self._policy = policy
        self._account_limiter = failures_per_account
        self._forgot_ip_limiter = forgot_per_ip
        self._forgot_account_limiter = forgot_per_account
        self._second_factor = second_factor

    async def confirm_password(self, user_id: int, password: str) -> Credentials:
        """The user and the hash `password` was verified against, if it is theirs;
        PermissionDeniedError(wrong_password) and a failure counted against the account (as
        at sign-in) otherwise. The action it confirms writes only while that hash is still
        stored (`written_with_password`)."""
        key = f"user:{user_id}"
        self._account_limiter.check(key)
        credentials = await self._users.credentials(user_id)
        if credentials is None:
            raise account_gone()
        if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES or not await self._hasher.verify(
            credentials.password_hash, password
        ):
            raise self._wrong_password(key)
        return credentials

    async def written_with_password(self, user_id: int, password: str, checked: Credentials,
                                    write: Callable[[str], Awaitable[T | None]]) -> T:
        """What `write(password_hash)` answers: the action `password` confirmed
        (`confirm_password` answered `checked`), which writes only while the hash it is given
        is still stored, and answers None or False otherwise. Once another hash replaced it,
        `password` is checked once more, against that one: right after another sign-in's
        rehash (a new hash of the same password), the action writes with it; wrong after a
        change or reset, it is refused as a wrong password, counted."""
        written = await write(checked.password_hash)
        if written is None or written is False:
            stored = await self._users.credentials(user_id)
            if stored is None:  # deleted meanwhile (a deletion sent twice): not a wrong password
                raise account_gone()
            if not await self._hasher.verify(stored.password_hash, password):
                raise self.password_replaced(user_id)
            written = await write(stored.password_hash)
            if written is None or written is False:
                raise self.password_replaced(user_id)
        return written

    def password_replaced(self, user_id: int) -> PermissionDeniedError:
        """For an action whose password was right when checked, then replaced by a change
        or reset before the action wrote: the password is wrong now, and counted so."""
        return self._wrong_password(f"user:{user_id}")

    def _wrong_password(self, key: str) -> PermissionDeniedError:
        self._account_limiter.hit(key)
        return PermissionDeniedError("The current password is wrong.", code="wrong_password")

    async def confirm_second_factor(self, user_id: int, code: str | None) -> None:
        """Nothing when two-factor sign-in is off or `code` is right; PermissionDeniedError
        (two_factor_required, wrong_code) otherwise, a wrong code counted as a wrong
        password is."""
        if self._second_factor is None or not await self._second_factor.is_on(user_id):
            return
        if not code:
            raise code_needed()
        key = f"user:{user_id}"
        self._account_limiter.check(key)
        if not await self._second_factor.check(user_id, code):
            self._account_limiter.hit(key)
            raise wrong_code()

    async def change_password(self, user_id: int, current: str, new: str, *,
                              ip: str | None = None, user_agent: str = "") -> Session:
        validate_password(new, "new_password")
        credentials = await self.confirm_password(user_id, current)
        new_hash = await self._hasher.hash(new)
        # Written only over the hash `current` was checked against: a reset or another
        # change that landed meanwhile made `current` wrong, and must not be undone.
        await self.written_with_password(
            user_id, current, credentials,
            lambda checked: self._users.replace_password_hash(user_id, checked, new_hash))
        await self._sessions.end_sessions_before_now(user_id)
        # The device that changed the password goes on, as a new session, while the
        # password is still the one it set.
        session = await self._sessions.start_if_password(credentials.user, new_hash, ip=ip,
                                                         user_agent=user_agent)
        if session is None:
            raise self.password_replaced(user_id)
        return session

    def check_forgot_rate(self, ip: str) -> None:
        """Count one forgot-password request from `ip`; RateLimitedError past the limit."""
        self._forgot_ip_limiter.consume(ip)

    async def request_password_reset(self, email: str, ip: str) -> None:
        """Mail a reset link if the account exists. Does the same work-free return otherwise.

        Call `check_forgot_rate(ip)` first; this part may run after the response is sent.
        """
        try:
            email = normalise_email(email)
        except InvalidInputError:
            return
        try:
            self._forgot_account_limiter.consume(email)
        except RateLimitedError:
            return  # silently: saying so would tell that the address is known
        credentials = await self._users.credentials_by_email(email)
        if credentials is None:
            return
        token = new_token()
        expires = self._clock.now() + self._policy.reset_ttl
        await self._resets.replace(credentials.user.id, hash_token(token), expires)
        minutes = int(self._policy.reset_ttl.total_seconds() // 60)
        await self._mailer.send(
            credentials.user.email,
            "Reset your Nirvana password",
            f"Hello {credentials.user.name},\n\n"
            f"Someone asked to reset the password of your Nirvana account. If it was you,\n"
            f"open this link within {minutes} minutes:\n\n"
            f"  {self._policy.base_url}/reset-password?token={token}\n\n"
            f"or send this token to POST /api/v1/user/password/reset:\n\n  {token}\n\n"
            f"If it was not you, ignore this message; your password stays as it is.\n",
        )

    async def reset_password(self, token: str, new_password: str) -> None:
        validate_password(new_password, "new_password")
        user_id = await self._resets.consume(hash_token(token), self._clock.now())
        if user_id is None:
            raise field_error("token", "is invalid, used or expired", "invalid_token")
        await self._users.set_password_hash(user_id, await self._hasher.hash(new_password))
        await self._sessions.end_sessions_before_now(user_id)
        user = await self._users.get(user_id)
        if user is not None:  # the confirmation: whoever did not ask learns of it at once
            await self._mailer.send(
                user.email,
                "Your Nirvana password was changed",
                f"Hello {user.name},\n\n"
                f"The password of your Nirvana account was just reset, and every device "
                f"signed in to it was signed out.\n\n"
                f"If that was you, there is nothing to do. If it was not, reset it again "
                f"at once:\n\n  {self._policy.base_url}/forgot-password\n",
            )

    async def purge_expired(self, before: datetime) -> int:
        """Delete reset tokens that expired before `before`."""
        return await self._resets.delete_expired(before)

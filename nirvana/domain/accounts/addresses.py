"""An account's email address: verifying it by a signed link, and changing it."""

from __future__ import annotations

from ..clock import Clock
from ..errors import ConflictError, field_error
from .passwords import Passwords
from .policy import AccountPolicy, RateLimiter
from .ports import Mailer, UserRepository
from .profile import Profiles
from .users import User, normalise_email
from .verification import Signer, link_matches, make_link_token, mask_email, read_link_token


class EmailAddresses:
    def __init__(self, *, users: UserRepository, profiles: Profiles, passwords: Passwords,
                 mailer: Mailer, signer: Signer, clock: Clock, policy: AccountPolicy,
                 mails_per_account: RateLimiter) -> None:
        self._users = users
        self._profiles = profiles
        self._passwords = passwords
        self._mailer = mailer
        self._signer = signer
        self._clock = clock
        self._policy = policy
        self._mail_limiter = mails_per_account

    async def send_verification(self, user_id: int) -> None:
        """Mail a link that verifies the account's current address. ConflictError
        (already_verified) if it is; RateLimitedError past 3 mails an hour."""
        user = await self._profiles.me(user_id)
        if user.email_verified:
            raise ConflictError("Your email is already verified.", code="already_verified")
        self._mail_limiter.consume(f"user:{user_id}")
        await self._mail_verification(user)

    async def _mail_verification(self, user: User) -> None:
        expires = self._clock.now() + self._policy.verify_ttl
        token = make_link_token(self._signer, user.id, user.email, expires)
        days = self._policy.verify_ttl.days or 1
        await self._mailer.send(
            user.email,
            "Confirm your email for Nirvana",
            f"Hello {user.name},\n\n"
            f"Open this link within {days} days to confirm that this address is yours:\n\n"
            f"  {self._policy.base_url}/verify-email?token={token}\n\n"
            f"or send this token to POST /api/v1/user/email/verify:\n\n  {token}\n\n"
            f"If you did not sign up for Nirvana, ignore this message.\n",
        )

    async def verify_email(self, token: str) -> User:
        """Verify the address a link was sent to, if the account still has it. Idempotent."""
        invalid = field_error("token", "is invalid, expired or for an older address",
                              "invalid_token")
        parsed = read_link_token(token)
        if parsed is None:
            raise invalid
        user_id, expires, mac = parsed
        if expires < self._clock.now().timestamp():
            raise invalid
        user = await self._users.get(user_id)
        if user is None or not link_matches(self._signer, user_id, expires, user.email, mac):
            raise invalid
        if user.email_verified:
            return user
        verified = await self._users.mark_email_verified(user_id, user.email)
        if verified is None:  # the address changed meanwhile
            raise invalid
        return verified

    async def change_email(self, user_id: int, password: str, new_email: str) -> User:
        """Change the address, confirmed by the password: the new one is unverified and gets
        a link; the old one is told, in case it was not the owner."""
        email = normalise_email(new_email)
        confirmed = await self._passwords.confirm_password(user_id, password)
        user = confirmed.user
        if email == user.email:
            raise field_error("email", "is already your email", "unchanged")
        # Not once a reset or change replaced the password checked: an email changed with
        # the old password, then a reset mailed to it, would take the account over.
        updated = await self._passwords.written_with_password(
            user_id, password, confirmed,
            lambda checked: self._users.change_email(user_id, email, checked))
        await self._mail_verification(updated)
        await self._mailer.send(
            user.email,
            "Your Nirvana email was changed",
            f"Hello {user.name},\n\n"
            f"The email of your Nirvana account was changed to {mask_email(email)}.\n"
            f"If that was not you, reset your password at once:\n\n"
            f"  {self._policy.base_url}/forgot-password\n",
        )
        return updated

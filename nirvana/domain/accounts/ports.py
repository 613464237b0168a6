"""The ports of the accounts domain: what it needs from the outside, as Protocols.

Adapters live in `nirvana/storage/` (PostgreSQL, mail) and `nirvana/security.py` (argon2,
JWT); in-memory fakes for unit tests live in `tests/support/fakes_accounts.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Collection, Protocol
from .devices import DeviceSession
from .users import Credentials, ProfileChanges, User


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool:
        """True when the password matches; False (never an exception) when it does not."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    session_id: str
    issued_at: int
    expires_at: int
    token_id: str


class AccessTokens(Protocol):
    def issue(self, user_id: int, session_id: str) -> tuple[str, datetime]:
        """A signed access token and when it expires."""
        ...

    def verify(self, token: str) -> AccessClaims:
        """Raises AuthenticationError for anything but a valid, unexpired access token."""
        ...


class UserRepository(Protocol):
    async def create(self, email: str, username: str, name: str, password_hash: str) -> User:
        """Raises ConflictError(code='email_taken'|'username_taken')."""
        ...

    async def get(self, user_id: int) -> User | None: ...

    async def many(self, user_ids: Collection[int]) -> dict[int, User]:
        """The users of `user_ids` that exist, by id, read in one round trip."""
        ...

    async def credentials_by_email(self, email: str) -> Credentials | None: ...

    async def credentials(self, user_id: int) -> Credentials | None: ...

    async def update_profile(self, user_id: int, changes: ProfileChanges) -> User:
        """Raises ConflictError(code='username_taken')."""
        ...

    async def set_password_hash(self, user_id: int, password_hash: str) -> None: ...

    async def replace_password_hash(self, user_id: int, old_hash: str, new_hash: str) -> bool:
        """Store `new_hash` (a rehash, or a change the old password confirmed) only while
        `old_hash` is the stored one; False, and nothing written, once another change or a
        reset replaced it."""
        ...

    async def change_email(self, user_id: int, email: str, password_hash: str) -> User | None:
        """Set a new (unverified) email, while `password_hash` (the one the password that
        confirmed it was verified against) is still the stored one: None, and nothing
        written, once a change or reset replaced it. Raises ConflictError(code='email_taken')."""
        ...

    async def mark_email_verified(self, user_id: int, email: str) -> User | None:
        """Mark the email verified if it is still `email`; None if the user or address changed."""
        ...

    async def revoke_access_before(self, user_id: int, when: datetime) -> None:
        """Access tokens of this user issued before `when` are no longer accepted."""
        ...

    async def recent_access_revocations(self, since: datetime) -> dict[int, datetime]: ...

    async def delete(self, user_id: int, at: datetime, password_hash: str) -> bool:
        """Delete the user and every row keyed to it, keeping only a tombstone (id, time),
        while `password_hash` (the one the confirming password was verified against) is
        still the stored one: False, and nothing deleted, once a change or reset replaced
        it."""
        ...

    async def recently_deleted(self, since: datetime) -> dict[int, datetime]:
        """Users deleted at or after `since`, and when."""
        ...


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    user_id: int
    family_id: str
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


class RefreshTokenStore(Protocol):
    async def claim(self, token_hash: bytes, now: datetime) -> RefreshRecord | None:
        """Atomically mark an unused, unrevoked, unexpired token used and return it.

        Of concurrent claims of one token exactly one gets the record; the others get None.
        """
        ...

    async def find(self, token_hash: bytes) -> RefreshRecord | None: ...

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        """Revoke every refresh token of the family, also one a rotation running now stores
        (`SessionStore.rotate`)."""
        ...

    async def revoke_user(self, user_id: int, now: datetime) -> set[str]:
        """Revoke every live refresh token of the user, also one a rotation running now
        stores; the families (sessions) they were of."""
        ...

    async def recently_revoked_families(self, since: datetime) -> dict[str, datetime]: ...

    async def delete_expired(self, before: datetime) -> int: ...


class SessionStore(Protocol):
    """Where each session (refresh-token family) was started and when it was last used.

    Whether a session is still open is not kept here: it is open while its family holds a
    refresh token that is unused, unrevoked and unexpired, so logout, rotation and password
    changes close it without a second write.
    """

    async def start(self, session_id: str, user_id: int, device: str, ip: str, now: datetime,
                    token_hash: bytes, expires_at: datetime,
                    password_hash: str | None = None) -> bool:
        """Record a new session with its first refresh token. Given `password_hash` (the
        hash a sign-in verified), only while it is still the user's stored one: False then,
        and nothing stored.

        Atomic against a password change or reset (`UserRepository.set_password_hash`, then
        `RefreshTokenStore.revoke_user`): a sign-in that checked the old password either
        stores nothing or is stored before the change, whose revocation then ends it.
        """
        ...

    async def rotate(self, session_id: str, user_id: int, token_hash: bytes,
                     expires_at: datetime, now: datetime) -> bool:
        """Record a use of the session (a refresh) and store its next refresh token, unless
        the session was ended: False then, and nothing stored.

        Atomic against `RefreshTokenStore.revoke_family`/`revoke_user`: whichever comes
        second sees the other, so a refresh racing a logout or a password change never
        leaves a live token in an ended session.
        """
        ...

    async def open_sessions(self, user_id: int, now: datetime) -> list[DeviceSession]:
        """The user's open sessions, most recently used first."""
        ...

    async def delete_closed(self, before: datetime) -> int:
        """Forget sessions with no refresh token left (they all expired or were purged)."""
        ...


class PasswordResetStore(Protocol):
    async def replace(self, user_id: int, token_hash: bytes, expires_at: datetime) -> None:
        """Store a new reset token for the user and void every older one."""
        ...

    async def consume(self, token_hash: bytes, now: datetime) -> int | None:
        """Mark a valid token used and return its user id; None if unknown, used or expired."""
        ...

    async def delete_expired(self, before: datetime) -> int: ...


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None: ...

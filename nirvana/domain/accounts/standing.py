"""Who may publish and chat right now: the one check that blog publishing and the one chat
send path ask, whatever route, command or page calls them.

Deployments choose whether an unverified email may write (`UNVERIFIED_MAY_WRITE`, default
yes: the web client only nudges).
"""

from __future__ import annotations

from typing import Protocol

from ..errors import PermissionDeniedError
from .ports import UserRepository
from .sessions import AccessRevocations
from .users import account_gone


class WriteGate(Protocol):
    async def check(self, user_id: int) -> None:
        """Raise PermissionDeniedError when `user_id` may not publish or chat now
        (AccountExists: AuthenticationError, the account is gone)."""
        ...


class OpenGate:
    """Everyone signed in may write."""

    async def check(self, user_id: int) -> None:
        return None


class VerifiedEmailGate:
    """Only accounts with a verified email may write. Reads the user through the repository
    (in memory with the user cache: no database round trip per send)."""

    def __init__(self, users: UserRepository) -> None:
        self._users = users

    async def check(self, user_id: int) -> None:
        user = await self._users.get(user_id)
        if user is not None and not user.email_verified:
            raise PermissionDeniedError(
                "Confirm your email before you publish or chat: open the link we mailed you.",
                code="email_unverified")


class AccountExists:
    """Only an account that still exists may chat. A deleted account's tokens are refused
    and its sockets closed once an instance hears of the deletion, but one that cannot reach
    PostgreSQL never hears, and forwards its sends to the chat writer, which asks this
    before each use case that acts for a user, and for a send again right before it is
    queued (docs/cluster-chat.md). From memory: the deletions every instance reloads each second
    (`revocations.deleted`, kept as long as a token lives), then the user cache: the first
    holds what a lost "changed" notice or a read that raced the deletion would hide."""

    def __init__(self, users: UserRepository, revocations: AccessRevocations) -> None:
        self._users = users
        self._revocations = revocations

    async def check(self, user_id: int) -> None:
        if user_id in self._revocations.deleted or await self._users.get(user_id) is None:
            raise account_gone()


class SignInGate(Protocol):
    async def check(self, user_id: int) -> None:
        """Raise (a PermissionDeniedError) when `user_id`, whose password was right, may not
        sign in now: moderation's suspension check (domain/moderation/suspension.py)."""
        ...


class AnyoneMaySignIn:
    async def check(self, user_id: int) -> None:
        return None

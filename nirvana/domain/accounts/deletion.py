"""Deleting an account: what it announces, and the erasure of what it left outside PostgreSQL.

In PostgreSQL an account's rows go with its `users` row (every table keys to it with ON
DELETE CASCADE): profile, credentials, sessions, blogs, comments, likes, friends, follows,
blocks. Only a tombstone (the id and when) is kept, so that the erasure of what other stores
hold — the text of its chat messages — is retried until done, and so that its access tokens
stay refused after a restart. docs/accounts.md says what remains and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..clock import Clock


@dataclass(frozen=True, slots=True)
class AccountDeleted:
    """The account `user_id` was deleted at `at`; its PostgreSQL rows are already gone.
    `email` is its address, for what only knows mail by address (the .eml outbox): held in
    memory by the listeners, never stored."""

    user_id: int
    at: datetime
    email: str = ""


class AccountEvents(Protocol):
    def publish(self, event: AccountDeleted) -> None:
        """Never blocks and never raises: called after the deletion is committed."""
        ...


class NoAccountListeners:
    """For accounts nobody listens to (unit tests of the rules alone)."""

    def publish(self, event: AccountDeleted) -> None:
        pass


class ContentEraser(Protocol):
    async def erase(self, user_id: int) -> None:
        """Remove what a deleted account left in stores without a foreign key to `users`
        (the text and attachments of its chat messages). Idempotent: may run again."""
        ...


class DeletedAccounts(Protocol):
    async def awaiting_erasure(self) -> list[int]:
        """Deleted accounts whose content has not been erased yet, oldest first."""
        ...

    async def mark_erased(self, user_id: int, at: datetime) -> None: ...


class Erasure:
    """Erases a deleted account's content and records it, so an erasure interrupted by a
    crash or a store outage is finished by the next `erase_pending`."""

    def __init__(self, eraser: ContentEraser, deleted: DeletedAccounts, clock: Clock) -> None:
        self._eraser = eraser
        self._deleted = deleted
        self._clock = clock

    async def erase(self, user_id: int) -> None:
        await self._eraser.erase(user_id)
        await self._deleted.mark_erased(user_id, self._clock.now())

    async def erase_pending(self) -> int:
        pending = await self._deleted.awaiting_erasure()
        for user_id in pending:
            await self.erase(user_id)
        return len(pending)

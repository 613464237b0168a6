"""A UserRepository that answers `get` from memory: GET /user/me and every authenticated
route that loads the caller no longer cost a PostgreSQL round trip per request.

Write-through: every change of a user made through this repository replaces its cached copy
with what the database returned, so within this process a read after a write always sees
the write. The assumption that makes that enough: **the instances that share the users table tell
each other what they change** — with one process nothing else changes `users` rows while it
runs (`nirvana.seed` runs before start); with several (REDIS_URL), every change made here is
sent to the others (`changed`, wired in nirvana/wiring/instances.py), which drop their copy
(`changed_elsewhere`) and read the row again on next use.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Awaitable, Callable, Collection, TypeVar

from ..domain.accounts.ports import UserRepository
from ..domain.accounts.users import Credentials, ProfileChanges, User

T = TypeVar("T")


class CachedUserRepository:
    def __init__(self, inner: UserRepository, size: int = 10_000) -> None:
        self._inner = inner
        self._size = size
        self._users: OrderedDict[int, User] = OrderedDict()
        # Bumped before and after every write. A read whose round trip overlapped a write
        # (the counter moved meanwhile) may hold the old row, so it is returned but not kept.
        # One wholly inside a write sees no move: the copy it kept is dropped again after.
        self._writes = 0
        # Told the id of each user changed here, once the database has the change.
        self.changed: Callable[[int], None] | None = None

    def _writing(self, user_id: int) -> None:
        """Called before a write of `user_id` and after it (whether it failed or not)."""
        self._writes += 1
        self._users.pop(user_id, None)

    def _tell(self, user_id: int) -> None:
        if self.changed is not None:
            self.changed(user_id)

    def _remember(self, user: User, writes_before: int) -> None:
        if self._writes != writes_before:
            return
        self._users[user.id] = user
        self._users.move_to_end(user.id)
        if len(self._users) > self._size:
            self._users.popitem(last=False)

    async def get(self, user_id: int) -> User | None:
        user = self._users.get(user_id)
        if user is not None:
            self._users.move_to_end(user_id)
            return user
        writes = self._writes
        user = await self._inner.get(user_id)
        if user is not None:
            self._remember(user, writes)
        return user

    async def many(self, user_ids: Collection[int]) -> dict[int, User]:
        found = {i: u for i in user_ids if (u := self._users.get(i)) is not None}
        missing = [i for i in user_ids if i not in found]
        if missing:
            writes = self._writes
            read = await self._inner.many(missing)
            for user in read.values():
                self._remember(user, writes)
            found.update(read)
        return found

    async def create(self, email: str, username: str, name: str, password_hash: str) -> User:
        user = await self._inner.create(email, username, name, password_hash)
        self._remember(user, self._writes)
        return user

    async def credentials_by_email(self, email: str) -> Credentials | None:
        writes = self._writes
        found = await self._inner.credentials_by_email(email)
        if found is not None:
            self._remember(found.user, writes)
        return found

    async def credentials(self, user_id: int) -> Credentials | None:
        writes = self._writes
        found = await self._inner.credentials(user_id)
        if found is not None:
            self._remember(found.user, writes)
        return found

    async def _written(self, user_id: int, write: Awaitable[T]) -> T:
        """Run `write` of `user_id` and keep the row it returns, unless another write or a
        forget ran meanwhile (a delete that committed after this write but ended first: its
        row kept would be a deleted account, cached with no end)."""
        self._writing(user_id)
        mark = self._writes
        try:
            user = await write
        finally:
            self._writing(user_id)
        if isinstance(user, User):
            self._remember(user, mark + 1)
        self._tell(user_id)
        return user

    async def update_profile(self, user_id: int, changes: ProfileChanges) -> User:
        return await self._written(user_id, self._inner.update_profile(user_id, changes))

    async def change_email(self, user_id: int, email: str, password_hash: str) -> User | None:
        return await self._written(user_id,
                                   self._inner.change_email(user_id, email, password_hash))

    async def mark_email_verified(self, user_id: int, email: str) -> User | None:
        return await self._written(user_id, self._inner.mark_email_verified(user_id, email))

    def forget(self, user_id: int) -> None:
        """A change made outside this repository (a role, by moderation): read it again."""
        self.changed_elsewhere(user_id)
        self._tell(user_id)

    def forget_all(self) -> None:
        """Changes made elsewhere may have been missed: read every user again."""
        self._writes += 1
        self._users.clear()

    def changed_elsewhere(self, user_id: int) -> None:
        """Another instance changed the user: read it again (and never keep a read that
        overlapped this)."""
        self._writing(user_id)

    # Credentials and revocations are not part of `User`: nothing cached changes.
    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await self._inner.set_password_hash(user_id, password_hash)

    async def replace_password_hash(self, user_id: int, old_hash: str, new_hash: str) -> bool:
        return await self._inner.replace_password_hash(user_id, old_hash, new_hash)

    async def revoke_access_before(self, user_id: int, when: datetime) -> None:
        await self._inner.revoke_access_before(user_id, when)

    async def recent_access_revocations(self, since: datetime) -> dict[int, datetime]:
        return await self._inner.recent_access_revocations(since)

    async def delete(self, user_id: int, at: datetime, password_hash: str) -> bool:
        return await self._written(user_id, self._inner.delete(user_id, at, password_hash))

    async def recently_deleted(self, since: datetime) -> dict[int, datetime]:
        return await self._inner.recently_deleted(since)

"""An account's own profile: reading it and changing it."""

from __future__ import annotations

from .ports import UserRepository
from .users import ProfileChanges, User, account_gone, validate_profile_changes


class Profiles:
    def __init__(self, users: UserRepository) -> None:
        self._users = users

    async def me(self, user_id: int) -> User:
        user = await self._users.get(user_id)
        if user is None:
            raise account_gone()
        return user

    async def update_profile(self, user_id: int, changes: ProfileChanges) -> User:
        return await self._users.update_profile(user_id, validate_profile_changes(changes))

"""An account deleted by a test that does not go through the owner's password: a stand-in
for `Accounts.delete_account`, whose store call is always confirmed by the stored hash."""

from __future__ import annotations

from datetime import datetime

from nirvana.domain.accounts.ports import UserRepository


async def delete_without_password(users: UserRepository, user_id: int, at: datetime) -> None:
    """`users.delete`, confirmed by the hash stored now (no password is checked)."""
    credentials = await users.credentials(user_id)
    assert credentials is not None, f"no user {user_id} to delete"
    assert await users.delete(user_id, at, credentials.password_hash)

"""PostgreSQL adapters of the accounts ports."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

import asyncpg

from ...domain.errors import ConflictError, field_error
from ...domain.accounts.ports import RefreshRecord
from ...domain.accounts.users import Credentials, ProfileChanges, User
from .deadlock import once_more_if_deadlocked
from .password_guard import password_still_stored

USER_COLUMNS = (
    "u.id, u.email::text AS email, u.username::text AS username, u.name, u.about, "
    "u.avatar_url, u.status, u.email_verified, u.role, u.created_at, u.updated_at"
)


def user_from_row(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        username=row["username"],
        name=row["name"],
        about=row["about"],
        avatar_url=row["avatar_url"],
        status=row["status"],
        email_verified=row["email_verified"],
        role=row["role"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _conflict(exc: asyncpg.UniqueViolationError) -> ConflictError:
    if exc.constraint_name == "users_email_key":
        err = ConflictError("An account with this email already exists.", code="email_taken")
        err.details = [{"field": "email", "code": "taken", "message": "is already registered"}]
        return err
    if exc.constraint_name == "users_username_key":
        err = ConflictError("This username is taken.", code="username_taken")
        err.details = [{"field": "username", "code": "taken", "message": "is taken"}]
        return err
    return ConflictError()


class PgUserRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, email: str, username: str, name: str, password_hash: str) -> User:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    f"INSERT INTO users AS u (email, username, name) VALUES ($1, $2, $3) "
                    f"RETURNING {USER_COLUMNS}",
                    email,
                    username,
                    name,
                )
                await conn.execute(
                    "INSERT INTO credentials (user_id, password_hash) VALUES ($1, $2)",
                    row["id"],
                    password_hash,
                )
        except asyncpg.UniqueViolationError as exc:
            raise _conflict(exc) from None
        return user_from_row(row)

    async def get(self, user_id: int) -> User | None:
        row = await self._pool.fetchrow(f"SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1", user_id)
        return user_from_row(row) if row else None

    async def many(self, user_ids: Collection[int]) -> dict[int, User]:
        rows = await self._pool.fetch(
            f"SELECT {USER_COLUMNS} FROM users u WHERE u.id = ANY($1::bigint[])", list(user_ids))
        return {row["id"]: user_from_row(row) for row in rows}

    async def _credentials(self, where: str, value: object) -> Credentials | None:
        row = await self._pool.fetchrow(
            f"SELECT {USER_COLUMNS}, c.password_hash FROM users u "
            f"JOIN credentials c ON c.user_id = u.id WHERE {where}",
            value,
        )
        return Credentials(user_from_row(row), row["password_hash"]) if row else None

    async def credentials_by_email(self, email: str) -> Credentials | None:
        return await self._credentials("u.email = $1", email)

    async def credentials(self, user_id: int) -> Credentials | None:
        return await self._credentials("u.id = $1", user_id)

    async def update_profile(self, user_id: int, changes: ProfileChanges) -> User:
        try:
            row = await self._pool.fetchrow(
                f"""UPDATE users AS u SET
                        name = COALESCE($2, name),
                        username = COALESCE($3, username),
                        about = COALESCE($4, about),
                        avatar_url = CASE WHEN $7 THEN NULL ELSE COALESCE($5, avatar_url) END,
                        status = COALESCE($6, status),
                        updated_at = now()
                    WHERE id = $1 RETURNING {USER_COLUMNS}""",
                user_id,
                changes.name,
                changes.username,
                changes.about,
                changes.avatar_url,
                changes.status,
                changes.clear_avatar,
            )
        except asyncpg.UniqueViolationError as exc:
            raise _conflict(exc) from None
        if row is None:
            raise field_error("user", "does not exist", "not_found")
        return user_from_row(row)

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await self._pool.execute(
            "UPDATE credentials SET password_hash = $2, updated_at = now() WHERE user_id = $1",
            user_id,
            password_hash,
        )

    async def replace_password_hash(self, user_id: int, old_hash: str, new_hash: str) -> bool:
        return await self._pool.fetchval(
            "UPDATE credentials SET password_hash = $3, updated_at = now() "
            "WHERE user_id = $1 AND password_hash = $2 RETURNING true",
            user_id, old_hash, new_hash,
        ) is not None

    async def change_email(self, user_id: int, email: str, password_hash: str) -> User | None:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if not await password_still_stored(conn, user_id, password_hash, "UPDATE"):
                    return None
                row = await conn.fetchrow(
                    f"UPDATE users AS u SET email = $2, email_verified = false, "
                    f"updated_at = now() WHERE id = $1 RETURNING {USER_COLUMNS}",
                    user_id, email)
        except asyncpg.UniqueViolationError as exc:
            raise _conflict(exc) from None
        return user_from_row(row)

    async def mark_email_verified(self, user_id: int, email: str) -> User | None:
        row = await self._pool.fetchrow(
            f"UPDATE users AS u SET email_verified = true, updated_at = now() "
            f"WHERE id = $1 AND email = $2 RETURNING {USER_COLUMNS}", user_id, email)
        return user_from_row(row) if row else None

    async def revoke_access_before(self, user_id: int, when: datetime) -> None:
        await self._pool.execute(
            "UPDATE credentials SET access_revoked_before = $2 WHERE user_id = $1", user_id, when
        )

    async def recent_access_revocations(self, since: datetime) -> dict[int, datetime]:
        rows = await self._pool.fetch(
            "SELECT user_id, access_revoked_before FROM credentials "
            "WHERE access_revoked_before >= $1",
            since,
        )
        return {r["user_id"]: r["access_revoked_before"] for r in rows}

    async def delete(self, user_id: int, at: datetime, password_hash: str) -> bool:
        # Only a writer of the user's rows that does not lock the user's row first
        # (password_guard.py) can deadlock with it: once that writer is done, this goes.
        return await once_more_if_deadlocked(
            lambda: self._delete(user_id, at, password_hash), f"account deletion of user {user_id}")

    async def _delete(self, user_id: int, at: datetime, password_hash: str) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await password_still_stored(conn, user_id, password_hash, "UPDATE"):
                return False
            await conn.execute(
                "INSERT INTO deleted_users (id, deleted_at) VALUES ($1, $2) "
                "ON CONFLICT (id) DO NOTHING", user_id, at)
            # Mail to the account, sent or not, goes with it (the outbox keys by address).
            await conn.execute(
                "DELETE FROM mail_outbox WHERE lower(recipient) = "
                "(SELECT lower(email::text) FROM users WHERE id = $1)", user_id)
            # The blogs its cascade touches, locked before it: a comment's deletion and a
            # reaction's change or removal take a blog's row before the existing child they
            # lock (blog_comments.py, blog_reactions.py), while the cascade would take a
            # comment, then its blog (the count trigger). An insert needs not: its row is
            # invisible to the cascade.
            # The user's own blogs as their deletion does; others' as the trigger does, which
            # lets the user's own comment in flight (its foreign key's KEY SHARE) through.
            await conn.execute("SELECT 1 FROM blogs WHERE author_id = $1 ORDER BY id "
                               "FOR UPDATE", user_id)
            await conn.execute(
                """SELECT 1 FROM blogs WHERE author_id <> $1
                      AND id IN (SELECT blog_id FROM blog_comments WHERE author_id = $1
                                 UNION SELECT blog_id FROM blog_reactions WHERE user_id = $1)
                   ORDER BY id FOR NO KEY UPDATE""", user_id)
            # Every table keys to users with ON DELETE CASCADE; the counters' triggers
            # (likes, comments, blogs) run for the cascaded rows too.
            await conn.execute("DELETE FROM users WHERE id = $1", user_id)
        return True

    async def recently_deleted(self, since: datetime) -> dict[int, datetime]:
        rows = await self._pool.fetch(
            "SELECT id, deleted_at FROM deleted_users WHERE deleted_at >= $1", since)
        return {r["id"]: r["deleted_at"] for r in rows}


class PgDeletedAccounts:
    """The tombstones of deleted accounts (schema step 0006): whose content awaits erasure."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def awaiting_erasure(self) -> list[int]:
        rows = await self._pool.fetch(
            "SELECT id FROM deleted_users WHERE erased_at IS NULL ORDER BY deleted_at")
        return [r["id"] for r in rows]

    async def mark_erased(self, user_id: int, at: datetime) -> None:
        await self._pool.execute(
            "UPDATE deleted_users SET erased_at = $2 WHERE id = $1", user_id, at)


def _refresh_record(row: asyncpg.Record) -> RefreshRecord:
    return RefreshRecord(
        user_id=row["user_id"],
        family_id=str(row["family_id"]),
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        revoked_at=row["revoked_at"],
    )


class PgRefreshTokenStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim(self, token_hash: bytes, now: datetime) -> RefreshRecord | None:
        # One UPDATE with the conditions in its WHERE: of concurrent claims, PostgreSQL's row
        # lock lets exactly one see used_at IS NULL.
        row = await self._pool.fetchrow(
            """UPDATE refresh_tokens SET used_at = $2
               WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL
                 AND expires_at > $2
               RETURNING user_id, family_id, expires_at, used_at, revoked_at""",
            token_hash,
            now,
        )
        return _refresh_record(row) if row else None

    async def find(self, token_hash: bytes) -> RefreshRecord | None:
        row = await self._pool.fetchrow(
            "SELECT user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens "
            "WHERE token_hash = $1",
            token_hash,
        )
        return _refresh_record(row) if row else None

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        await self._revoke("id", "family_id", uuid.UUID(family_id), now)

    async def revoke_user(self, user_id: int, now: datetime) -> set[str]:
        return await self._revoke("user_id", "user_id", user_id, now)

    async def _revoke(self, session_key: str, token_key: str, key: object,
                      now: datetime) -> set[str]:
        # The family's user, when the key is a family.
        user = "$1" if session_key == "user_id" else "(SELECT user_id FROM sessions WHERE id = $1)"
        async with self._pool.acquire() as conn, conn.transaction():
            # The user's row first (password_guard.py): a deletion's cascade deletes the
            # tokens, then the sessions, the reverse of the order below; it waits here instead.
            await conn.execute(f"SELECT 1 FROM users WHERE id = {user} FOR KEY SHARE", key)
            # Then the sessions' rows, which a rotation locks too (PgSessionStore.rotate):
            # the UPDATE's snapshot, taken after, sees a token a rotation stored meanwhile.
            # In id order, so two revocations of one user cannot deadlock.
            await conn.execute(
                f"SELECT 1 FROM sessions WHERE {session_key} = $1 ORDER BY id FOR UPDATE", key)
            rows = await conn.fetch(
                f"UPDATE refresh_tokens SET revoked_at = $2 "
                f"WHERE {token_key} = $1 AND revoked_at IS NULL RETURNING family_id", key, now)
        return {str(r["family_id"]) for r in rows}

    async def recently_revoked_families(self, since: datetime) -> dict[str, datetime]:
        rows = await self._pool.fetch(
            "SELECT family_id, max(revoked_at) AS at FROM refresh_tokens "
            "WHERE revoked_at >= $1 GROUP BY family_id",
            since,
        )
        return {str(r["family_id"]): r["at"] for r in rows}

    async def delete_expired(self, before: datetime) -> int:
        result = await self._pool.execute(
            "DELETE FROM refresh_tokens WHERE expires_at < $1", before
        )
        return int(result.split()[-1])


class PgPasswordResetStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def replace(self, user_id: int, token_hash: bytes, expires_at: datetime) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL",
                user_id,
            )
            await conn.execute(
                "INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
                token_hash,
                user_id,
                expires_at,
            )

    async def consume(self, token_hash: bytes, now: datetime) -> int | None:
        return await self._pool.fetchval(
            """UPDATE password_resets SET used_at = $2
               WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
               RETURNING user_id""",
            token_hash,
            now,
        )

    async def delete_expired(self, before: datetime) -> int:
        result = await self._pool.execute(
            "DELETE FROM password_resets WHERE expires_at < $1", before
        )
        return int(result.split()[-1])

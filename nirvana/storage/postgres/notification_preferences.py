"""PostgreSQL adapters of the preference and mute ports (schema step 0011)."""

from __future__ import annotations

import asyncpg

from ...domain.notifications.preferences import Channel, Preference


class PgPreferenceStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def overrides(self, user_id: int) -> dict[tuple[str, Channel], bool]:
        rows = await self._pool.fetch(
            "SELECT kind, channel, enabled FROM notification_preferences WHERE user_id = $1",
            user_id)
        return {(r["kind"], Channel(r["channel"])): r["enabled"] for r in rows}

    async def save(self, user_id: int, changes: list[Preference]) -> None:
        if not changes:
            return
        await self._pool.execute(
            """INSERT INTO notification_preferences (user_id, kind, channel, enabled)
               SELECT $1, k, c, e FROM unnest($2::text[], $3::text[], $4::bool[]) AS t(k, c, e)
               ON CONFLICT (user_id, kind, channel) DO UPDATE SET enabled = EXCLUDED.enabled""",
            user_id, [c.kind for c in changes], [c.channel.value for c in changes],
            [c.enabled for c in changes])

    async def set_off(self, user_id: int, kind: str, channel: Channel) -> None:
        # From a mailed link: the account may be gone since, and then there is nothing to do.
        await self._pool.execute(
            """INSERT INTO notification_preferences (user_id, kind, channel, enabled)
               SELECT id, $2, $3, false FROM users WHERE id = $1
               ON CONFLICT (user_id, kind, channel) DO UPDATE SET enabled = false""",
            user_id, kind, channel.value)

    async def refusing(self, kind: str, channel: Channel, user_ids: list[int],
                       default_on: bool) -> set[int]:
        if default_on:
            rows = await self._pool.fetch(
                "SELECT user_id FROM notification_preferences WHERE kind = $1 "
                "AND channel = $2 AND NOT enabled AND user_id = ANY($3::bigint[])",
                kind, channel.value, user_ids)
            return {r["user_id"] for r in rows}
        rows = await self._pool.fetch(
            "SELECT user_id FROM notification_preferences WHERE kind = $1 "
            "AND channel = $2 AND enabled AND user_id = ANY($3::bigint[])",
            kind, channel.value, user_ids)
        return set(user_ids) - {r["user_id"] for r in rows}


class PgMuteStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def mute(self, user_id: int, conversation_id: str) -> None:
        await self._pool.execute(
            "INSERT INTO conversation_mutes (user_id, conversation_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING", user_id, conversation_id)

    async def unmute(self, user_id: int, conversation_id: str) -> None:
        await self._pool.execute(
            "DELETE FROM conversation_mutes WHERE user_id = $1 AND conversation_id = $2",
            user_id, conversation_id)

    async def muted(self, user_id: int) -> list[str]:
        rows = await self._pool.fetch(
            "SELECT conversation_id FROM conversation_mutes WHERE user_id = $1 "
            "ORDER BY muted_at, conversation_id", user_id)
        return [r["conversation_id"] for r in rows]

    async def newest_muted(self, user_id: int, limit: int) -> tuple[list[str], int]:
        rows = await self._pool.fetch(
            "SELECT conversation_id, count(*) OVER () AS total FROM conversation_mutes "
            "WHERE user_id = $1 ORDER BY muted_at DESC, conversation_id LIMIT $2",
            user_id, limit)
        return [r["conversation_id"] for r in rows], rows[0]["total"] if rows else 0

    async def muted_among(self, conversation_id: str, user_ids: list[int]) -> set[int]:
        rows = await self._pool.fetch(
            "SELECT user_id FROM conversation_mutes WHERE conversation_id = $1 "
            "AND user_id = ANY($2::bigint[])", conversation_id, user_ids)
        return {r["user_id"] for r in rows}

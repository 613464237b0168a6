"""PostgreSQL adapter of `UploadLedger` (schema steps 0012, 0013, 0021, 0023, 0026, 0027,
0029): who was issued which upload URL under which original name, each user's storage usage,
and the uploads under way (media_pending: reserved, not yet in the ledger, by which process)."""

from __future__ import annotations

from datetime import datetime
from typing import Awaitable, Callable, Collection, Mapping, Sequence

import asyncpg

from ...domain.idempotency import IdempotencyKey, replayed_or_refused
from ...domain.sniffing import CONTENT_TYPES, ContentType, MediaKind
from ...domain.uploads import (Issued, Pending, ReservationSweptError, StoredUpload, Upload,
                               UploadPosition)
from .password_guard import user_locked

# A user's uploads newest first, walked in media_uploads_owner_newest_idx (schema.sql 0021):
# two statements rather than one with "$2 IS NULL OR", whose generic plan (a prepared
# statement's, after five runs) could not start the index scan at the cursor.
_COLUMNS = ("SELECT url, kind, mime, size, created_at, original_name FROM media_uploads "
            "WHERE owner_id = $1")
PAGE_FIRST = f"{_COLUMNS} ORDER BY created_at DESC, url DESC LIMIT $2"
PAGE_AFTER = (f"{_COLUMNS} AND (created_at, url) < ($2, $3) "
              "ORDER BY created_at DESC, url DESC LIMIT $4")
# The name is the URL's last segment (domain/uploads.py name_of), compared whole as text (no
# LIKE, so its `_` is no wildcard), as the expression of media_uploads_owner_name_idx: written
# exactly as there, or the index goes unused.
FIND_BY_NAME = ("SELECT url FROM media_uploads WHERE owner_id = $1 "
                "AND regexp_replace(url, '^.*/', '') = $2 ORDER BY created_at LIMIT 1")
# One statement: the usage row is locked by the upsert, so concurrent uploads of one user
# queue here and each sees the usage the one before left; the pending row is made only when
# the bytes were counted.
RESERVE = (
    "WITH counted AS ("
    "  INSERT INTO media_usage AS u (user_id, used_bytes) "
    "  SELECT $1, $2::bigint WHERE $2::bigint <= $3::bigint "
    "  ON CONFLICT (user_id) DO UPDATE SET used_bytes = u.used_bytes + EXCLUDED.used_bytes "
    "  WHERE u.used_bytes + EXCLUDED.used_bytes <= $3::bigint RETURNING user_id) "
    "INSERT INTO media_pending (url, user_id, size, reserved_by) "
    "SELECT $4, user_id, $2, $5 FROM counted RETURNING true")
# The pending row and its bytes go together; nothing is given back when no pending row is
# left (the upload's row took it, or a release or sweep came first).
RELEASE = (
    "WITH gone AS (DELETE FROM media_pending WHERE url = $1 RETURNING user_id, size), "
    "back AS (UPDATE media_usage AS u SET used_bytes = greatest(u.used_bytes - gone.size, 0) "
    "    FROM gone WHERE u.user_id = gone.user_id) "
    "SELECT count(*) FROM gone")
# A failed upload's bytes given back while its pending row keeps naming the file until it is
# removed (then RELEASE deletes the row, giving back nothing more). The lock waits for a RECORD
# under way: committed, its row took the pending row, and nothing is given back.
GIVE_BACK = (
    "WITH kept AS (UPDATE media_pending AS p SET size = 0 FROM ("
    "    SELECT url, size FROM media_pending WHERE url = $1 AND size > 0 FOR UPDATE) AS o "
    "  WHERE p.url = o.url RETURNING p.user_id, o.size), "
    "back AS (UPDATE media_usage AS u SET used_bytes = greatest(u.used_bytes - kept.size, 0) "
    "    FROM kept WHERE u.user_id = kept.user_id) "
    "SELECT count(*) FROM kept")
# The pending row is locked first, so a sweep cannot take it while the upload's row goes in,
# and the row goes in only while it is there with its bytes (an empty upload is refused, so
# only GIVE_BACK leaves a row of none). A key already stored inserts nothing, and then
# the pending row stays for the release: a concurrent twin waits for the winner's commit,
# then finds nothing inserted.
RECORD = (
    "WITH held AS (SELECT FROM media_pending WHERE url = $9 AND size > 0 FOR UPDATE), "
    "added AS ("
    "  INSERT INTO media_uploads (url, owner_id, kind, mime, size, original_name, "
    "      idempotency_key, idempotency_fingerprint) "
    "  SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT FROM held) "
    "  ON CONFLICT (owner_id, idempotency_key) "
    "      WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING true), "
    "taken AS (DELETE FROM media_pending WHERE url = $9 AND EXISTS (SELECT FROM added)) "
    "SELECT (SELECT count(*) FROM held) AS held, (SELECT count(*) FROM added) AS added")
# Oldest first; rows another instance's sweep holds are left to it.
STALE = ("SELECT url, user_id, size FROM media_pending "
         "WHERE reserved_at < now() - make_interval(secs => $1) "
         "ORDER BY reserved_at LIMIT $2 FOR UPDATE SKIP LOCKED")
# Reservations still counted that the given processes made (NULL: made before step 0029).
OF_GONE = ("SELECT url, user_id, size FROM media_pending WHERE size > 0 "
           "AND (reserved_by = ANY($1::text[]) OR ($2 AND reserved_by IS NULL)) "
           "AND reserved_at < least(now() - make_interval(secs => $3), "
           "    coalesce($5::timestamptz, 'infinity')) "
           "ORDER BY reserved_at LIMIT $4 FOR UPDATE SKIP LOCKED")
# As GIVE_BACK, for the rows OF_GONE holds: the bytes go, the row stays naming its file.
GAVE_BACK = (
    "WITH kept AS (UPDATE media_pending SET size = 0 WHERE url = ANY($1::text[])), "
    "g AS (SELECT user_id, sum(size) AS total FROM unnest($1::text[], $2::bigint[], "
    "    $3::bigint[]) AS o(url, user_id, size) GROUP BY user_id) "
    "UPDATE media_usage AS u SET used_bytes = greatest(u.used_bytes - g.total, 0) "
    "FROM g WHERE u.user_id = g.user_id")
SWEPT = (
    "WITH gone AS (DELETE FROM media_pending WHERE url = ANY($1::text[]) "
    "    RETURNING user_id, size) "
    "UPDATE media_usage AS u SET used_bytes = greatest(u.used_bytes - g.total, 0) "
    "FROM (SELECT user_id, sum(size) AS total FROM gone GROUP BY user_id) AS g "
    "WHERE u.user_id = g.user_id")


def content_of(url: str, kind: MediaKind, mime: str) -> ContentType:
    """What a stored upload is, as sniffed when it came: its URL ends in the extension."""
    found = CONTENT_TYPES.get(url.rsplit(".", 1)[-1])
    return found if found is not None and found.mime == mime else ContentType(kind, mime, "")


class PgUploadLedger:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def reserve(self, user_id: int, size: int, quota: int, url: str,
                      by: str | None = None) -> bool:
        return bool(await self._pool.fetchval(RESERVE, user_id, size, quota, url, by))

    async def release(self, url: str) -> bool:
        return bool(await self._pool.fetchval(RELEASE, url))

    async def give_back(self, url: str) -> bool:
        return bool(await self._pool.fetchval(GIVE_BACK, url))

    async def keep_named(self, url: str, user_id: int) -> None:
        # No foreign key on user_id: the account may be gone since (the sweep handles that).
        await self._pool.execute("INSERT INTO media_pending (url, user_id, size) "
                                 "VALUES ($1, $2, 0) ON CONFLICT DO NOTHING", url, user_id)

    async def record(self, upload: Upload, reserved: str,
                     key: IdempotencyKey | None = None) -> bool:
        row = await self._pool.fetchrow(
            RECORD, upload.url, upload.owner_id, upload.content.kind.value,
            upload.content.mime, upload.size, upload.original_name, key and key.key,
            key and key.fingerprint, reserved)
        if not row["held"]:
            # Swept (this request outlived the bound), or its bytes given back (its process
            # was taken for gone): domain/upload_sweep.py. Its file is no row's.
            raise ReservationSweptError(
                "This upload was given up before it was stored: send it again.")
        return bool(row["added"])

    async def sweep(self, older_than: float, limit: int,
                    remove: Callable[[str], Awaitable[bool]]) -> tuple[int, list[Pending]]:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(STALE, older_than, limit)
            stale = [Pending(r["url"], r["user_id"], r["size"]) for r in rows]
            # Never so, as the insert of an upload's row takes its pending row; were it so,
            # the file and the bytes are that row's, and only the pending row goes.
            named = await conn.fetch("DELETE FROM media_pending AS p USING media_uploads AS m "
                                     "WHERE p.url = ANY($1::text[]) AND m.url = p.url "
                                     "RETURNING p.url", [p.url for p in stale])
            kept = {r["url"] for r in named}
            # Held while the files go: a second sweep skips these rows. The first removal a
            # store refuses ends the batch, so a store down keeps this transaction open for
            # one of its timeouts, not one per row; that row goes to the back of the line
            # (retried after the bound), so one file that never goes blocks no row behind it.
            swept: list[Pending] = []
            for pending in stale:
                if pending.url in kept:
                    continue
                if not await remove(pending.url):
                    await conn.execute("UPDATE media_pending SET reserved_at = now() "
                                       "WHERE url = $1", pending.url)
                    break
                swept.append(pending)
            owners = sorted({p.user_id for p in swept})
            # The usage rows in one order, so two sweeps giving back to the same users
            # cannot deadlock.
            await conn.execute("SELECT FROM media_usage WHERE user_id = ANY($1::bigint[]) "
                               "ORDER BY user_id FOR UPDATE", owners)
            await conn.execute(SWEPT, [p.url for p in swept])
        return len(rows), swept

    async def reservers(self) -> set[str | None]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT reserved_by FROM media_pending WHERE size > 0")
        return {r["reserved_by"] for r in rows}

    async def give_back_of(self, gone: Collection[str | None], older_than: float,
                           limit: int, before: datetime | None = None) -> list[Pending]:
        named = [g for g in gone if g is not None]
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(OF_GONE, named, None in gone, older_than, limit, before)
            kept = [Pending(r["url"], r["user_id"], r["size"]) for r in rows]
            # The usage rows in one order, as the sweep takes them (no deadlock between two).
            await conn.execute("SELECT FROM media_usage WHERE user_id = ANY($1::bigint[]) "
                               "ORDER BY user_id FOR UPDATE",
                               sorted({p.user_id for p in kept}))
            await conn.execute(GAVE_BACK, [p.url for p in kept], [p.user_id for p in kept],
                               [p.size for p in kept])
        return kept

    async def keyed(self, owner_id: int, key: IdempotencyKey) -> Upload | None:
        row = await self._pool.fetchrow(
            "SELECT url, kind, mime, size, original_name, idempotency_fingerprint "
            "FROM media_uploads WHERE owner_id = $1 AND idempotency_key = $2",
            owner_id, key.key)
        if row is None:
            return None
        replayed_or_refused(key, row["idempotency_fingerprint"])
        return Upload(row["url"], owner_id, content_of(row["url"], MediaKind(row["kind"]),
                                                       row["mime"]),
                      row["size"], row["original_name"])

    async def usage(self, user_id: int) -> tuple[int, int]:
        row = await self._pool.fetchrow(
            "SELECT coalesce((SELECT used_bytes FROM media_usage WHERE user_id = $1), 0) AS used, "
            "(SELECT count(*) FROM media_uploads WHERE owner_id = $1) AS files", user_id)
        return int(row["used"]), int(row["files"])

    async def orphaned(self, owner_id: int) -> list[str]:
        """The URLs a deleted account was issued (schema step 0013), not yet removed."""
        rows = await self._pool.fetch("SELECT url FROM media_orphans WHERE owner_id = $1",
                                      owner_id)
        return [r["url"] for r in rows]

    async def removed(self, urls: Sequence[str]) -> None:
        await self._pool.execute("DELETE FROM media_orphans WHERE url = ANY($1::text[])",
                                 list(urls))

    async def issued(self, urls: Sequence[str]) -> Mapping[str, Issued]:
        if not urls:
            return {}
        rows = await self._pool.fetch(
            "SELECT url, owner_id, kind, size FROM media_uploads WHERE url = ANY($1::text[])",
            list(urls))
        return {r["url"]: Issued(r["owner_id"], MediaKind(r["kind"]), r["size"]) for r in rows}

    async def page(self, owner_id: int, after: UploadPosition | None,
                   limit: int) -> list[StoredUpload]:
        if after is None:
            rows = await self._pool.fetch(PAGE_FIRST, owner_id, limit)
        else:
            rows = await self._pool.fetch(PAGE_AFTER, owner_id, after.created_at, after.url,
                                          limit)
        return [StoredUpload(r["url"], MediaKind(r["kind"]), r["mime"], r["size"],
                             r["created_at"], r["original_name"]) for r in rows]

    async def find(self, owner_id: int, name: str) -> str | None:
        return await self._pool.fetchval(FIND_BY_NAME, owner_id, name)

    async def forget(self, owner_id: int, url: str) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            # The user's row before its child rows, as an account deletion takes them
            # (password_guard.py); gone with the account, the erasure removes its files.
            if not await user_locked(conn, owner_id):
                return False
            # The row lock makes a racing second deletion wait here, then find nothing.
            size = await conn.fetchval(
                "DELETE FROM media_uploads WHERE url = $1 AND owner_id = $2 RETURNING size",
                url, owner_id)
            if size is None:
                return False
            # The trigger of 0013 keeps a deleted row's URL for the account erasure; this
            # file is removed already.
            await conn.execute("DELETE FROM media_orphans WHERE url = $1", url)
            await conn.execute(
                "UPDATE media_usage SET used_bytes = greatest(used_bytes - $2::bigint, 0) "
                "WHERE user_id = $1", owner_id, size)
            return True

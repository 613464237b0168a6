"""PostgreSQL adapter of the moderation store: roles, report cases, suspensions, audit."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

import asyncpg

from ...domain.moderation.entities import (
    Action,
    AuditEntry,
    Case,
    CaseStatus,
    Report,
    Role,
    Suspension,
    Target,
)

# Newest reports first, at most this many shown per case (the count says how many in all).
SHOWN_REPORTS = 20

CASE_SELECT = f"""
    SELECT c.*, (SELECT count(*) FROM reports r WHERE r.case_id = c.id) AS count,
           ARRAY(SELECT ROW(r.reporter_id, r.reason, r.created_at) FROM reports r
                 WHERE r.case_id = c.id ORDER BY r.created_at DESC LIMIT {SHOWN_REPORTS})
               AS reports
    FROM report_cases c"""


def _case(row: asyncpg.Record) -> Case:
    return Case(
        id=row["id"], target=Target.parse(row["target"]), status=CaseStatus(row["status"]),
        count=row["count"],
        reports=tuple(Report(r[0], r[1], r[2]) for r in row["reports"]),
        created_at=row["created_at"], updated_at=row["updated_at"],
        handled_at=row["handled_at"], handled_by=row["handled_by"], outcome=row["outcome"])


def _entry(row: asyncpg.Record) -> AuditEntry:
    return AuditEntry(id=row["id"], actor_id=row["actor_id"], action=Action(row["action"]),
                      target=row["target"], reason=row["reason"], detail=row["detail"],
                      case_id=row["case_id"], created_at=row["created_at"])


class PgModerationStore:
    """`role_changed` is told the user whose role changed (the user cache forgets them)."""

    def __init__(self, pool: asyncpg.Pool,
                 role_changed: Callable[[int], None] = lambda user_id: None) -> None:
        self._pool = pool
        self._role_changed = role_changed

    async def role_of(self, user_id: int) -> Role | None:
        role = await self._pool.fetchval("SELECT role FROM users WHERE id = $1", user_id)
        return Role(role) if role is not None else None

    async def set_role(self, user_id: int, role: Role) -> None:
        await self._pool.execute("UPDATE users SET role = $2, updated_at = now() WHERE id = $1",
                                 user_id, role.value)
        self._role_changed(user_id)

    async def add_report(self, target: Target, reporter_id: int, reason: str,
                         now: datetime) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            # The partial unique index decides races: two first reports open one case.
            case_id = await conn.fetchval(
                """INSERT INTO report_cases AS c (target, kind, created_at, updated_at)
                   VALUES ($1, $2, $3, $3)
                   ON CONFLICT (target) WHERE status = 'open'
                   DO UPDATE SET updated_at = c.updated_at
                   RETURNING id""", target.key, target.kind.value, now)
            added = await conn.fetchval(
                """INSERT INTO reports (case_id, reporter_id, reason, created_at)
                   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1""",
                case_id, reporter_id, reason, now)
            if added:
                await conn.execute("UPDATE report_cases SET updated_at = $2 WHERE id = $1",
                                   case_id, now)
        return case_id

    async def cases(self, status: CaseStatus, before: tuple[datetime, int] | None,
                    limit: int) -> list[Case]:
        if before is None:
            rows = await self._pool.fetch(
                f"{CASE_SELECT} WHERE c.status = $1 ORDER BY c.updated_at DESC, c.id DESC "
                f"LIMIT $2", status.value, limit)
        else:
            rows = await self._pool.fetch(
                f"{CASE_SELECT} WHERE c.status = $1 AND (c.updated_at, c.id) < ($2, $3) "
                f"ORDER BY c.updated_at DESC, c.id DESC LIMIT $4",
                status.value, before[0], before[1], limit)
        return [_case(r) for r in rows]

    async def case(self, case_id: int) -> Case | None:
        row = await self._pool.fetchrow(f"{CASE_SELECT} WHERE c.id = $1", case_id)
        return _case(row) if row else None

    async def close_cases(self, target_key: str | None, case_id: int | None,
                          status: CaseStatus, by: int, outcome: str,
                          now: datetime) -> dict[int, list[int]]:
        rows = await self._pool.fetch(
            """WITH closed AS (
                   UPDATE report_cases SET status = $3, handled_at = $6, handled_by = $4,
                                           outcome = $5
                   WHERE status = 'open' AND (target = $1 OR id = $2)
                   RETURNING id)
               SELECT closed.id, array_agg(r.reporter_id ORDER BY r.created_at) AS reporters
               FROM closed JOIN reports r ON r.case_id = closed.id GROUP BY closed.id""",
            target_key, case_id, status.value, by, outcome, now)
        return {r["id"]: list(r["reporters"]) for r in rows}

    async def suspend(self, user_id: int, until: datetime | None) -> None:
        await self._pool.execute(
            """INSERT INTO suspensions (user_id, until) VALUES ($1, $2)
               ON CONFLICT (user_id) DO UPDATE SET until = EXCLUDED.until, created_at = now()""",
            user_id, until)

    async def restore(self, user_id: int) -> bool:
        return await self._pool.fetchval(
            "DELETE FROM suspensions WHERE user_id = $1 RETURNING true", user_id) is not None

    async def suspension(self, user_id: int, now: datetime) -> Suspension | None:
        row = await self._pool.fetchrow(
            "SELECT user_id, until FROM suspensions WHERE user_id = $1 "
            "AND (until IS NULL OR until > $2)", user_id, now)
        return Suspension(row["user_id"], row["until"]) if row else None

    async def audit(self, actor_id: int, action: Action, target: str, reason: str,
                    detail: str, case_id: int | None, now: datetime) -> AuditEntry:
        row = await self._pool.fetchrow(
            """INSERT INTO moderation_audit (actor_id, action, target, reason, detail, case_id,
                                             created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *""",
            actor_id, action.value, target, reason, detail, case_id, now)
        return _entry(row)

    async def audit_log(self, before_id: int | None, limit: int) -> list[AuditEntry]:
        rows = await self._pool.fetch(
            "SELECT * FROM moderation_audit WHERE ($1::bigint IS NULL OR id < $1) "
            "ORDER BY id DESC LIMIT $2", before_id, limit)
        return [_entry(r) for r in rows]

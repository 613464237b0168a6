"""The PostgreSQL pool and the schema migrator (versioned steps from schema.sql)."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from ..schema_timeout import SCHEMA_TIMEOUT

log = logging.getLogger("nirvana.storage")

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "schema.sql"
_STEP_RE = re.compile(r"^-- migration: (\d{4}) (\S.*)$", re.MULTILINE)
# Any constant: the advisory lock that serialises migrations across starting processes.
_MIGRATION_LOCK = 7_220_001


@dataclass(frozen=True)
class Step:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.strip().encode()).hexdigest()


def parse_steps(text: str) -> list[Step]:
    matches = list(_STEP_RE.finditer(text))
    steps = []
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        steps.append(Step(int(match.group(1)), match.group(2).strip(), text[match.end() : end]))
    versions = [s.version for s in steps]
    if versions != sorted(set(versions)):
        raise ValueError("schema.sql: migration numbers must be unique and increasing")
    return steps


async def create_pool(url: str, *, timeout: float, min_size: int = 2, max_size: int = 10):
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        command_timeout=timeout,
        timeout=timeout,
        # Statement cache stays on: our queries are fixed strings.
    )


async def migrate(pool: asyncpg.Pool, schema_path: Path = SCHEMA_PATH) -> list[int]:
    """Apply the steps of schema.sql not yet applied; return the versions applied now.

    Each step, and the wait for another process applying steps, runs under SCHEMA_TIMEOUT,
    not the pool's store_timeout: an index built on a big table takes longer, and a step cut
    off rolls back, so every start would fail the same way. Everything else keeps it."""
    steps = parse_steps(schema_path.read_text())
    applied_now: list[int] = []
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _MIGRATION_LOCK):
            log.info("waiting for another process to apply schema steps")
            await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK,
                               timeout=SCHEMA_TIMEOUT)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version    integer PRIMARY KEY,
                       name       text NOT NULL,
                       checksum   text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {
                r["version"]: r["checksum"]
                for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")
            }
            for step in steps:
                if step.version in done:
                    if done[step.version] != step.checksum:
                        log.warning(
                            "schema.sql step %04d (%s) changed after it was applied; "
                            "add a new step instead of editing a released one",
                            step.version,
                            step.name,
                        )
                    continue
                # On an upgrade a step may build an index for minutes: say which one runs and
                # when it is done. A new database's steps are quick: one line says it is made.
                upgrade = logging.INFO if done else logging.DEBUG
                log.log(upgrade, "applying schema step %04d %s", step.version, step.name)
                async with conn.transaction():
                    await conn.execute(step.sql, timeout=SCHEMA_TIMEOUT)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES ($1, $2, $3)",
                        step.version,
                        step.name,
                        step.checksum,
                    )
                log.log(upgrade, "applied schema step %04d %s", step.version, step.name)
                applied_now.append(step.version)
            if applied_now and not done:
                log.info("created the schema of a new database (steps 0001-%04d)",
                         applied_now[-1])
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now

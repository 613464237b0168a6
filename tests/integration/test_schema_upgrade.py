"""A database made by an earlier release is upgraded at start: only the new steps of
schema.sql run, one process at a time (the advisory lock), its data stays, and a released
step edited afterwards is reported rather than re-run."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from nirvana.domain.sniffing import CONTENT_TYPES
from nirvana.domain.upload_names import clean_original_name
from nirvana.domain.uploads import Upload
from nirvana.storage.postgres.pool import SCHEMA_PATH, create_pool, migrate, parse_steps
from nirvana.storage.postgres.uploads import PgUploadLedger
from tests.support.waiting import wait_until

MIGRATION_LOCK = 7_220_001  # the key nirvana/storage/postgres/pool.py locks
# schema.sql as released at commit 9afaf55, before the blogs (0003) and social (0004) steps.
OLD_SCHEMA = Path(__file__).parent / "data" / "schema_9afaf55.sql"


@pytest.fixture
async def empty_database(server_urls):
    """The URL of an empty database of its own."""
    admin_url = server_urls[0]
    name = f"upgrade_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def old_database(empty_database):
    """A database of its own, built by the older schema.sql, holding one user."""
    pool = await create_pool(empty_database, timeout=30, min_size=1, max_size=3)
    try:
        assert await migrate(pool, OLD_SCHEMA) == [1, 2]
        await pool.execute("INSERT INTO users (email, username, name) "
                           "VALUES ('old@example.com', 'old_user', 'Old')")
        yield pool
    finally:
        await pool.close()


async def _versions(pool) -> list[int]:
    return [r["version"] for r in
            await pool.fetch("SELECT version FROM schema_migrations ORDER BY version")]


def _later_steps() -> list[int]:
    """Every step after the two the old release had, whatever steps later work appends."""
    return [s.version for s in parse_steps(SCHEMA_PATH.read_text()) if s.version > 2]


async def test_an_older_database_gets_only_the_new_steps_and_keeps_its_data(old_database):
    pool = old_database
    later = _later_steps()
    assert later[:2] == [3, 4]
    assert await migrate(pool) == later
    assert await _versions(pool) == [1, 2, *later]
    assert await pool.fetchval("SELECT name FROM users WHERE email = 'old@example.com'") == "Old"
    assert await pool.fetchval("SELECT count(*) FROM blogs") == 0  # step 0003 ran
    assert await migrate(pool) == []  # and a second start has nothing to do


async def test_a_new_database_says_it_is_made_in_one_line_an_upgrade_names_each_step(
        empty_database, caplog):
    """What a first start prints is one line, not a line per step; an upgrade, whose step
    may build an index for minutes, names each step before and after it."""
    pool = await create_pool(empty_database, timeout=30, min_size=1, max_size=3)
    try:
        with caplog.at_level(logging.INFO, logger="nirvana.storage"):
            await migrate(pool, OLD_SCHEMA)
        made = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
        assert made == ["created the schema of a new database (steps 0001-0002)"]
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="nirvana.storage"):
            applied = await migrate(pool)
        said = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
        assert said[:2] == [f"applying schema step {applied[0]:04d} blogs",
                            f"applied schema step {applied[0]:04d} blogs"]
        assert len(said) == 2 * len(applied)
    finally:
        await pool.close()


async def test_a_start_waits_for_another_process_migrating(old_database):
    pool = old_database
    other = await pool.acquire()  # another process, in the middle of its own migration
    await other.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    upgrade = asyncio.create_task(migrate(pool))

    async def queued() -> bool:
        return upgrade.done() or await other.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ) > 0

    await wait_until(queued, "the start to queue on the migration lock")
    assert not upgrade.done()
    assert await other.fetchval("SELECT count(*) FROM schema_migrations") == 2  # none yet
    await other.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    await pool.release(other)
    assert await asyncio.wait_for(upgrade, 30) == _later_steps()


async def test_a_step_longer_than_store_timeout_is_applied_not_cut_off(empty_database,
                                                                       tmp_path):
    # As an index built on a big table: the pool's timeout (store_timeout) cut the step off,
    # it rolled back unrecorded, and every start failed the same way.
    schema = tmp_path / "schema.sql"
    schema.write_text("-- migration: 0001 a long build\n"
                      "CREATE TABLE built (id integer);\n"
                      "SELECT pg_sleep(1.5);\n")
    pool = await create_pool(empty_database, timeout=0.5, min_size=1, max_size=1)
    try:
        assert await migrate(pool, schema) == [1]
        assert await _versions(pool) == [1]
        assert await pool.fetchval("SELECT to_regclass('built') IS NOT NULL")
        # Everything else keeps the pool's timeout.
        with pytest.raises(asyncio.TimeoutError):
            await pool.execute("SELECT pg_sleep(1.5)")
    finally:
        await pool.close()


async def test_a_start_waits_past_store_timeout_for_another_process_migrating(empty_database,
                                                                              tmp_path):
    schema = tmp_path / "schema.sql"
    schema.write_text("-- migration: 0001 one\nCREATE TABLE built (id integer);\n")
    other = await asyncpg.connect(empty_database)  # another process, applying its steps
    await other.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    pool = await create_pool(empty_database, timeout=0.5, min_size=1, max_size=1)
    try:
        upgrade = asyncio.create_task(migrate(pool, schema))
        # Still waiting, not failed, at three times the pool's timeout.
        ended, _ = await asyncio.wait({upgrade}, timeout=1.5)
        assert not ended, upgrade.exception()
        await other.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        assert await asyncio.wait_for(upgrade, 30) == [1]
    finally:
        await other.close()
        await pool.close()


async def test_a_released_step_edited_afterwards_is_reported_not_rerun(old_database, tmp_path,
                                                                        caplog):
    edited = tmp_path / "schema.sql"
    edited.write_text(SCHEMA_PATH.read_text().replace(
        "-- migration: 0002 social graph\n",
        "-- migration: 0002 social graph\n-- an edit after release\n", 1))
    with caplog.at_level(logging.WARNING, logger="nirvana.storage"):
        assert await migrate(old_database, edited) == _later_steps()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["schema.sql step 0002 (social graph) changed after it was applied; "
                        "add a new step instead of editing a released one"]


def _steps_before(name: str) -> str:
    """schema.sql as a release had it just before the step called `name` (by name: steps
    are numbered when they are merged)."""
    text = SCHEMA_PATH.read_text()
    return text[:re.search(rf"^-- migration: \d+ {name}$", text, re.M).start()]


async def test_likes_and_tags_from_before_the_reactions_step_are_carried_over(old_database, tmp_path):
    pool = old_database
    before = tmp_path / "schema.sql"
    before.write_text(_steps_before("reactions"))
    await migrate(pool, before)
    users = [await pool.fetchval(
        "INSERT INTO users (email, username, name) VALUES ($1, $2, 'U') RETURNING id",
        f"u{i}@example.com", f"user_{i}") for i in range(3)]
    blog = await pool.fetchval(
        "INSERT INTO blogs (author_id, title, body, status, published_at, tags) "
        "VALUES ($1, 'Liked', 'b', 'published', now(), '{old,tags}') RETURNING id", users[0])
    await pool.execute("INSERT INTO blog_likes (blog_id, user_id) SELECT $1, unnest($2::bigint[])",
                       blog, users[1:])
    assert await pool.fetchval("SELECT likes_count FROM blogs WHERE id = $1", blog) == 2

    done = {s.version for s in parse_steps(before.read_text())}
    assert await migrate(pool) == [s.version for s in parse_steps(SCHEMA_PATH.read_text())
                                   if s.version not in done]
    rows = await pool.fetch("SELECT user_id, kind FROM blog_reactions WHERE blog_id = $1 "
                            "ORDER BY user_id", blog)
    assert [(r["user_id"], r["kind"]) for r in rows] == [(users[1], "like"), (users[2], "like")]
    counts = "SELECT likes_count, love_count FROM blogs WHERE id = $1"
    assert tuple(await pool.fetchrow(counts, blog)) == (2, 0)
    # The counts keep following the rows after the upgrade: a like turned into a love.
    await pool.execute("UPDATE blog_reactions SET kind = 'love' WHERE user_id = $1", users[1])
    assert tuple(await pool.fetchrow(counts, blog)) == (1, 1)
    await pool.execute("DELETE FROM users WHERE id = $1", users[1])  # a cascade
    assert tuple(await pool.fetchrow(counts, blog)) == (1, 0)
    # The tags of blogs written before are counted by the upgrade.
    rows = await pool.fetch("SELECT tag, n FROM tag_counts ORDER BY tag")
    assert [tuple(r) for r in rows] == [("old", 1), ("tags", 1)]


async def test_a_sign_in_from_before_the_sessions_step_gets_its_session_row(old_database, tmp_path):
    # A refresh rotates only through its session's row (it locks it first): an open family
    # signed in before the accounts lifecycle step gets one, a used or revoked family not.
    pool = old_database
    before = tmp_path / "schema.sql"
    before.write_text(_steps_before("a session row for every open refresh family"))
    await migrate(pool, before)
    user = await pool.fetchval("SELECT id FROM users WHERE username = 'old_user'")
    families = {name: await pool.fetchval("SELECT gen_random_uuid()") for name in
                ("open", "used", "revoked", "has_row")}
    for name, family in families.items():
        await pool.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at, used_at, "
            "revoked_at) VALUES ($1, $2, $3, now() + interval '1 day', "
            "CASE WHEN $4 = 'used' THEN now() END, CASE WHEN $4 = 'revoked' THEN now() END)",
            secrets.token_bytes(32), family, user, name)
    await pool.execute("INSERT INTO sessions (id, user_id, device) VALUES ($1, $2, 'Kept')",
                       families["has_row"], user)

    await migrate(pool)
    rows = {r["id"]: r["device"] for r in await pool.fetch("SELECT id, device FROM sessions")}
    assert rows == {families["open"]: "", families["has_row"]: "Kept"}


async def test_an_upload_from_before_the_names_step_is_listed_without_a_name(old_database,
                                                                             tmp_path):
    pool = old_database
    before = tmp_path / "schema.sql"
    before.write_text(_steps_before("the original names of uploads"))
    await migrate(pool, before)
    user = await pool.fetchval("SELECT id FROM users WHERE username = 'old_user'")
    await pool.execute("INSERT INTO media_uploads (url, owner_id, kind, mime, size) "
                       "VALUES ('/media/old.pdf', $1, 'file', 'application/pdf', 3)", user)

    await migrate(pool)
    ledger = PgUploadLedger(pool)
    assert await ledger.reserve(user, 3, 100, "/media/new.pdf")
    await ledger.record(Upload("/media/new.pdf", user, CONTENT_TYPES["pdf"], 3, "notes.pdf"),
                        "/media/new.pdf")
    listed = {u.url: u.original_name for u in await ledger.page(user, None, 10)}
    assert listed == {"/media/old.pdf": None, "/media/new.pdf": "notes.pdf"}


async def test_the_uploads_under_way_step_recounts_usage_from_the_rows(old_database, tmp_path):
    """Bytes a crash left counted (reserved, no row) before pending rows existed are no longer
    counted after the step; a count short of the rows (a lost insert's answer) is made whole."""
    pool = old_database
    before = tmp_path / "schema.sql"
    before.write_text(_steps_before("uploads under way"))
    await migrate(pool, before)
    leaked = await pool.fetchval("SELECT id FROM users WHERE username = 'old_user'")
    short = await pool.fetchval("INSERT INTO users (email, username, name) "
                                "VALUES ('s@example.com', 'short', 'S') RETURNING id")
    await pool.executemany("INSERT INTO media_uploads (url, owner_id, kind, mime, size) "
                           "VALUES ($1, $2, 'file', 'application/pdf', $3)",
                           [("/media/a.pdf", leaked, 3), ("/media/b.pdf", leaked, 4),
                            ("/media/c.pdf", short, 5)])
    await pool.executemany("INSERT INTO media_usage (user_id, used_bytes) VALUES ($1, $2)",
                           [(leaked, 7 + 4_194_304), (short, 0)])

    await migrate(pool)
    usage = dict(await pool.fetch("SELECT user_id, used_bytes FROM media_usage"))
    assert usage == {leaked: 7, short: 5}


async def test_a_long_non_ascii_name_is_kept_on_a_sql_ascii_database(server_urls):
    """The 200-character bound of an original name is the domain's (upload_names.py), not a
    CHECK: char_length counts bytes on a SQL_ASCII database, which DATABASE_URL may name, so
    a 200-character name of "é" and emoji would not be stored there."""
    admin_url = server_urls[0]
    name = f"ascii_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' "
                        "LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    try:
        pool = await create_pool(urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}")),
                                 timeout=30, min_size=1, max_size=2)
        try:
            await migrate(pool)
            user = await pool.fetchval("INSERT INTO users (email, username, name) "
                                       "VALUES ('a@example.com', 'ann', 'Ann') RETURNING id")
            ledger = PgUploadLedger(pool)
            kept = clean_original_name("\u00e9" * 150 + "\U0001f600" * 100 + ".pdf")
            assert await ledger.reserve(user, 3, 100, "/media/a.pdf")
            await ledger.record(Upload("/media/a.pdf", user, CONTENT_TYPES["pdf"], 3, kept),
                                "/media/a.pdf")
            assert [u.original_name for u in await ledger.page(user, None, 10)] == [kept]
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()

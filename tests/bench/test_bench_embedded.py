"""The in-process benchmarks' throwaway stores (bench/embedded.py): real servers that answer
while the block runs and leave no process and no directory behind, also when it fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from pymongo import MongoClient

from bench.embedded import mongo_pid, throwaway_stores
from tests.support.waiting import wait_until_blocking


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # a zombie runs nothing; its parent reaps it


def _postmaster(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


async def _postgres_answers(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


def test_both_stores_answer_in_the_block_and_nothing_is_left_after_it():
    with throwaway_stores("bench-embedded-test-", postgres=True) as stores:
        root, pid = stores.root, stores.mongo_pid
        assert root.is_dir() and root.name.startswith("bench-embedded-test-")
        assert mongo_pid(root) == pid and not _gone(pid)
        # The pid is the store's own process, the one whose CPU the benches read.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert "secantusd" in cmdline and str(root / "mongo") in cmdline
        with MongoClient(stores.mongodb_url, serverSelectionTimeoutMS=5000) as client:
            assert client.admin.command("ping")["ok"] == 1
        assert stores.database_url is not None
        assert asyncio.run(_postgres_answers(stores.database_url)) == 1
        postmaster = _postmaster(root / "postgres")
    assert not root.exists()
    assert _gone(pid)
    # pg_ctl detached the postmaster: it is not our child, so give init a moment to reap it.
    wait_until_blocking(lambda: _gone(postmaster), "the postmaster to be gone")


def test_a_failing_block_still_stops_the_store_and_removes_its_directory():
    with pytest.raises(RuntimeError, match="the bench failed"):
        with throwaway_stores("bench-embedded-test-") as stores:
            root, pid = stores.root, stores.mongo_pid
            assert stores.database_url is None  # no PostgreSQL unless asked for
            raise RuntimeError("the bench failed")
    assert not root.exists()
    assert _gone(pid)
    assert mongo_pid(root) is None

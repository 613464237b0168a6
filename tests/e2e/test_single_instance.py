"""Two run.py processes on the same external databases: without REDIS_URL the second one
refuses in one line, and a first one that stopped or crashed does not keep it out."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import httpx
import pytest

from tests.support.instances import shared_databases  # noqa: F401 (fixture)
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)
from tests.support.running import ROOT, Running, run_env


def _second_start(tmp_path, env) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "run.py"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=run_env(tmp_path / "second", **env))
    return proc.returncode, proc.stderr.strip()


@pytest.mark.slow
async def test_a_second_process_refuses_until_the_first_stops(tmp_path, shared_databases):
    first = await asyncio.to_thread(Running, tmp_path / "first", env=shared_databases)
    try:
        code, err = await asyncio.to_thread(_second_start, tmp_path, shared_databases)
        assert code != 0
        assert err.startswith("nirvana: error: another Nirvana") and "\n" not in err
        assert first.url in err and "REDIS_URL" in err
        async with httpx.AsyncClient() as http:  # the first one serves on, untouched
            assert (await http.get(f"{first.url}/ready")).status_code == 200
    finally:
        code, _, err = await asyncio.to_thread(first.stop, signal.SIGTERM)
    assert code == 0, err
    # Stopped gracefully, it gave the lease back: the next one starts at once.
    second = await asyncio.to_thread(Running, tmp_path / "second", env=shared_databases)
    await asyncio.to_thread(second.stop, signal.SIGTERM)


@pytest.mark.slow
async def test_a_killed_process_does_not_keep_the_next_one_out(tmp_path, shared_databases):
    first = await asyncio.to_thread(Running, tmp_path / "first", env=shared_databases)
    first.proc.kill()  # kill -9: no release; its pid is gone on this machine
    await asyncio.to_thread(first.proc.communicate)
    second = await asyncio.to_thread(Running, tmp_path / "second", env=shared_databases)
    code, _, err = await asyncio.to_thread(second.stop, signal.SIGTERM)
    assert code == 0, err


@pytest.mark.slow
async def test_processes_with_and_without_redis_url_never_run_side_by_side(
        tmp_path, shared_databases, redis_server):  # noqa: F811
    with_redis = {**shared_databases, "REDIS_URL": redis_server.url, "JWT_SECRET": "j" * 48}
    alone = await asyncio.to_thread(Running, tmp_path / "alone", env=shared_databases)
    try:
        code, err = await asyncio.to_thread(_second_start, tmp_path, with_redis)
        assert code != 0 and "\n" not in err
        assert "without REDIS_URL" in err and alone.url in err
    finally:
        await asyncio.to_thread(alone.stop, signal.SIGTERM)

    clustered = await asyncio.to_thread(Running, tmp_path / "clustered", env=with_redis)
    try:
        code, err = await asyncio.to_thread(_second_start, tmp_path, shared_databases)
        assert code != 0 and "\n" not in err
        assert "instances with REDIS_URL" in err and clustered.url in err
    finally:
        await asyncio.to_thread(clustered.stop, signal.SIGTERM)

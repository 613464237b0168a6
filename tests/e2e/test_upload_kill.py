"""run.py killed -9 in the middle of an upload (its reservation committed and its file written,
its row not yet inserted): the restarted server gives the bytes back at its start (it holds
the 'instance' lease: the process that reserved is gone), and once the sweep has run (an
hour on) nothing is left counted nor on disk, and the usage it shows is the sum of the
uploads it lists."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from nirvana.domain.upload_sweep import GONE_EVERY, GONE_GRACE
from nirvana.storage.postgres.pool import create_pool
from tests.support.http import bearer
from tests.support.instances import instances, shared_databases  # noqa: F401 (fixtures)
from tests.support.media_files import pdf
from tests.support.people import user
from tests.support.pg_races import waiting_on_locks
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)
from tests.support.running import Running


async def post(http: httpx.AsyncClient, who: dict, data: bytes, name: str) -> httpx.Response:
    return await http.post("/api/v1/media/upload", headers=bearer(who),
                           files={"file": (name, data, "application/octet-stream")})


async def wait_until_async(read, value, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while (now := await read()) != value:
        assert asyncio.get_running_loop().time() < deadline, f"still {now}, not {value}"
        await asyncio.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("statement_ended", [True, False])
async def test_an_upload_cut_off_by_kill_9_is_swept(shared_databases, tmp_path,  # noqa: F811
                                                     statement_ended):
    data = tmp_path / "var"
    media = data / "media"
    pool = await create_pool(shared_databases["DATABASE_URL"], timeout=30, min_size=1,
                             max_size=3)
    server = await asyncio.to_thread(Running, data, (), shared_databases)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            ann = await user(http)
            kept = await post(http, ann, pdf(), "kept.pdf")
            assert kept.status_code == 201, kept.text
            cut = b"%PDF-1.7\n" + b"x" * 200_000
            async with pool.acquire() as holder, holder.transaction():
                # The insert of the upload's row waits behind this lock; its reservation
                # (media_usage, media_pending) and its file do not.
                await holder.execute("LOCK TABLE media_uploads IN SHARE MODE")
                sending = asyncio.create_task(post(http, ann, cut, "cut.pdf"))
                await waiting_on_locks(pool, sending, holder.get_server_pid())
                server.proc.kill()
                await asyncio.to_thread(server.proc.communicate)
                # Its backend ends the statement once it finds its client gone (at its next
                # write, or sooner with client_connection_check_interval): ended here before
                # the lock goes, or left to run on and store the upload, as an insert whose
                # answer was lost.
                if statement_ended:
                    await holder.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE $1 = ANY(pg_blocking_pids(pid))", holder.get_server_pid())
            with pytest.raises(httpx.TransportError):
                await sending
        # What the kill left: the bytes counted, the file in no row (or in the row that
        # came after).
        await wait_until_async(lambda: pool.fetchval("SELECT count(*) FROM media_pending"),
                               1 if statement_ended else 0)
        assert await pool.fetchval("SELECT used_bytes FROM media_usage WHERE user_id = $1",
                                   ann["id"]) == len(pdf()) + len(cut)
        assert len(list(media.iterdir())) == 2

        # The restarted server holds the 'instance' lease, so the process that reserved is
        # gone: the bytes come back at its start, the file stays named, of no bytes.
        server = await asyncio.to_thread(Running, data, (), shared_databases)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            async def used() -> int:
                shown = await http.get("/api/v1/media/usage", headers=bearer(ann))
                return shown.json()["used_bytes"]
            await wait_until_async(used, len(pdf()) + (0 if statement_ended else len(cut)))
        assert await pool.fetchval("SELECT array_agg(size) FROM media_pending") == (
            [0] if statement_ended else None)
        assert len(list(media.iterdir())) == 2
        await asyncio.to_thread(server.stop)

        # An hour later, as far as the sweep can tell: the next start's sweep removes it.
        await pool.execute("UPDATE media_pending SET reserved_at = now() - interval '2 hours'")
        server = await asyncio.to_thread(Running, data, (), shared_databases)
        await wait_until_async(lambda: pool.fetchval("SELECT count(*) FROM media_pending"), 0)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            listed = (await http.get("/api/v1/media", headers=bearer(ann))).json()["items"]
            shown = (await http.get("/api/v1/media/usage", headers=bearer(ann))).json()
        assert kept.json()["name"] in [i["name"] for i in listed]
        assert len(listed) == (1 if statement_ended else 2)
        assert (shown["used_bytes"], shown["files"]) == (sum(i["size"] for i in listed),
                                                         len(listed))
        assert sorted(p.name for p in media.iterdir()) == sorted(i["name"] for i in listed)
    finally:
        if server.proc.poll() is None:
            await asyncio.to_thread(server.stop)
        await pool.close()


@pytest.mark.slow
async def test_on_redis_an_instance_killed_mid_upload_has_its_bytes_given_back_by_another(
        instances, shared_databases):  # noqa: F811
    pool = await create_pool(shared_databases["DATABASE_URL"], timeout=30, min_size=1,
                             max_size=3)
    try:
        survivor, killed = await instances.start(2)
        on_survivor, on_killed = instances.http(survivor), instances.http(killed)
        ann = await user(on_survivor)
        kept = await post(on_survivor, ann, pdf(), "kept.pdf")
        assert kept.status_code == 201, kept.text
        async with pool.acquire() as holder, holder.transaction():
            await holder.execute("LOCK TABLE media_uploads IN SHARE MODE")
            sending = asyncio.create_task(post(on_killed, ann, pdf(), "cut.pdf"))
            await waiting_on_locks(pool, sending, holder.get_server_pid())
            killed.proc.kill()
            await asyncio.to_thread(killed.proc.communicate)
            await holder.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE $1 = ANY(pg_blocking_pids(pid))", holder.get_server_pid())
        with pytest.raises(httpx.TransportError):
            await sending
        assert await pool.fetchval("SELECT reserved_by IS NOT NULL FROM media_pending")

        async def used() -> int:
            shown = await on_survivor.get("/api/v1/media/usage", headers=bearer(ann))
            return shown.json()["used_bytes"]
        assert await used() == 2 * len(pdf())
        # Its live key lapses (2.5 heartbeats), then stays missing for GONE_GRACE, seen by
        # passes GONE_EVERY apart; the survivor runs on, and the file stays named.
        await wait_until_async(used, len(pdf()), seconds=GONE_GRACE + 3 * GONE_EVERY)
        assert await pool.fetchval("SELECT array_agg(size) FROM media_pending") == [0]
    finally:
        await pool.close()

"""Redis is not the store of record: while it is down each instance serves its own sockets
and HTTP; when it is back every socket closes with 1001 and its client resumes what it
missed from the stores."""

from __future__ import annotations

import asyncio
import signal
from typing import IO

import httpx
import pytest
import websockets

from nirvana.ws.close_codes import WRITER_UNREACHABLE_REASON
from nirvana.ws.cluster import RESTORED_REASON
from tests.support.chat_client import Client
from tests.support.http import bearer
from tests.support.instances import instances, shared_databases  # noqa: F401 (fixtures)
from tests.support.instances import ws_url
from tests.support.people import user
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


async def closed_with(client: Client) -> websockets.frames.Close:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            client.backlog.append(await client.recv(timeout=20))
    assert closed.value.rcvd is not None
    return closed.value.rcvd


async def test_redis_down_then_back(instances, redis_server):  # noqa: F811
    first, second = await instances.start(2)
    async with (httpx.AsyncClient(base_url=first.url) as on_first,
                httpx.AsyncClient(base_url=second.url) as on_second):
        a, b, c = await user(on_first), await user(on_first), await user(on_second)
        for other in (b, c):
            r = await on_first.post(f"/api/v1/friends/requests/{other['id']}", headers=bearer(a))
            assert r.status_code in (200, 201), r.text
            r = await on_first.post(f"/api/v1/friends/requests/{a['id']}/accept",
                                    headers=bearer(other))
            assert r.status_code in (200, 201, 204), r.text
        ca = await Client.connect(ws_url(first), a)
        cb = await Client.connect(ws_url(first), b)  # on the same instance as a
        cc = await Client.connect(ws_url(second), c)  # on the other one
        with_b = await ca.open_direct(b)
        with_c = await ca.open_direct(c)
        sent = await ca.command("send", conversation_id=with_c, client_id="before", text="x")
        assert sent["type"] == "ack"
        seen_by_c = (await cc.expect("newMessage"))["pos"]

        redis_server.stop()
        # Each instance serves its own: a and b chat on the first; HTTP answers on both.
        await ca.command("send", conversation_id=with_b, client_id="down1", text="still here")
        assert (await cb.expect("newMessage"))["message"]["text"] == "still here"
        missed = await ca.command("send", conversation_id=with_c, client_id="down2",
                                  text="while Redis was down")
        assert missed["type"] == "ack"  # stored; its frame cannot cross to c's instance
        assert (await on_second.get("/api/v1/user/me", headers=bearer(c))).status_code == 200
        # A new socket on the instance that is not the writer is refused with the exact
        # reason clients key on to retry at their normal pace (docs/protocol.md, Close codes).
        async with websockets.connect(f"{ws_url(second)}?token={c['jwt']}") as refused:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(refused.recv(), 20)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            1013, WRITER_UNREACHABLE_REASON)

        redis_server.start()
        # Back: every socket on both instances closes with 1001, so that clients resume.
        for client in (ca, cb, cc):
            close = await closed_with(client)
            assert (close.code, close.reason) == (1001, RESTORED_REASON)
        assert not [f for f in cc.backlog if f["type"] == "newMessage"
                    and f["message"]["text"] == "while Redis was down"]

        # Resumed (on its own instance, which is not the writer's), c gets what did not cross.
        resumed = await Client.connect(ws_url(second), c, since=seen_by_c)
        again = await resumed.expect("newMessage")
        assert again["message"]["text"] == "while Redis was down"
        await resumed.expect("resumed")
        # And live frames cross again.
        cc = await Client.connect(ws_url(second), c)
        ca = await Client.connect(ws_url(first), a)
        await ca.command("send", conversation_id=with_c, client_id="after", text="back")
        assert (await cc.expect("newMessage"))["message"]["text"] == "back"
        await ca.close(), await cc.close(), await resumed.close()


def _lines_until(stream: IO[str], text: str) -> list[str]:
    lines = []
    for line in stream:
        lines.append(line)
        if text in line:
            break
    return lines


async def test_an_instance_started_without_redis_logs_it_joined_once_redis_answers(
        instances, redis_server):  # noqa: F811
    redis_server.stop()
    [run] = await instances.start(1, LOG_LEVEL="INFO")
    redis_server.start()
    try:
        # Until EOF if it never comes: the stop below ends the stream.
        logged = await asyncio.wait_for(
            asyncio.to_thread(_lines_until, run.proc.stderr, "Redis is back"), 30)
    finally:
        _, _, rest = await asyncio.to_thread(run.stop, signal.SIGTERM)
    logged += rest.splitlines()

    def first(text: str) -> int:
        return next(i for i, line in enumerate(logged) if text in line)
    assert first("running degraded") < first("Redis is back") < first(
        "joined the instances on Redis"), logged
    assert sum("joined the instances" in line for line in logged) == 1, logged

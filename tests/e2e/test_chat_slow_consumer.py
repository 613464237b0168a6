"""A client that stops reading: what the server keeps for it is bounded in bytes, per socket
and per user; the socket is closed 4008, and the client sees that close when it reads again."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import weakref

import pytest
import websockets

from nirvana.ws.protocol import Limits
from tests.support.chat_client import Client
from tests.support.people import befriend, user
from tests.support.waiting import wait_until

SOCKET_BYTES = 1 << 20
USER_BYTES = 3 << 19  # 1.5 MiB: two sockets of one user cannot both reach SOCKET_BYTES


@pytest.fixture
def ws_limits():
    # The documented command rate; only the byte bounds are made small enough to reach fast.
    return Limits(outgoing_queue_bytes=SOCKET_BYTES, user_queue_bytes=USER_BYTES)


@pytest.fixture
def server_sndbuf():
    return 8192


def sockets_of(live, user_id: int) -> list:
    return [c for c in live.services.hub.connections() if c.user_id == user_id]


async def stalled_socket(live, jwt: str):
    """A client that reads nothing: tiny kernel buffer, one frame in its library's queue."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(live.base.rsplit(":", 1)[1])))
    return await websockets.connect(f"{live.ws}?token={jwt}", sock=sock, max_queue=1,
                                    max_size=None, ping_interval=None)


class QueueWatch:
    """Samples the hub's public queue figures while the test runs (same event loop)."""

    def __init__(self, hub, user_id: int) -> None:
        self.hub, self.user_id = hub, user_id
        self.max_socket = self.max_user = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            mine = [c.queued_bytes for c in self.hub.connections() if c.user_id == self.user_id]
            self.max_socket = max([self.max_socket, *mine])
            self.max_user = max(self.max_user, sum(mine))
            await asyncio.sleep(0.002)

    def stop(self) -> None:
        self._task.cancel()


async def big_conversation(live, count: int = 40):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca = await Client.connect(live.ws, a)
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    for i in range(count):
        ack = await ca.command("send", conversation_id=cid, client_id=f"m{i}", text="y" * 4000)
        assert ack["type"] == "ack", ack
    return a, b, ca, cid


async def flood_history(ws, cid: str, count: int) -> None:
    """`history` pages at the documented rate (20/s, bursts of 40), never reading."""
    for i in range(count):
        try:
            await ws.send(json.dumps({"type": "history", "id": f"h{i}",
                                      "conversation_id": cid, "limit": 100}))
        except websockets.ConnectionClosed:
            return
        await asyncio.sleep(0.05 if i >= 35 else 0)


async def close_code_after_reading(ws, quiet: float = 5) -> int | str | None:
    """Read what the server sent: its close code, or "open" after `quiet` s of silence."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), quiet)
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    except TimeoutError:
        return "open"


async def test_a_client_that_asks_for_history_and_never_reads_is_bounded_and_closed_4008(live):
    a, b, ca, cid = await big_conversation(live)
    watch = QueueWatch(live.services.hub, b["id"])
    slow = await stalled_socket(live, b["jwt"])
    (conn,) = sockets_of(live, b["id"])
    gone = weakref.ref(conn)
    del conn
    await flood_history(slow, cid, 60)  # ~170 KB a page: 60 pages are ~10 MB
    await wait_until(lambda: not sockets_of(live, b["id"]), "the stalled socket to be dropped",
                     timeout=30)
    watch.stop()
    # The close was written at once (no 1011 from the keepalive): reading again shows it.
    assert await close_code_after_reading(slow) == 4008
    assert 0 < watch.max_socket <= SOCKET_BYTES
    # The socket's frames went with it: nothing queued, nothing keeps its connection alive.
    assert live.services.hub.queued_bytes() == 0
    gc.collect()
    assert gone() is None
    await ca.close()


async def test_one_users_stalled_sockets_share_one_byte_bound(live):
    a, b, ca, cid = await big_conversation(live)
    watch = QueueWatch(live.services.hub, b["id"])
    first, second = await stalled_socket(live, b["jwt"]), await stalled_socket(live, b["jwt"])
    await asyncio.gather(flood_history(first, cid, 7), flood_history(second, cid, 7))
    await wait_until(lambda: len(sockets_of(live, b["id"])) < 2,
                     "one of the stalled sockets to be dropped", timeout=30)
    watch.stop()
    # Each socket alone stays under its bound (5 pages queued ≈ 0.85 MB); together they would pass
    # the user's, so the one furthest behind was closed.
    assert watch.max_user <= USER_BYTES
    codes = await asyncio.gather(close_code_after_reading(first, 1),
                                 close_code_after_reading(second, 1))
    assert sorted(codes, key=str) == [4008, "open"]
    assert live.services.hub.queued_bytes() == 0
    await ca.close()

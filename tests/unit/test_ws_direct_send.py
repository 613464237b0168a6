"""Connection.push with a direct writer (ws/transport.py): frames go out at once when
nothing is queued and the socket takes them, and never overtake what is queued."""

from __future__ import annotations

from nirvana.ws import protocol as p
from nirvana.ws.hub import Connection


class Socket:
    """What DirectSendProtocol.send_now does, observable: takes frames while writable."""

    def __init__(self) -> None:
        self.wire: list[str] = []
        self.writable = True

    def send_now(self, text: str) -> bool:
        if not self.writable:
            return False
        self.wire.append(text)
        return True


async def drain(conn: Connection, wire: list[str]) -> None:
    """The sender task's part: what was queued, in order."""
    while conn._queue:
        wire.append(await conn.next())


async def test_an_idle_socket_gets_frames_directly_and_nothing_overtakes_the_queue():
    sock, conn = Socket(), Connection(1, "s", max_queue=10)
    conn.push_first("hello")  # queued before the direct writer is set, as the endpoint does
    conn.direct = sock.send_now
    conn.push("a", pos=1)
    assert sock.wire == []  # hello is still queued: "a" waits behind it
    await drain(conn, sock.wire)
    conn.push("b", pos=2)
    assert sock.wire == ["hello", "a", "b"]  # "b" went out directly, the queue was empty


async def test_a_slow_reader_is_queued_then_closed_as_a_slow_consumer():
    sock, conn = Socket(), Connection(1, "s", max_queue=4)
    conn.direct = sock.send_now
    conn.push("a")
    sock.writable = False  # the transport paused writing: the peer is not reading
    for frame in ("b", "c", "d"):
        conn.push(frame)
    sock.writable = True
    conn.push("e")  # writable again, but "b".."d" are queued: "e" must wait behind them
    assert sock.wire == ["a"] and list(conn._queue) == ["b", "c", "d", "e"]
    assert conn.close_request is None
    conn.push("f")  # the queue is full: the client resumes instead of reading a backlog
    assert conn.close_request == (p.CloseCode.SLOW_CONSUMER, "outgoing queue overflow; resume")
    assert sock.wire == ["a"]

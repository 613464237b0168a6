"""Connection.push with a direct writer (ws/transport.py): frames go out at once when
nothing is queued and the socket takes them, and never overtake what is queued."""

from __future__ import annotations

import asyncio

from nirvana.ws.close_codes import CloseCode
from nirvana.ws.connection import Connection
from tests.support.direct_sockets import open_protocol, reading_protocol, texts_of


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
    assert conn.close_request == (CloseCode.SLOW_CONSUMER, "outgoing queue overflow; resume")
    assert sock.wire == ["a"]


def frame(text: str):
    from websockets.frames import Frame, Opcode

    return Frame(Opcode.TEXT, text.encode())


async def test_reading_pauses_only_while_a_received_message_waits_untaken():
    protocol, transport = reading_protocol()
    # An app that takes each message before the next arrives: reading never pauses
    # (uvicorn's own protocol paused and resumed the socket around every message).
    for text in ("a", "b", "c"):
        protocol.handle_text(frame(text))
        assert not transport.paused
        assert (await protocol.receive())["text"] == text
    assert transport.pauses == 0
    # Behind by one: the next message pauses reading (TCP backpressure) until the app has
    # taken everything queued.
    protocol.handle_text(frame("d"))
    protocol.handle_text(frame("e"))
    assert transport.paused and transport.pauses == 1
    assert (await protocol.receive())["text"] == "d" and transport.paused
    assert (await protocol.receive())["text"] == "e" and not transport.paused
    protocol.handle_text(frame("f"))
    assert not transport.paused and transport.pauses == 1


async def test_a_direct_frame_is_what_websockets_writes_and_is_made_once_per_event():
    from websockets.protocol import State
    from websockets.server import ServerProtocol

    from nirvana.ws.transport import text_frame

    reference = ServerProtocol()
    reference.state = State.OPEN
    for text in ("", "hi", "é" * 70, "x" * 125, "x" * 126, "x" * 200, "y" * 65_535,
                 "y" * 65_536, "y" * 70_000):  # each length encoding, and its bounds
        reference.send_text(text.encode())
        expected = b"".join(reference.data_to_send())
        protocol, transport = open_protocol()
        assert protocol.send_now(text) and transport.written == [expected]
    event = "z" * 300
    assert text_frame(event) is text_frame(event)  # every recipient of one event: one frame


async def test_a_compressing_socket_gets_its_frames_from_websockets():
    protocol, transport = open_protocol(compression=True)
    assert protocol.send_now("hello " * 50)
    (frame,) = transport.written
    assert frame[0] & 0x40  # RSV1: compressed per message, by this socket's own context
    assert len(frame) < 100


class ProtocolSocket:
    """What Starlette's WebSocket does with the sender task's frames, on uvicorn's protocol."""

    def __init__(self, protocol) -> None:
        self.protocol = protocol

    async def send_text(self, text: str) -> None:
        await self.protocol.send({"type": "websocket.send", "text": text})

    async def close(self, code: int, reason: str) -> None:
        pass


async def test_a_frame_the_sender_took_is_not_overtaken_when_the_peer_reads_again():
    """The sender task took a queued frame and waits for the paused transport; the peer
    reads, writing resumes, and in the same turn (before the sender task runs) a new frame
    comes: it must queue behind the taken one, not go out directly ahead of it."""
    from nirvana.ws.endpoint import _sender

    protocol, transport = open_protocol()
    conn = Connection(1, "s", max_queue=10)
    conn.direct = protocol.send_now
    protocol.pause_writing()  # the peer stopped reading
    conn.push("q", pos=1)
    sender = asyncio.get_running_loop().create_task(_sender(ProtocolSocket(protocol), conn))
    for _ in range(3):
        await asyncio.sleep(0)
    assert conn.queued_frames == 0 and transport.written == []  # taken, waiting to write
    protocol.resume_writing()  # the sender's wake-up is only scheduled
    conn.push("c", pos=2)
    conn.request_close(CloseCode.NORMAL, "")
    await asyncio.wait_for(sender, 5)
    assert texts_of(b"".join(transport.written)) == ["q", "c"]


async def test_a_message_that_arrives_after_its_reader_was_cancelled_waits_for_the_next():
    protocol, transport = reading_protocol()
    reader = asyncio.ensure_future(protocol.receive())
    await asyncio.sleep(0)
    reader.cancel()
    await asyncio.sleep(0)
    protocol.handle_text(frame("kept"))
    assert (await protocol.receive())["text"] == "kept"
    # Two messages, one reader after the other, in order; a second reader at once is a bug.
    first = asyncio.ensure_future(protocol.receive())
    await asyncio.sleep(0)
    second = asyncio.ensure_future(protocol.receive())
    await asyncio.sleep(0)
    assert isinstance(second.exception(), AssertionError)
    protocol.handle_text(frame("x"))
    protocol.handle_text(frame("y"))
    assert (await first)["text"] == "x"
    assert (await protocol.receive())["text"] == "y" and not transport.paused

"""Delivery passes (ws/transport.py): the direct writes made during one go out when it
ends, one write per socket, its frames in order; and nothing else changes. Every test is
async: uvicorn's protocol takes the current event loop when built, and a synchronous test
run after others found none (or made one it never closed)."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import weakref

import pytest
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.protocol import Protocol, Side

from nirvana.ws.connection import Connection
from nirvana.ws.transport import WRITE_SLICE, delivery_pass, text_frame
from tests.support.direct_sockets import Transport, open_protocol, texts_of


async def test_a_sockets_frames_of_one_pass_go_out_in_one_write_in_order():
    (one, wire1), (two, wire2) = open_protocol(), open_protocol()
    with delivery_pass():
        for text in ("a", "b", "c"):
            assert one.send_now(text)
        assert two.send_now("x")
        assert wire1.written == wire2.written == []  # nothing before the pass ends
    assert wire1.written == [text_frame("a") + text_frame("b") + text_frame("c")]
    assert wire2.written == [text_frame("x")]
    assert one.send_now("d") and wire1.written[-1] == text_frame("d")  # after it: at once


async def test_outside_a_pass_every_frame_is_written_at_once():
    protocol, wire = open_protocol()
    for text in ("a", "b"):
        assert protocol.send_now(text)
    assert wire.written == [text_frame("a"), text_frame("b")]


async def test_a_pass_that_raises_still_writes_its_frames():
    protocol, wire = open_protocol()
    with pytest.raises(RuntimeError):
        with delivery_pass():
            protocol.send_now("a")
            raise RuntimeError("a listener failed")
    assert texts_of(b"".join(wire.written)) == ["a"]


async def test_a_pass_inside_a_pass_joins_it():
    protocol, wire = open_protocol()
    with delivery_pass():
        protocol.send_now("a")
        with delivery_pass():
            protocol.send_now("b")
        assert wire.written == []
        protocol.send_now("c")
    assert wire.written == [text_frame("a") + text_frame("b") + text_frame("c")]


async def test_a_task_started_during_a_pass_writes_at_once_when_it_runs():
    protocol, wire = open_protocol()

    async def later() -> None:  # starts with a copy of the pass's context
        protocol.send_now("b")

    with delivery_pass():
        protocol.send_now("a")
        task = asyncio.get_running_loop().create_task(later())
    await task
    assert wire.written == [text_frame("a"), text_frame("b")]


async def test_a_paused_socket_queues_and_its_frames_keep_their_order():
    protocol, wire = open_protocol()
    conn = Connection(1, "s", max_queue=10)
    conn.direct = protocol.send_now
    with delivery_pass():
        conn.push("a", pos=1)
    protocol.writable.clear()  # the peer stopped reading: the transport paused writing
    with delivery_pass():
        conn.push("b", pos=2)
        conn.push("c", pos=3)
    assert texts_of(b"".join(wire.written)) == ["a"]
    protocol.writable.set()
    with delivery_pass():
        conn.push("d", pos=4)  # behind the queue, not around it
    sent = [await conn.next() for _ in range(conn.queued_frames)]
    assert texts_of(b"".join(wire.written)) == ["a"] and sent == ["b", "c", "d"]


async def test_a_close_written_during_a_pass_comes_after_the_frames_before_it():
    protocol, wire = open_protocol()
    with delivery_pass():
        protocol.send_now("a")
        protocol.close_now(4008, "too far behind")
        assert not protocol.send_now("b")
    protocol.close_timer.cancel()
    assert texts_of(b"".join(wire.written)) == ["a", "<close>"]


class FailingTransport(Transport):
    def write(self, data: bytes) -> None:
        raise RuntimeError("the socket failed")


async def test_a_socket_closed_or_failing_during_a_pass_keeps_no_other_from_its_frames(caplog):
    (gone, gone_wire), (failing, _), (fine, fine_wire) = (
        open_protocol(), open_protocol(), open_protocol())
    failing.transport = FailingTransport()  # type: ignore[assignment]
    with caplog.at_level(logging.ERROR, logger="nirvana.ws"):
        with delivery_pass():
            for protocol in (gone, failing, fine):
                protocol.send_now("a")
            gone_wire.closing = True  # lost before the pass ends
            fine.send_now("b")
    assert gone_wire.written == []
    assert texts_of(b"".join(fine_wire.written)) == ["a", "b"]
    assert "writing a delivery pass's frames failed" in caplog.text


async def test_a_compressing_socket_gets_its_frames_of_a_pass_in_one_write():
    protocol, wire = open_protocol(compression=True)
    texts = ["hello " * 50, "again " * 40, "and once more"]
    with delivery_pass():
        for text in texts:
            assert protocol.send_now(text)
    (data,) = wire.written
    client = Protocol(Side.CLIENT)  # open, as after the handshake
    client.extensions = [PerMessageDeflate(False, False, 15, 15)]
    client.receive_data(data)
    assert [f.data.decode() for f in client.events_received()] == texts


async def test_a_slow_reader_gets_no_more_than_its_transport_holds_and_the_rest_queues():
    """A peer that stopped reading: the pass writes a socket's kept frames once they would
    take its transport past the high-water mark, the transport pauses, and the pass's later
    frames queue behind the sender task, in order (a whole chunk is not written at once,
    past every bound of the connection)."""
    loop = asyncio.get_running_loop()
    near, far = socket.socketpair()
    # A kernel buffer well below the 768 KB sent, whatever the host's default (wmem_default).
    near.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
    far.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    protocol, _ = open_protocol()
    transport, _ = await loop.create_connection(lambda: protocol, sock=near)
    protocol.handshake_complete = True  # connection_made reset it
    conn = Connection(1, "s", max_queue=100)
    conn.direct = protocol.send_now
    texts = [f"{n:02d}" + "€" * 4000 for n in range(64)]  # 12 KB each, the longest message
    try:
        with delivery_pass():
            for pos, text in enumerate(texts, 1):
                conn.push(text, pos=pos)
        high = transport.get_write_buffer_limits()[1]
        assert transport.get_write_buffer_size() <= high + len(text_frame(texts[0]))
        assert not protocol.writable.is_set()  # paused: the peer reads nothing
        queued = [await conn.next() for _ in range(conn.queued_frames)]
        assert queued and queued == texts[len(texts) - len(queued):]
        far.setblocking(False)
        data = b""
        while len(texts_of_whole(data)) < len(texts) - len(queued):
            data += await asyncio.wait_for(loop.sock_recv(far, 1 << 20), 5)
        assert texts_of(data) == texts[:len(texts) - len(queued)]
    finally:
        transport.abort()
        far.close()
        await asyncio.sleep(0)


def texts_of_whole(data: bytes) -> list[str]:
    """The whole frames at the start of `data` (what a read so far holds)."""
    whole = []
    while len(data) >= 4:
        length = data[1] & 0x7F
        start = 2
        if length == 126:
            length, start = int.from_bytes(data[2:4]), 4
        if len(data) < start + length:
            break
        whole.append(data[start:start + length])
        data = data[start + length:]
    return whole


async def test_an_interrupted_pass_leaves_no_socket_holding_frames_no_pass_writes():
    (one, _), (two, wire2) = open_protocol(), open_protocol()
    one.transport = InterruptedTransport()  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        with delivery_pass():
            one.send_now("a")
            two.send_now("b")
    with delivery_pass():  # the next pass writes what it gives the second socket
        two.send_now("c")
    assert texts_of(b"".join(wire2.written)) == ["c"]


class InterruptedTransport(Transport):
    def write(self, data: bytes) -> None:
        raise KeyboardInterrupt


async def test_a_task_started_during_a_pass_keeps_none_of_its_sockets_alive():
    protocol, wire = open_protocol()
    gone = weakref.ref(protocol)
    blocked = asyncio.get_running_loop().create_future()

    async def waits() -> None:  # its context is the pass's, copied
        await blocked

    with delivery_pass():
        protocol.send_now("a")
        task = asyncio.get_running_loop().create_task(waits())
    assert texts_of(b"".join(wire.written)) == ["a"]
    del protocol
    gc.collect()
    try:
        assert gone() is None
    finally:
        blocked.set_result(None)
        await task


async def test_a_frame_another_task_delivers_during_a_pass_that_awaits_comes_after_its_frames():
    """The writer's pass spans a batch's chunks of answers, with turns of the loop between:
    an ack or a presence event written meanwhile must not overtake what the pass kept."""
    (kept, kept_wire), (other, other_wire) = open_protocol(), open_protocol()

    async def answers() -> None:
        with delivery_pass():
            kept.send_now("a")
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            kept.send_now("c")

    async def meanwhile() -> None:
        await asyncio.sleep(0)
        assert kept.send_now("b") and other.send_now("x")
        assert kept_wire.written == [] and other_wire.written == [text_frame("x")]

    await asyncio.gather(answers(), meanwhile())
    assert kept_wire.written == [text_frame("a") + text_frame("b") + text_frame("c")]


async def test_uvicorns_own_write_during_a_pass_that_awaits_goes_after_the_kept_frames():
    protocol, wire = open_protocol()
    with delivery_pass():
        protocol.send_now("a")
        await protocol.send({"type": "websocket.send", "text": "b"})  # the sender task's
        protocol.send_now("c")
    assert texts_of(b"".join(wire.written)) == ["a", "b", "c"]


async def test_no_kept_frame_follows_a_close_uvicorn_wrote_during_a_pass_that_awaits():
    protocol, wire = open_protocol()
    with delivery_pass():
        protocol.send_now("a")
        await asyncio.sleep(0)
        protocol.keepalive_timeout()  # the peer stopped answering pings: 1011, written now
    assert texts_of(b"".join(wire.written)) == ["<close>"]  # nothing after the close


async def test_a_pass_over_many_sockets_writes_them_a_slice_a_turn_in_order():
    """A batch's pass ends with a write to nearly every member socket: all in one step of
    the loop held everything else behind them."""
    sockets = [open_protocol() for _ in range(WRITE_SLICE + 1)]
    with delivery_pass():
        for protocol, _ in sockets:
            protocol.send_now("a")
    assert all(wire.written == [text_frame("a")] for _, wire in sockets[:WRITE_SLICE])
    last, last_wire = sockets[-1]
    assert last_wire.written == []
    assert last.send_now("b")  # while it waits for its slice: after its kept frame
    await asyncio.sleep(0)
    assert last_wire.written == [text_frame("a") + text_frame("b")]
    assert last.send_now("c") and last_wire.written[-1] == text_frame("c")  # at once again

"""Delivery passes (ws/transport.py): the direct writes made during one go out when it
ends, one write per socket, its frames in order; and nothing else changes."""

from __future__ import annotations

import asyncio
import logging

import pytest
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.protocol import Protocol, Side

from nirvana.ws.connection import Connection
from nirvana.ws.transport import delivery_pass, text_frame
from tests.support.direct_sockets import Transport, open_protocol, texts_of


def test_a_sockets_frames_of_one_pass_go_out_in_one_write_in_order():
    (one, wire1), (two, wire2) = open_protocol(), open_protocol()
    with delivery_pass():
        for text in ("a", "b", "c"):
            assert one.send_now(text)
        assert two.send_now("x")
        assert wire1.written == wire2.written == []  # nothing before the pass ends
    assert wire1.written == [text_frame("a") + text_frame("b") + text_frame("c")]
    assert wire2.written == [text_frame("x")]
    assert one.send_now("d") and wire1.written[-1] == text_frame("d")  # after it: at once


def test_outside_a_pass_every_frame_is_written_at_once():
    protocol, wire = open_protocol()
    for text in ("a", "b"):
        assert protocol.send_now(text)
    assert wire.written == [text_frame("a"), text_frame("b")]


def test_a_pass_that_raises_still_writes_its_frames():
    protocol, wire = open_protocol()
    with pytest.raises(RuntimeError):
        with delivery_pass():
            protocol.send_now("a")
            raise RuntimeError("a listener failed")
    assert texts_of(b"".join(wire.written)) == ["a"]


def test_a_pass_inside_a_pass_joins_it():
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


def test_a_socket_closed_or_failing_during_a_pass_keeps_no_other_from_its_frames(caplog):
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


def test_a_compressing_socket_gets_its_frames_of_a_pass_in_one_write():
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

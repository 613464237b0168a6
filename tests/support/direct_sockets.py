"""Nirvana's WebSocket protocol (ws/transport.py) on a transport that records what it would
write: for tests of the direct writes and of delivery passes, without a socket."""

from __future__ import annotations

import struct
from typing import Any

import uvicorn
from uvicorn.server import ServerState
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.protocol import State

from nirvana.ws.transport import DirectSendProtocol


class Transport:
    """An asyncio transport's reading and writing, observable."""

    def __init__(self) -> None:
        self.paused = False
        self.pauses = 0
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False

    def abort(self) -> None:
        self.closing = True

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return 16 << 10, 64 << 10  # asyncio's defaults

    def get_write_buffer_size(self) -> int:
        return 0  # the peer reads everything at once


def reading_protocol() -> tuple[DirectSendProtocol, Transport]:
    async def app(scope: Any, receive: Any, send: Any) -> None:  # frames are fed directly
        raise AssertionError

    config = uvicorn.Config(app, ws=DirectSendProtocol, lifespan="off")
    config.load()
    protocol = DirectSendProtocol(config, ServerState(), {})
    protocol.transport = transport = Transport()  # type: ignore[assignment]
    return protocol, transport


def open_protocol(compression: bool = False) -> tuple[DirectSendProtocol, Transport]:
    """A socket past its handshake, open; with permessage-deflate when `compression`."""
    protocol, transport = reading_protocol()
    protocol.handshake_complete = True
    protocol.conn.state = State.OPEN
    if compression:
        protocol.conn.extensions = [PerMessageDeflate(False, False, 15, 15)]
    return protocol, transport


def texts_of(data: bytes) -> list[str]:
    """The text frames a server wrote in `data` (unmasked, uncompressed), in order; a close
    frame as "<close>"."""
    texts = []
    while data:
        opcode, length = data[0] & 0x0F, data[1] & 0x7F
        start = 2
        if length == 126:
            (length,), start = struct.unpack("!H", data[2:4]), 4
        elif length == 127:
            (length,), start = struct.unpack("!Q", data[2:10]), 10
        payload, data = data[start:start + length], data[start + length:]
        texts.append(payload.decode() if opcode == 1 else "<close>" if opcode == 8 else "?")
    return texts

"""The WebSocket transport: uvicorn's sans-I/O protocol, plus one ASGI scope extension.

`DirectSendProtocol` adds `scope["extensions"]["nirvana.direct_send"]`: a plain function
that frames and writes a text frame at once, or answers False when it cannot without
waiting (not accepted yet, closing, or the peer reads slowly and the transport paused
writing). The hub uses it to deliver a frame to an idle socket without waking that socket's
sender task: the task switch per delivered frame was most of what fan-out cost above the
`websockets.broadcast()` floor (which writes the same way). An event's frame is made once
for all its recipients (`text_frame`) when the socket negotiated no extension (no
permessage-deflate: the default, see serving.py); otherwise websockets frames it per socket.
When the transport pauses writing, frames queue in the `Connection` and the sender task
writes them once the peer reads again. Under another server (no extension) every frame goes
through the sender task.

A delivery pass (`delivery_pass()`, held by the chat writer around the answers of a batch of
several messages, with turns of the loop between their chunks) corks the direct writes:
every frame a socket gets during the pass is kept, and when the pass ends each socket writes
its frames at once, one system call instead of one per frame (its sockets 128 a turn,
`WRITE_SLICE`). Under load a commit holds several messages of a conversation, so each
member got several frames from it (docs/performance.md, "One write per socket per delivery
pass"). A socket whose kept frames would take its transport's buffer past the high-water
mark writes them at once instead: if the kernel does not take them all, the transport
pauses as it would have without the pass and the pass's later frames queue; if it does, the
room is read again and keeping goes on.

Reading: the endpoint takes each message from the protocol (`scope["extensions"]
["nirvana.receive"]`), not through Starlette's and uvicorn's `receive` wrappers, and the
protocol keeps its messages in an `_Inbox` instead of an `asyncio.Queue`: the app is its
only reader, and the queue's general machinery cost every frame (docs/performance.md,
"Where the server's CPU per send goes at 20,000 deliveries/s, 2026-12-07 day").

Reading pauses: uvicorn pauses the transport after every received message until the app
takes it, and resumes it then: an epoll_ctl call each way for every frame (its cost is in
docs/performance.md, "The server's CPU per send"). Here reading pauses only when a message
arrives while the previous one still waits untaken, so an app that keeps up never pauses,
and one that does not (a full send pipeline) still stops reading after one more message:
TCP backpressure as before.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import deque
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.protocol import State

DIRECT_SEND = "nirvana.direct_send"
RECEIVE = "nirvana.receive"
CLOSE_NOW = "nirvana.close_now"
CLOSE_GRACE = 10.0  # seconds a peer has to read up to a close written by close_now

log = logging.getLogger("nirvana.ws")


class _Inbox:
    """What uvicorn's protocol uses of its `asyncio.Queue` of messages for the app
    (`put_nowait`, `empty`, `get`; tests/unit/test_framework_internals.py checks it uses no
    more), for its one reader: the app's receive."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():  # cancelled with its reader: the item waits for the next
                waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            if self._waiter is not None and not self._waiter.done():
                # A bug of ours, so not a RuntimeError: the endpoint reads those as the
                # peer gone, and this must reach uvicorn's log of the app's exceptions.
                raise AssertionError("a socket's messages have one reader at a time")
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            await waiter
        return self._items.popleft()


class DirectSendProtocol(WebSocketsSansIOProtocol):
    # The frames this socket got in the running delivery pass, not written yet (None
    # outside one, or before its first frame), and their bytes.
    corked: list[bytes] | None = None
    corked_bytes = 0
    # What they may add to the transport's buffer before it passes its high-water mark,
    # read at the first frame kept and again after each write in the pass (what else
    # writes meanwhile, pings and pongs, is a few bytes; the kernel draining only adds room).
    cork_room = 0
    high_water: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the upgrade was refused
        if scope is not None:
            scope["extensions"][RECEIVE] = self.receive
            scope["extensions"][DIRECT_SEND] = self.send_now
            scope["extensions"][CLOSE_NOW] = self.close_now

    def send_receive_event_to_app(self) -> None:
        untaken = self.read_paused or not self.queue.empty()
        if self.curr_msg_data_type != "text" or self.close_sent:
            if untaken:
                super().send_receive_event_to_app()  # queued, and reading paused until taken
                return
            # Nothing waits untaken: queue it without pausing. uvicorn's method pauses unless
            # it believes reading is paused already; for its length, it is told so.
            self.read_paused = True
            try:
                super().send_receive_event_to_app()
            finally:
                self.read_paused = False
            return
        # A text message, as uvicorn's method would queue it, decoded once. uvicorn logs a
        # decoding failure with a traceback at error level, though it is the client's
        # fault: here it closes with 1007, quietly.
        frames, self.frames = self.frames, []
        try:
            text = (frames[0] if len(frames) == 1 else b"".join(frames)).decode()
        except UnicodeDecodeError:
            self.conn.send_close(1007, "text frames must be UTF-8")
            self.handle_parser_exception()
            return
        self.queue.put_nowait({"type": "websocket.receive", "text": text})
        if untaken and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def send_now(self, text: str) -> bool:
        """Write `text` as one frame now; False when the caller must queue it instead."""
        if (not self.handshake_complete or self.close_sent or self.disconnected
                or not self.writable.is_set() or self.transport.is_closing()):
            return False
        conn = self.conn
        if (conn.state is State.OPEN and not conn.extensions and not conn.writes
                and not conn.expect_continuation_frame):
            # What send_text would write, byte for byte, made once for all recipients.
            data = text_frame(text)
        else:
            try:
                conn.send_text(text.encode())
            except InvalidState:
                return False
            data = b"".join(conn.data_to_send())
        if self.corked is None:
            running = _running_pass.get()
            if running is None or not running.open:
                self.transport.write(data)
                return True
            self.corked = [data]
            self.corked_bytes = len(data)
            running.corked.append(self)
            self.cork_room = self._room()
        else:
            # Kept by a pass: this one's, or one that spans turns of the loop (the writer's
            # batch) when another task delivers meanwhile: after what the pass kept.
            self.corked.append(data)
            self.corked_bytes += len(data)
        if self.corked_bytes > self.cork_room:
            # A peer that reads slowly: written now, what the transport would have held
            # without the pass; past the mark it pauses, and this socket's next frames of
            # the pass are refused and queue behind the sender task, after these.
            self._write_kept()
        return True

    def _write_kept(self) -> None:
        """Write what the running pass kept for this socket, and keep on keeping after it."""
        self.uncork()
        self.corked = []  # still in the pass's list: not added again
        self.cork_room = self._room()

    async def send(self, message: Any) -> None:
        # uvicorn's own writes (the sender task's frames, its close) come after what a pass
        # spanning turns of the loop kept for this socket, as they would have without it.
        if self.corked:
            self._write_kept()
        await super().send(message)

    def _room(self) -> int:
        """The bytes the transport takes before it passes its high-water mark."""
        if self.high_water is None:
            self.high_water = self.transport.get_write_buffer_limits()[1]
        return self.high_water - self.transport.get_write_buffer_size()

    def uncork(self) -> None:
        """Write the frames kept by the running delivery pass, in one system call."""
        frames, self.corked = self.corked, None
        self.corked_bytes = 0
        if not frames or self.transport.is_closing() or self.conn.state is not State.OPEN:
            # Gone meanwhile, or closed by the peer or the keepalive during a pass that
            # spans turns (no data frame may follow a close): as if written before it went.
            return
        self.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def close_now(self, code: int, reason: str) -> None:
        """Write a close frame now, even while writing is paused (uvicorn's close waits for
        the peer to read first, so to a peer that stopped reading it was never written, and
        the keepalive's 1011 was). The peer reads what was already written, then this close;
        if it has not answered it within CLOSE_GRACE seconds, the connection is dropped, and
        with it what the transport still buffers for the peer. The app sees a disconnect."""
        if (not self.handshake_complete or self.close_sent or self.disconnected
                or self.transport.is_closing()):
            return
        self.uncork()  # what the pass gave this socket before the close goes first
        try:
            self.conn.send_close(code, reason)
        except InvalidState:
            return
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        if self.read_paused:  # read on, so the peer's close answer is seen
            self.read_paused = False
            self.transport.resume_reading()
        # handle_close and connection_lost cancel this when the peer answers or goes.
        self.close_timer = self.loop.call_later(CLOSE_GRACE, self.transport.abort)


class _Pass:
    __slots__ = ("open", "corked")

    def __init__(self) -> None:
        self.open = True
        self.corked: list[DirectSendProtocol] = []


# The pass running in this context. A context variable, not a global: the pass belongs to
# the writer that opened it (a server in another thread has its own). A task created
# during the pass copies the variable: run between the batch's chunks it joins the pass
# (its frames go out at the pass's end), run after the pass it finds it closed (`open`).
_running_pass: ContextVar[_Pass | None] = ContextVar("nirvana_delivery_pass", default=None)


class DeliveryPassContext:
    """`with delivery_pass(): ...`: the direct writes made inside go out when it ends, one
    write per socket with its frames in order; also when the body raises. Inside a running
    pass, it joins that one. The body may await (the writer's pass spans a batch's chunks
    of answers): the frames wait for its end, and a frame that another task gives one of
    its sockets meanwhile is kept after them (`send_now`; uvicorn's own writes go out after
    them, `send`)."""

    __slots__ = ("_pass", "_token")

    def __enter__(self) -> None:
        outer = _running_pass.get()
        if outer is not None and outer.open:
            self._pass: _Pass | None = None  # the outer pass writes them
            return
        self._pass = _Pass()
        self._token = _running_pass.set(self._pass)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        running = self._pass
        if running is None:
            return
        running.open = False
        _running_pass.reset(self._token)
        # Emptied: a context copied during the pass (a task started in it) keeps the _Pass
        # alive, and must not keep these sockets with it.
        protocols, running.corked = running.corked, []
        _write_out(protocols, 0)


# Sockets a pass's end writes per turn of the loop. A batch's pass ends with a write to
# nearly every member socket: slices keep the loop's lag down (the figures: docs/
# performance.md, "Where the real server's CPU per send goes at 20,000 deliveries/s"); a
# socket waiting for its slice still keeps its later frames after the kept ones.
WRITE_SLICE = 128


def _write_out(protocols: list[DirectSendProtocol], start: int) -> None:
    end = start + WRITE_SLICE
    try:
        for protocol in protocols[start:end]:
            try:
                protocol.uncork()
            except Exception:
                # One socket that fails is logged and never keeps the others' frames.
                log.exception("writing a delivery pass's frames failed")
    except BaseException:
        # Interrupted (KeyboardInterrupt, SystemExit): the frames not written are
        # dropped, and no socket keeps a list that no pass would ever write.
        for protocol in protocols[start:]:
            protocol.corked = None
            protocol.corked_bytes = 0
        raise
    if end < len(protocols):
        asyncio.get_running_loop().call_soon(_write_out, protocols, end)


def delivery_pass() -> DeliveryPassContext:
    return DeliveryPassContext()


_last_frame: tuple[object, bytes] = (object(), b"")  # matches no str


def text_frame(text: str) -> bytes:
    """`text` as a server's text frame (unmasked, uncompressed), as websockets makes it. The hub
    hands every recipient of an event the same str object in turn, so the frame is kept
    for the last one: one frame per event instead of one per recipient.
    The kept str cannot be freed and its address reused while it is kept."""
    global _last_frame
    text_, frame = _last_frame
    if text_ is not text:
        frame = _framed(text.encode())
        _last_frame = (text, frame)
    return frame


_SHORT = struct.Struct("!BB").pack
_MEDIUM = struct.Struct("!BBH").pack
_LONG = struct.Struct("!BBQ").pack


def _framed(payload: bytes) -> bytes:
    """`Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])`: FIN and the text
    opcode, then the length as RFC 6455 (5.2) encodes it, then the payload. Written out
    because websockets' general serializer cost ten times as much, twice per send
    (tests/unit/test_ws_direct_send.py checks the bytes agree)."""
    length = len(payload)
    if length < 126:
        return _SHORT(0x81, length) + payload
    if length < 1 << 16:
        return _MEDIUM(0x81, 126, length) + payload
    return _LONG(0x81, 127, length) + payload

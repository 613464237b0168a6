"""The chat writer's inserts over one plain MongoDB-wire connection of its own.

pymongo's async client spends several times the wire's own CPU on every command (server
selection, an implicit session, a pool checkout, and three tasks per round trip), and at
light load every send is a commit of its own, with this process and the
embedded store sharing one core: that overhead was most of Nirvana's latency above the
seed stack's (docs/performance.md, "One send's way at light load"). So the writer's inserts
go as one OP_MSG each over a connection held for them: a request written, its reply read
by a protocol callback. Everything else (reads, summaries, receipts) stays on pymongo.

Only for a store that needs nothing more than that: the embedded one (loopback, no auth, no
TLS), checked at connect to be a writable standalone. Elsewhere, and whenever the store says
otherwise, `WireInserts` hands the insert to pymongo (`fallback`) for good.

Failures read as pymongo's: a document refused is a `BulkWriteError` naming it by index; a
command refused an `OperationFailure`; a connection lost or a reply not come in time an
`AutoReconnect` / `NetworkTimeout` (the insert is then asked again, sends.py). A connection that
timed out is dropped, so no late reply can answer a later request.

A reply wakes the writer at once, inside the protocol's `data_received`, rather than on the
loop's next turn (`Reply`): the batch is settled and its messages delivered in the turn
the store's answer is read (docs/performance.md, "The same turn as the store's answer").
"""

from __future__ import annotations

import asyncio
import struct
import time
from contextvars import Context
from functools import partial
from typing import Any, Awaitable, Callable, Generator

import bson
from bson.codec_options import CodecOptions
from pymongo.errors import AutoReconnect, BulkWriteError, NetworkTimeout, OperationFailure

from .collections import ChatCollections

OP_MSG = 2013
_HEADER = struct.Struct("<iiii")  # length, request id, response to, op code
_FLAGS_AND_KIND = b"\x00\x00\x00\x00\x00"  # no flag bits; one body section (kind 0)
_CHECKSUM_PRESENT = 1
_SMALLEST_REPLY = 16 + 4 + 1 + 5  # header, flag bits, section kind, an empty document
_LARGEST_REPLY = 48 << 20  # the server's maxMessageSizeBytes
_LARGEST_DOCUMENT = 16 << 20  # MongoDB's maxBsonObjectSize, when the hello does not say
_COMMAND_ALLOWANCE = 16 << 10  # MongoDB's room for a command around its largest document
_REPLY_CODEC = CodecOptions(tz_aware=True)
_UNAUTHORIZED = 13
# The embedded server closes a connection idle for 300 s: one idle this long is replaced
# before it is written to (as the pymongo client's maxIdleTimeMS, wiring/stores.py).
MAX_IDLE = 120.0

Insert = Callable[[list[dict[str, Any]]], Awaitable[None]]


class Reply:
    """What a request's sender awaits: an asyncio future (Task awaits any object with
    this interface, `asyncio.isfuture`), except that a reply read from the socket wakes the
    awaiting task at once, inside `data_received`, instead of scheduling the wake-up for
    the loop's next turn. Done callbacks run at once only where no task is running (a
    protocol callback); elsewhere, and for a cancellation, they are scheduled as a future's
    are, since a task cannot be stepped from inside another. tests/unit/test_wire_reply.py
    holds this on both loops Nirvana runs (uvloop steps asyncio's own Task); a
    Python release that changes the Task's wake-up must pass it (pyproject.toml)."""

    _asyncio_future_blocking = False

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._callbacks: list[tuple[Callable[[Any], object], Context | None]] = []
        self._result: bytes | None = None
        self._exception: BaseException | None = None
        self._cancelled: str | None = None  # the cancel message ("" without one)
        self._done = False

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        return self._cancelled is not None

    def result(self) -> bytes:
        if self._cancelled is not None:
            raise asyncio.CancelledError(self._cancelled or None)
        if not self._done:
            raise asyncio.InvalidStateError("no reply yet")
        if self._exception is not None:
            raise self._exception
        assert self._result is not None
        return self._result

    def exception(self) -> BaseException | None:
        if self._cancelled is not None:
            raise asyncio.CancelledError(self._cancelled or None)
        if not self._done:
            raise asyncio.InvalidStateError("no reply yet")
        return self._exception

    def add_done_callback(self, fn: Callable[[Any], object], *,
                          context: Context | None = None) -> None:
        if self._done:
            self._loop.call_soon(fn, self, context=context)
        else:
            self._callbacks.append((fn, context))

    def remove_done_callback(self, fn: Callable[[Any], object]) -> int:
        kept = [(f, c) for f, c in self._callbacks if f != fn]
        removed, self._callbacks = len(self._callbacks) - len(kept), kept
        return removed

    def cancel(self, msg: Any = None) -> bool:
        if self._done:
            return False
        self._cancelled = "" if msg is None else str(msg)
        self._finish(now=False)
        return True

    def set_result(self, reply: bytes) -> None:
        if not self._done:  # a reply after a cancel or a lost connection: nobody waits
            self._result = reply
            self._finish(now=True)

    def set_exception(self, exc: BaseException) -> None:
        if not self._done:
            self._exception = exc
            self._finish(now=True)

    def _finish(self, now: bool) -> None:
        self._done = True
        callbacks, self._callbacks = self._callbacks, []
        now = now and asyncio.current_task(self._loop) is None
        for fn, context in callbacks:
            if not now:
                self._loop.call_soon(fn, self, context=context)
                continue
            try:
                if context is not None:
                    context.run(fn, self)
                else:
                    fn(self)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                # Reported as the loop reports a callback's failure, never run again; it
                # must not escape into data_received (that aborts the connection) nor keep
                # the callbacks after it (a task's wake-up) from running: they are scheduled.
                self._loop.call_exception_handler({
                    "message": "a wire reply's done callback failed",
                    "exception": exc, "future": self})
                now = False

    def __await__(self) -> Generator[Any, None, bytes]:
        if not self._done:
            self._asyncio_future_blocking = True
            yield self
        return self.result()


class _Wire(asyncio.Protocol):
    """One connection: requests written as they come, each reply handed to the waiter of
    the request it answers (`responseTo`), each within `timeout` seconds. One timer watches
    every request's deadline: armed when a request finds none, it fires at the earliest
    deadline still waiting and re-arms for the next. The timeout is the connection's, not a
    request's, so a new deadline is never earlier than the armed one. Cheaper than an
    `asyncio.timeout` per request, and at light load every send is a request of its own
    (docs/performance.md, "The fixed cost of a commit at light load")."""

    def __init__(self, timeout: float) -> None:
        self.transport: asyncio.Transport | None = None
        self._timeout = timeout
        self._buffer = bytearray()
        self._waiting: dict[int, tuple[Reply, float]] = {}  # request id -> waiter, deadline
        # uvloop's call_at gives a plain Handle (no `when()`) for a delay under 0.5 ms.
        self._watchdog: asyncio.Handle | None = None
        self._watch_at = 0.0  # the deadline the watchdog was armed for
        self._next_id = 0
        self.lost = False
        self.used = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= 16:
            length, _, responds_to, op_code = _HEADER.unpack_from(buffer)
            if (op_code != OP_MSG or not _SMALLEST_REPLY <= length <= _LARGEST_REPLY):
                self.close()  # not a reply we can frame: every waiter fails, none hangs
                return
            if len(buffer) < length:
                return
            reply = bytes(buffer[16:length])
            del buffer[:length]
            waiting = self._waiting.pop(responds_to, None)
            if waiting is not None and not waiting[0].done():
                waiting[0].set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._stop_watching()
        waiting, self._waiting = self._waiting, {}
        for waiter, _ in waiting.values():
            if not waiter.done():
                waiter.set_exception(AutoReconnect("the store closed the connection"))

    def close(self) -> None:
        self.lost = True
        self._stop_watching()
        if self.transport is not None:
            self.transport.abort()  # calls connection_lost: every waiter is failed

    def _stop_watching(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _watch(self) -> None:
        """The watchdog's round: a request past its deadline fails, and the connection is
        dropped, so that no late reply can answer a later request."""
        self._watchdog = None
        if not self._waiting:
            return  # armed again by the next request
        loop = asyncio.get_running_loop()
        # Late up to the deadline it was armed for, not just up to now: uvloop's clock and
        # timers are whole milliseconds, so it can fire inside that deadline's millisecond,
        # and re-arming then (a delay rounded to 0: call_soon) would spin until it ticks.
        due = max(loop.time(), self._watch_at)
        late = [(i, w) for i, (w, deadline) in self._waiting.items() if deadline <= due]
        if not late:
            self._arm(loop, min(d for _, d in self._waiting.values()))
            return
        for request_id, _ in late:  # theirs is the timeout; the others' the lost connection
            del self._waiting[request_id]
        self.close()
        for _, waiter in late:
            waiter.set_exception(NetworkTimeout("the store did not answer in time"))

    def _arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self._watch_at = deadline
        self._watchdog = loop.call_at(deadline, self._watch)

    async def command(self, body: bytes) -> dict[str, Any]:
        """`body`: the command as BSON. Its reply's body."""
        # is_closing: lost before connection_lost has run (uvloop raises on such a write).
        if self.lost or self.transport is None or self.transport.is_closing():
            raise AutoReconnect("the store closed the connection")
        self._next_id = request_id = (self._next_id + 1) & 0x7FFFFFFF
        payload = _FLAGS_AND_KIND + body
        loop = asyncio.get_running_loop()
        waiter = Reply(loop)
        deadline = loop.time() + self._timeout
        self._waiting[request_id] = (waiter, deadline)
        self.transport.write(_HEADER.pack(16 + len(payload), request_id, 0, OP_MSG) + payload)
        self.used = time.monotonic()
        if self._watchdog is None:
            self._arm(loop, deadline)
        try:
            reply = await waiter
        except asyncio.CancelledError:
            self.close()  # its reply must not answer the next request
            raise
        return _body_of(reply)


def _body_of(reply: bytes) -> dict[str, Any]:
    """The body section of an OP_MSG reply (flag bits, then kind 0 and its document)."""
    flags = int.from_bytes(reply[:4], "little")
    end = len(reply) - (4 if flags & _CHECKSUM_PRESENT else 0)
    if reply[4] != 0:
        raise AutoReconnect("unexpected reply from the store")
    return bson.decode(reply[5:end], codec_options=_REPLY_CODEC)


class WireInserts:
    """The writer's `InsertMessages` (sends.py) over a connection of its own; `fallback`
    (pymongo's insert) where that connection cannot serve (module docstring)."""

    def __init__(self, db: ChatCollections, fallback: Insert, *, timeout: float) -> None:
        self._db = db
        self._fallback = fallback
        self._timeout = timeout
        self._wire: _Wire | None = None
        self._connecting: asyncio.Lock | None = None
        self._max_bytes = _LARGEST_DOCUMENT  # until the store's hello says
        self.usable = True  # False once the store turned out to need pymongo

    async def __call__(self, docs: list[dict[str, Any]]) -> None:
        if not self.usable:
            return await self._fallback(docs)
        collection = self._db.messages
        body = bson.encode({"insert": collection.name, "documents": docs, "ordered": False,
                            "$db": collection.database.name})
        wire = await self._connection(collection.database.client)
        if wire is None or len(body) > self._max_bytes:
            # Too big for one message: pymongo's insert_many splits it.
            return await self._fallback(docs)
        reply = await wire.command(body)
        if not reply.get("ok"):
            if reply.get("code") == _UNAUTHORIZED:
                self.usable = False  # nothing was written: pymongo (with its auth) does it
                self.close()
                return await self._fallback(docs)
            raise OperationFailure(reply.get("errmsg", "insert refused"), reply.get("code"),
                                   reply)
        if reply.get("writeErrors") or reply.get("writeConcernError"):
            # As pymongo's insert_many raises it (sends.py reads the writeErrors).
            concern = reply.get("writeConcernError")
            raise BulkWriteError({"writeErrors": reply.get("writeErrors", []),
                                  "writeConcernErrors": [concern] if concern else [],
                                  "nInserted": reply.get("n", 0),
                                  "nUpserted": 0, "nMatched": 0, "nModified": 0,
                                  "nRemoved": 0, "upserted": []})

    async def _connection(self, client: Any) -> _Wire | None:
        wire = self._wire
        if wire is not None and not wire.lost and time.monotonic() - wire.used < MAX_IDLE:
            return wire
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:  # two batches in flight open one connection
            if self._wire is not wire:
                return self._wire
            if wire is not None:
                wire.close()
            self._wire = None
            address = await client.address
            if address is None:
                raise AutoReconnect("no store to connect to")
            wire = None
            try:
                async with asyncio.timeout(self._timeout):
                    _, wire = await asyncio.get_running_loop().create_connection(
                        partial(_Wire, self._timeout), *address)
                    hello = await wire.command(bson.encode({"hello": 1, "$db": "admin"}))
            except BaseException as exc:
                if wire is not None:
                    wire.close()
                if isinstance(exc, OSError):
                    raise AutoReconnect(f"cannot connect to the store: {exc}") from exc
                if isinstance(exc, TimeoutError):
                    raise NetworkTimeout("the store did not answer in time") from None
                raise
            if (hello.get("setName") is not None or hello.get("msg") == "isdbgrid"
                    or not hello.get("isWritablePrimary")):
                wire.close()
                self.usable = False  # a replica set or a router: pymongo's to handle
                return None
            # The documents travel inside the command's body, which MongoDB caps at its
            # largest document plus a command's allowance; a bigger batch goes through
            # pymongo, which splits it.
            self._max_bytes = (int(hello.get("maxBsonObjectSize", _LARGEST_DOCUMENT))
                               + _COMMAND_ALLOWANCE)
            self._wire = wire
            return wire

    def close(self) -> None:
        if self._wire is not None:
            self._wire.close()
            self._wire = None

"""What one instance tells the others, in the order it said it: an outbox on the bus.

Callers `send` small operations without waiting (the hub delivers synchronously); one task
publishes what accumulated as one bus message, then the next, so the others receive this
instance's operations in the order they were sent, batched under load. While Redis is down
the operations are dropped and counted: the bus is never the store of record, and
`RedisBus.on_restored` tells each instance to recover from its stores.

Wire format: one line per operation, the instance id on the first line. A frame for users
(`frame`) is a JSON header line followed by the frame's own text on the next line, as it
is: an encoded frame is compact JSON, which never holds a raw newline, so it is neither
escaped again nor parsed by the instances that relay it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Callable, Iterable

from .bus import BusUnavailable, RedisBus

log = logging.getLogger("nirvana.relay")

CHANNEL = "relay"
MAX_BATCH = 1000  # operations per bus message: bounds one message's size and parse time
MAX_GAP_USERS = 10_000  # past this many, a gap names no one: every socket resumes

_dumps = json.JSONEncoder(separators=(",", ":")).encode

Handler = Callable[[str, list[Any]], None]  # (sending instance, operation)
FrameHandler = Callable[[list[int], str, int | None], None]


class Relay:
    def __init__(self, bus: RedisBus) -> None:
        self._bus = bus
        self.instance_id = bus.instance_id
        self._own = f"{bus.instance_id}\n".encode()
        self._out: list[str] = []
        self._writes: list[Callable[[Any], None]] = []
        self._wake = asyncio.Event()
        self._handlers: dict[str, list[Handler]] = {}
        self._frames: FrameHandler | None = None
        self.dropped = 0  # operations not published because Redis was down
        # Whether anything was dropped since publishing last worked, and for each user whose
        # stream frames (those with a `pos`) were, the highest such position (None: too many
        # users to name); told to the others when it works again, as a `gap` operation.
        self._lost = False
        self._gap: dict[int, int] | None = {}
        bus.subscribe(CHANNEL, self._received)
        bus.on_restored(self._restored)

    def on(self, kind: str, handler: Handler) -> None:
        """`handler(instance_id, op)` for each operation `[kind, ...]` another instance sends
        (several handlers of one kind run in the order they were added)."""
        self._handlers.setdefault(kind, []).append(handler)

    def on_frames(self, handler: FrameHandler) -> None:
        self._frames = handler

    def send(self, op: list[Any]) -> None:
        """Queue `[kind, ...]` (JSON values) for the other instances."""
        self._out.append(_dumps(op))
        self._wake.set()

    def write(self, command: Callable[[Any], None]) -> None:
        """Redis writes (`command(pipeline)`) to run before the next publish, so what is
        sent after them is heard after they are done (storage/redis/online.py)."""
        self._writes.append(command)
        self._wake.set()

    def last_write(self) -> Callable[[Any], None] | None:
        """The write queued last, still waiting for the next publish (None: none waits)."""
        return self._writes[-1] if self._writes else None

    def send_frame(self, user_ids: Iterable[int], text: str, pos: int | None) -> None:
        if "\n" in text:  # not from ws/events.encode: sent escaped rather than cut in two
            self.send(["F", list(user_ids), pos, text])
            return
        self._out.append(f"{_dumps(['f', list(user_ids), pos])}\n{text}")
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._out or self._writes:
                await self.flush()

    async def flush(self) -> None:
        """Publish what is queued now (also a stop, after `run` was cancelled)."""
        ops, self._out = self._out, []
        writes, self._writes = self._writes, []
        if not ops:
            await self._publish([], writes)
        for start in range(0, len(ops), MAX_BATCH):
            await self._publish(ops[start:start + MAX_BATCH], writes if start == 0 else [])

    async def _publish(self, ops: list[str], writes: list[Callable[[Any], None]]) -> None:
        if not ops and not writes:
            return
        payload = "\n".join([self.instance_id, *ops]).encode() if ops else None
        try:
            await self._bus.publish(CHANNEL, payload, writes)
            if self._lost:
                self._tell_gap()
        except BusUnavailable:
            self._dropped(ops)
        except Exception:  # a bug must not end the relay: later operations still cross
            self._bus.refusals += bool(writes)  # lost: the next heartbeat writes them again
            self._dropped(ops)
            log.exception("publishing to the other instances failed")

    def _dropped(self, ops: list[str]) -> None:
        if not ops:  # only writes: the next heartbeat writes every state again
            return
        # Only frames with a position count: a resume brings those back; typing and presence
        # are live only, and are not replayed by any means.
        self.dropped += len(ops)
        self._lost = True
        for op in ops:
            if self._gap is None:
                return
            if op.startswith('["f",') or op.startswith('["F",'):
                header = json.loads(op.split("\n", 1)[0])
                users, pos = header[1], header[2]
                if pos is None:
                    continue
                for uid in users:
                    if pos > self._gap.get(uid, 0):
                        self._gap[uid] = pos
                if len(self._gap) > MAX_GAP_USERS:
                    self._gap = None

    def _restored(self) -> None:
        if self._lost:
            self._tell_gap()

    def _tell_gap(self) -> None:
        # Publishing works again after frames were dropped (this instance's own link to
        # Redis may have been the only one broken, so the others may not know): it names
        # the users whose stream frames were dropped, with the last position dropped, and
        # the sockets that have not got that far resume (ws/cluster.py).
        gap, self._gap, self._lost = self._gap, {}, False
        self.send(["gap", None if gap is None else sorted(gap.items())])

    def _received(self, payload: bytes) -> None:
        if payload.startswith(self._own):
            return  # our own, back from Redis: not even decoded
        lines = payload.decode().split("\n")
        sender = lines[0]
        i, n = 1, len(lines)
        while i < n:
            op = json.loads(lines[i])
            i += 1
            kind = op[0]
            try:
                if kind == "f":
                    text = lines[i]
                    i += 1
                    if self._frames is not None:
                        self._frames(op[1], text, op[2])
                elif kind == "F":
                    if self._frames is not None:
                        self._frames(op[1], op[3], op[2])
                else:
                    for handler in self._handlers.get(kind, ()):
                        try:
                            handler(sender, op)
                        except Exception:  # one failing listener does not stop the others
                            log.exception("relay handler for %r failed", kind)
            except Exception:  # one failing listener does not stop the others
                log.exception("relay handler for %r failed", kind)

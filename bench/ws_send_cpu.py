"""`python -m bench.ws_send_cpu [--sends N] [--burst B]`: µs of this process's CPU per chat
send, in process, from the frame's text to the ack and the room's `newMessage` frames.

The chat benchmark's CPU per delivery swings with the machine's load: a server that falls
behind commits bigger batches and collects more garbage, so two versions compared on a
shared machine often run in different regimes. This does not: it starts the embedded
databases in a temporary directory, builds the services as run.py does, puts ten users in a
room with one socket each (uvicorn's protocol with Nirvana's direct writes, on a transport
that counts bytes instead of writing them), and feeds each send's text frame to the same
code the endpoint runs (`ServerConnection.receive`, the command table, the pipeline):
validation, checks, the writer's commit to the real store, the fan-out and the ack. Left
out: reading frames off sockets and the write system calls (the same for any version: the
fan-out floor), and the store's own CPU (another process). `burst` sends are offered at once
(round robin over the room) and answered before the next burst, so every version commits
batches of the same size. It counts the writes the sockets make as well as the frames (a
delivery pass writes several frames at once, ws/transport.py). With `--sockets` the writes
go to real loopback sockets (a thread of its own reads and drops them), so the system calls
are in: then the CPU is the event loop's thread's alone (`time.thread_time`); when that
thread falls behind, a socket pauses and queues as behind a slow peer, and a sender task
per socket (as the endpoint's) writes what queued. Run it from a source tree (`cd TREE && python -m bench.ws_send_cpu`)
to measure that tree. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import selectors
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.server import ServerState
from websockets.protocol import State

from nirvana.bootstrap import build_services
from nirvana.serving import loop_factory, tune_gc
from nirvana.settings import Settings
from nirvana.wiring.stores import open_stores
from nirvana.ws.command_table import run as run_command
from nirvana.ws.connection import Connection
from nirvana.ws.protocol import Limits, ServerConnection
from nirvana.ws.transport import DirectSendProtocol

from .embedded import throwaway_stores

ROOM = 10


class CountingTransport:
    """Takes what the socket would write, counting its writes and the frames in them; hands
    it on to `real` (a loopback socket's transport) when there is one."""

    def __init__(self, wrote: Any, real: asyncio.Transport | None = None) -> None:
        self._wrote = wrote
        self._real = real

    def write(self, data: bytes) -> None:
        if self._real is not None:
            self._real.write(data)
        self._wrote(frames_in(data))

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._real.get_write_buffer_limits() if self._real else (16 << 10, 64 << 10)

    def get_write_buffer_size(self) -> int:
        return self._real.get_write_buffer_size() if self._real else 0


class FlowControl(asyncio.Protocol):
    """The loopback transport's protocol: hands its pauses on to the socket's, so a drain
    thread that falls behind pauses the socket as a slow peer does (frames then queue, and
    the socket's sender task writes them) instead of growing the buffer without bound."""

    socket: DirectSendProtocol | None = None

    def pause_writing(self) -> None:
        if self.socket is not None:
            self.socket.pause_writing()

    def resume_writing(self) -> None:
        if self.socket is not None:
            self.socket.resume_writing()


async def send_queued(conn: Connection, protocol: DirectSendProtocol) -> None:
    """The endpoint's sender task (ws/endpoint.py): what the socket queued, once writable."""
    while (text := await conn.next()) is not None:
        conn.sending = True
        try:
            await protocol.send({"type": "websocket.send", "text": text})
        finally:
            conn.sending = False


def frames_in(data: bytes) -> int:
    """How many frames a server wrote in `data` (headers only: their lengths)."""
    frames, at, end = 0, 0, len(data)
    while at < end:
        length = data[at + 1] & 0x7F
        if length == 126:
            length, at = struct.unpack_from("!H", data, at + 2)[0], at + 4
        elif length == 127:
            length, at = struct.unpack_from("!Q", data, at + 2)[0], at + 10
        else:
            at += 2
        at += length
        frames += 1
    return frames


class Drain:
    """The far ends of the loopback sockets, read and dropped by a thread of its own."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def pair(self) -> socket.socket:
        near, far = socket.socketpair()
        far.setblocking(False)
        self._selector.register(far, selectors.EVENT_READ)
        return near

    def _run(self) -> None:
        while not self._stop:
            for key, _ in self._selector.select(0.1):
                try:
                    key.fileobj.recv(1 << 20)  # type: ignore[union-attr]
                except BlockingIOError:
                    pass

    def stop(self) -> None:
        self._stop = True
        self._thread.join()


def open_socket(wrote: Any, real: asyncio.Transport | None = None) -> DirectSendProtocol:
    async def app(scope: Any, receive: Any, send: Any) -> None:  # frames are fed directly
        raise AssertionError

    config = uvicorn.Config(app, ws=DirectSendProtocol, lifespan="off")
    config.load()
    protocol = DirectSendProtocol(config, ServerState(), {})
    protocol.transport = CountingTransport(wrote, real)  # type: ignore[assignment]
    protocol.handshake_complete = True
    protocol.conn.state = State.OPEN
    return protocol


async def room_of(services: Any, size: int = ROOM) -> tuple[list[int], str]:
    """`size` users (at most a group's limit), friends of the first, in a group he made."""
    users = []
    for n in range(size):
        session = await services.accounts.sign_up(
            f"cpu-{secrets.token_hex(4)}-{n}@example.com", None, f"Bench {n}", "x" * 12 + "Aa1!")
        users.append(services.accounts.authenticate(session.access_token).user_id)
    owner, others = users[0], users[1:]
    for other in others:
        await services.social.send_friend_request(owner, other)
        await services.social.send_friend_request(other, owner)
    group = await services.chat.create_group(owner, "bench room", others)
    return users, group.id


async def connected(services: Any, user_id: int, limits: Limits) -> Connection:
    """A socket of `user_id` registered with the hub, live from the head, as the endpoint
    registers one (its `direct` writes are the caller's to set)."""
    conn = Connection(user_id, "bench", limits.outgoing_queue, limits.inflight_sends)
    conn.begin_resume()
    await services.hub.connected(conn)
    conn.start_live(await services.chat.head())
    conn.end_resume(conn.sent_pos)
    return conn


async def run(sends: int, burst: int, database_url: str, mongodb_url: str,
              data_dir: Path, sockets_: bool) -> None:
    settings = Settings(data_dir=data_dir, mongodb_db=f"ws_send_cpu_{secrets.token_hex(4)}")
    pool, mongo = await open_stores(settings, database_url=database_url,
                                    mongodb_url=mongodb_url)
    services = build_services(settings, pool, mongo, secret="b" * 48)
    drain = Drain() if sockets_ else None
    senders: list[asyncio.Task[None]] = []
    try:
        users, room = await room_of(services)
        written = writes = 0
        waiting: tuple[int, asyncio.Future[None]] | None = None
        loop = asyncio.get_running_loop()

        def wrote(frames: int) -> None:
            nonlocal written, writes
            written += frames
            writes += 1
            if waiting is not None and written >= waiting[0] and not waiting[1].done():
                waiting[1].set_result(None)

        limits = Limits(commands_per_second=1e9, command_burst=10**9, inflight_sends=burst)
        sockets = []
        protocols: list[DirectSendProtocol] = []
        for uid in users:
            conn = await connected(services, uid, limits)
            real = flow = None
            if drain is not None:
                real, flow = await loop.create_connection(FlowControl, sock=drain.pair())
            protocol = open_socket(wrote, real)
            if flow is not None:
                flow.socket = protocol
            conn.direct = protocol.send_now
            sockets.append((conn, ServerConnection(limits, time.monotonic)))
            protocols.append(protocol)
        await asyncio.sleep(0.5)  # presence and online lists settle before measuring
        for conn, _ in sockets:  # what the sender task would have sent by now
            while conn.queued_frames:
                await conn.next()
        senders = [loop.create_task(send_queued(conn, protocol))
                   for (conn, _), protocol in zip(sockets, protocols)]
        nonce = secrets.token_hex(4)

        async def offer(first: int, count: int) -> None:
            nonlocal waiting
            waiting = (written + count * (ROOM + 1), asyncio.get_running_loop().create_future())
            for n in range(first, first + count):
                conn, protocol = sockets[n % ROOM]
                text = json.dumps({"type": "send", "id": f"r{n}", "conversation_id": room,
                                   "client_id": f"{nonce}|{n}", "text": "x" * 80})
                await run_command(services.chat, conn, protocol.receive(text))
            try:
                await asyncio.wait_for(waiting[1], 30)
            except TimeoutError:
                raise RuntimeError(f"{written} frames written of {waiting[0]} expected: "
                                   "an error answered a send, or a socket closed") from None

        for first in range(0, 10 * burst, burst):  # warm up: caches, seqs, connections
            await offer(first, burst)
        nonce = secrets.token_hex(4)
        tune_gc()  # as run.py does before serving
        clock = time.thread_time if sockets_ else time.process_time
        cpu0, wall0, frames0, writes0 = clock(), time.perf_counter(), written, writes
        for first in range(0, sends, burst):
            await offer(first, burst)
        cpu, wall = clock() - cpu0, time.perf_counter() - wall0
        done = sends - sends % burst
        print(f"{done} sends in bursts of {burst} to a room of {ROOM}"
              f"{' (real sockets, loop thread CPU)' if sockets_ else ''}: "
              f"{cpu * 1e6 / done:.1f} µs CPU per send "
              f"({cpu * 1e6 / done / ROOM:.1f} per delivery), "
              f"{wall * 1e6 / done:.1f} µs wall per send (this process only); "
              f"{(writes - writes0) / done:.2f} writes per send for "
              f"{(written - frames0) / done:.0f} frames", flush=True)
    finally:
        for task in senders:
            task.cancel()
        await services.close()
        if drain is not None:
            drain.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ws_send_cpu", description=__doc__)
    parser.add_argument("--sends", type=int, default=20_000)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1, help="measure this many times")
    parser.add_argument("--sockets", action="store_true",
                        help="write to real loopback sockets (system calls included)")
    args = parser.parse_args()
    with throwaway_stores("nirvana-ws-send-cpu-", postgres=True) as stores:
        for _ in range(args.rounds):
            with asyncio.Runner(loop_factory=loop_factory("uvloop")) as runner:
                runner.run(run(args.sends, args.burst, stores.database_url, stores.mongodb_url,
                               stores.root / "data", args.sockets))


if __name__ == "__main__":
    main()

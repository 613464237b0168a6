"""`python -m bench.receipt_cpu [--room N] [--messages M]`: µs of this process's CPU per
`delivered` receipt, in process, from the command's text to its ack, its `receipt` frames
and the marker's `conversation.updated`.

As `bench.ws_send_cpu` (whose sockets and room it uses): the embedded databases in a
temporary directory, the services built as run.py builds them, one socket per member of a
group of `room` (on transports that count frames instead of writing them), each command's
text fed to the code the endpoint runs. Each of `messages` sends is followed, as clients
that answer every message do (docs/protocol.md, *Receipts*), by a `delivered` for it from
every other member at once: one run of `room - 1` marks of one conversation, each a
connection's command awaited as the endpoint awaits it. Only the receipts' CPU is counted
(the send before each is not), until every mark is acked and its `room + 2` frames are
written (its ack, a `receipt` to each member, the marker's `conversation.updated`). Left
out: the socket reads and writes, and the store's own CPU (another process). Run it from a
source tree (`cd TREE && python -m bench.receipt_cpu`) to measure that tree. Measures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from pathlib import Path

from nirvana.bootstrap import build_services
from nirvana.serving import loop_factory, tune_gc
from nirvana.settings import Settings
from nirvana.wiring.stores import open_stores
from nirvana.ws.command_table import run as run_command
from nirvana.ws.protocol import Limits, ServerConnection

from .embedded import throwaway_stores
from .ws_clients import room_size
from .ws_send_cpu import connected, open_socket, room_of

WARM_UP = 10  # messages, and their receipts, before measuring: caches, seqs, connections


async def run(size: int, messages: int, database_url: str, mongodb_url: str,
              data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, mongodb_db=f"receipt_cpu_{secrets.token_hex(4)}")
    pool, mongo = await open_stores(settings, database_url=database_url,
                                    mongodb_url=mongodb_url)
    services = build_services(settings, pool, mongo, secret="b" * 48)
    try:
        users, room = await room_of(services, size)
        written = 0
        waiting: tuple[int, asyncio.Future[None]] | None = None

        def wrote(frames: int) -> None:
            nonlocal written
            written += frames
            if waiting is not None and written >= waiting[0] and not waiting[1].done():
                waiting[1].set_result(None)

        limits = Limits(commands_per_second=1e9, command_burst=10**9)
        sockets = []
        for uid in users:
            conn = await connected(services, uid, limits)
            protocol = open_socket(wrote)
            conn.direct = protocol.send_now
            sockets.append((conn, ServerConnection(limits, time.monotonic)))
        await asyncio.sleep(0.5)  # presence and online lists settle before measuring
        for conn, _ in sockets:  # what the sender task would have sent by now
            while conn.queued_frames:
                await conn.next()
        nonce = secrets.token_hex(4)

        async def frames(count: int, what: str) -> None:
            nonlocal waiting
            assert waiting is not None
            try:
                await asyncio.wait_for(waiting[1], 30)
            except TimeoutError:
                raise RuntimeError(f"{what}: {written} frames written of {waiting[0]} "
                                   "expected: an error answered a command") from None

        async def mark(n: int, seq: int) -> None:
            conn, protocol = sockets[n]
            text = json.dumps({"type": "delivered", "id": f"d{seq}", "conversation_id": room,
                               "seq": seq})
            await run_command(services.chat, conn, protocol.receive(text))

        async def message(n: int) -> float:
            """One send, then every other member's `delivered` for it; the CPU of those."""
            nonlocal waiting
            sender = n % size
            conn, protocol = sockets[sender]
            waiting = (written + size + 1, asyncio.get_running_loop().create_future())
            text = json.dumps({"type": "send", "id": f"s{n}", "conversation_id": room,
                               "client_id": f"{nonce}|{n}", "text": "x" * 80})
            await run_command(services.chat, conn, protocol.receive(text))
            await frames(size + 1, "send")
            seq = n + 1
            cpu0 = time.process_time()
            waiting = (written + (size - 1) * (size + 2),
                       asyncio.get_running_loop().create_future())
            await asyncio.gather(*(mark(m, seq) for m in range(size) if m != sender))
            await frames((size - 1) * (size + 2), "receipts")
            return time.process_time() - cpu0

        for n in range(WARM_UP):
            await message(n)
        tune_gc()  # as run.py does before serving
        cpu = sum([await message(n) for n in range(WARM_UP, WARM_UP + messages)])
        receipts = messages * (size - 1)
        print(f"{receipts} receipts ({messages} messages, each marked delivered by the "
              f"{size - 1} others) in a room of {size}: "
              f"{cpu * 1e6 / receipts:.1f} µs CPU per receipt, "
              f"{cpu * 1e6 / messages / size:.1f} per delivery of a message "
              "(its receipts' CPU over its room)", flush=True)
    finally:
        await services.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.receipt_cpu", description=__doc__)
    parser.add_argument("--room", type=room_size, default=10,
                        help="members of the group (2-256)")
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1, help="measure this many times")
    args = parser.parse_args()
    with throwaway_stores("nirvana-receipt-cpu-", postgres=True) as stores:
        for _ in range(args.rounds):
            with asyncio.Runner(loop_factory=loop_factory("uvloop")) as runner:
                runner.run(run(args.room, args.messages, stores.database_url,
                               stores.mongodb_url, stores.root / "data"))


if __name__ == "__main__":
    main()

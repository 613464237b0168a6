"""What an instance spends on frames published by another one (docs/deployment.md): the
receive side of the relay, with one instance holding every recipient against two holding
half each.

    .venv/bin/python bench/instances_fanout.py [users] [frames] [repetitions]

Starts a throwaway redis-server; a publishing relay sends `frames` newMessage-sized frames,
each to a room of 10 users (as the chat writer's instance does), to receiving instances: a
real `Hub` with a real `Connection` per user whose socket takes every frame at once. Times
what each receiving instance spends handling the relay's messages (decode once, look up the
listed users, queue on their sockets), per delivery and per frame. Users are spread over the
two instances alternately, so every room has members on both. Measures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from nirvana.storage.redis.bus import RedisBus
from nirvana.storage.redis.relay import Relay
from nirvana.ws.connection import Connection
from nirvana.ws.hub import Hub

ROOM = 10
FRAME = ('{"type":"newMessage","pos":%d,"message":{"id":"66d5718bcec85adc86de1b553c809c68",'
         '"conversation_id":"45816fa9d1d742a58458d3a34f99c144","seq":%d,"pos":%d,'
         '"sender_id":%d,"client_id":"c%d","kind":"text","text":"%s","attachments":[],'
         '"reply_to":null,"created_at":"2026-12-04T18:41:35.329000+00:00","deleted":false}}')


class NoFriends:
    async def friend_ids(self, user_id: int) -> set[int]:
        return set()


class TimedRelay(Relay):
    """A relay that adds up the time spent handling what arrives."""

    spent = 0.0
    messages = 0

    def _received(self, payload: bytes) -> None:
        start = time.perf_counter()
        super()._received(payload)
        self.spent += time.perf_counter() - start
        self.messages += 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(work: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([shutil.which("redis-server") or "/usr/bin/redis-server",
                             "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(work)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


async def one_pass(url: str, users: int, frames: int, instances: int) -> list[dict]:
    prefix = f"nirvana:bench_{secrets.token_hex(4)}:"
    publisher_bus = RedisBus(url, prefix=prefix, instance_id="writer")
    publisher = Relay(publisher_bus)
    receivers = []
    for n in range(instances):
        bus = RedisBus(url, prefix=prefix, instance_id=f"instance{n}")
        relay = TimedRelay(bus)
        hub = Hub(NoFriends())
        relay.on_frames(hub.deliver_here)
        delivered = [0]

        def take(text: str, delivered=delivered) -> bool:
            delivered[0] += 1
            return True
        held = [u for u in range(users) if u % instances == n]
        for uid in held:
            conn = Connection(uid, f"s{uid}", max_queue=10)
            await hub.connected(conn)
            await conn.next()  # the online list queued on connect
            conn.direct = take
        receivers.append((bus, relay, delivered, len(held)))
    for bus in [publisher_bus, *(r[0] for r in receivers)]:
        await bus.start()
    runner = asyncio.get_running_loop().create_task(publisher.run())
    text = "a message of a usual length, some forty to sixty characters long"
    for i in range(frames):
        sender = (i * 7) % users
        room = sender - sender % ROOM
        publisher.send_frame(range(room, min(room + ROOM, users)),
                             FRAME % (i + 1, i + 1, i + 1, sender, i, text), i + 1)
        if i % 200 == 199:
            await asyncio.sleep(0)  # let the relay publish what accumulated, as under load
    expected = frames * ROOM
    deadline = time.monotonic() + 60
    while sum(r[2][0] for r in receivers) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    runner.cancel()
    out = []
    for bus, relay, delivered, held in receivers:
        out.append({"held": held, "deliveries": delivered[0], "messages": relay.messages,
                    "us_per_delivery": relay.spent * 1e6 / max(1, delivered[0]),
                    "us_per_frame": relay.spent * 1e6 / frames,
                    "ms_total": relay.spent * 1e3})
        await bus.close()
    await publisher_bus.close()
    return out


async def main(users: int, frames: int, repetitions: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="nirvana-bench-instances-"))
    proc, url = start_redis(work)
    try:
        for instances in (1, 2):
            passes = [await one_pass(url, users, frames, instances)
                      for _ in range(repetitions)]
            for n in range(instances):
                runs = [p[n] for p in passes]
                print(f"{instances} instance(s), instance {n}: holds {runs[0]['held']} of "
                      f"{users} users; {frames} frames to rooms of {ROOM}: "
                      f"{median(r['deliveries'] for r in runs):,.0f} deliveries, "
                      f"{median(r['us_per_delivery'] for r in runs):.2f} µs/delivery, "
                      f"{median(r['us_per_frame'] for r in runs):.2f} µs/frame received, "
                      f"{median(r['ms_total'] for r in runs):.0f} ms in all "
                      f"(median of {repetitions}; in {median(r['messages'] for r in runs):.0f}"
                      f" bus messages)")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [2000, 20000, 5][len(args):])))

"""What many first devices at once cost the instance they connect to, in the relay batch
their `on`s go in (ws/cluster.py `came_online`/`went_offline`, ws/online_sets.py
StoredStates, storage/redis/online.py): since a new session's first device stores its
`online` (stamped) in the MULTI of its `on`, and its last close removes it in the MULTI of
its `off`, a burst of N such connects adds 2N commands to that MULTI, and no round trip.

    .venv/bin/python -m bench.connect_burst --redis redis://127.0.0.1:6379/0
        [--burst 1,100,1000] [--rounds 50] [--out FILE.json]

For each burst size, runs `rounds` bursts of that many users' first devices anywhere (as
`Hub.connected` does: `PresenceFanout.began`, where the tree has it, then `came_online`)
through a real HubAcrossInstances on a real Relay and RedisBus, and flushes the batch; then
closes them all (`went_offline`) and flushes. Times each burst's work and its flush (wall
and CPU, `process_time`). Run the same file on two trees for an A/B (PYTHONPATH). Measures;
asserts nothing. Figures: docs/performance.md, "A new session's online in its on's MULTI".
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import secrets
import statistics
import time
from typing import Any

from nirvana.storage.redis.bus import RedisBus
from nirvana.storage.redis.online import RedisOnlineSets
from nirvana.storage.redis.relay import Relay
from nirvana.ws.cluster import HubAcrossInstances
from nirvana.ws.hub import Hub
from nirvana.ws.presence import PresenceFanout


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


async def timed(work: Any, relay: Relay) -> tuple[float, float, float, float]:
    """(work wall, work CPU, flush wall, flush CPU) in ms."""
    w, c = time.perf_counter(), time.process_time()
    work()
    ww, wc = time.perf_counter() - w, time.process_time() - c
    w, c = time.perf_counter(), time.process_time()
    await relay.flush()
    return ww * 1000, wc * 1000, (time.perf_counter() - w) * 1000, \
        (time.process_time() - c) * 1000


async def measure(url: str, bursts: list[int], rounds: int) -> dict[str, Any]:
    bus = RedisBus(url, prefix=f"bench_{secrets.token_hex(4)}:", instance_id="a")
    await bus.start()
    relay, out = Relay(bus), {}
    held: set[int] = set()
    hub = Hub(None)  # type: ignore[arg-type]  # no friends read: came_online is timed
    fanout = PresenceFanout(None, online=held.__contains__,  # type: ignore[arg-type]
                            send=lambda ids, text: None)
    hub.presence = fanout
    cluster = HubAcrossInstances(hub, relay, RedisOnlineSets(bus, relay), bus_up=lambda: True)
    began = getattr(fanout, "began", None)  # absent before the change
    # A first device anywhere: told so since presence3's fix round; absent before.
    first = ({"began": True} if "began" in inspect.signature(HubAcrossInstances.came_online)
             .parameters else {})
    next_user = 1
    try:
        for size in bursts:
            on: list[tuple[float, ...]] = []
            off: list[tuple[float, ...]] = []
            for _ in range(rounds):
                users = list(range(next_user, next_user + size))
                next_user += size

                def connect() -> None:
                    for user_id in users:
                        held.add(user_id)
                        if began is not None:
                            began(user_id)
                        cluster.came_online(user_id, set(), **first)

                def close() -> None:
                    for user_id in users:
                        held.discard(user_id)
                        cluster.went_offline(user_id, set())

                on.append(await timed(connect, relay))
                off.append(await timed(close, relay))
            for name, got in (("connect", on), ("close", off)):
                out[f"{name} {size}"] = {
                    "work_ms": median([g[0] for g in got]),
                    "work_cpu_ms": median([g[1] for g in got]),
                    "flush_ms": median([g[2] for g in got]),
                    "flush_cpu_ms": median([g[3] for g in got]),
                    "flush_p90_ms": round(sorted(g[2] for g in got)[int(rounds * 0.9)], 3)}
        keys = [k async for k in bus.redis.scan_iter(match=bus.prefix + "*")]
        if keys:
            await bus.redis.delete(*keys)
    finally:
        await bus.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--burst", default="1,100,1000")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--out")
    args = parser.parse_args()
    bursts = [int(b) for b in args.burst.split(",")]
    result = asyncio.run(measure(args.redis, bursts, args.rounds))
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "result": result}, f, indent=1)


if __name__ == "__main__":
    main()

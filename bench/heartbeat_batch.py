"""What a heartbeat costs the event loop and the relay batch it goes in (ws/online_sets.py
StoredStates, storage/redis/online.py, relay.py): the chat frames queued with it are
published only after its MULTI, and every socket of the instance waits while the loop
builds it.

    .venv/bin/python -m bench.heartbeat_batch --redis redis://127.0.0.1:6379/0
        [--kept 0,100,1000,5000] [--users 10000] [--rounds 200] [--out FILE.json]

For each number of users kept away (of `users` held), runs `rounds` heartbeats as
HubAcrossInstances.beat() does (StoredStates.beat over a real PresenceFanout, then the
`hb`), each with one chat frame, through a real Relay on a real RedisBus; `plain` is a
normal beat (the set, the hash's expiry renewed), `full` one that rewrites the hash (after
a restore, a refused write, and every FULL_EVERY beats). Times the beat (wall and CPU,
`process_time`) and the flush that publishes the batch (wall and CPU: the rest of its wall
is the wait on Redis), against a batch of the frame alone. Measures; asserts nothing.
Figures: docs/performance.md, "A heartbeat in the relay's MULTI".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import time
from typing import Any

from nirvana.domain.presence import PresenceState
from nirvana.storage.redis.bus import RedisBus
from nirvana.storage.redis.online import RedisOnlineSets
from nirvana.storage.redis.relay import Relay
from nirvana.ws.online_sets import FULL_EVERY, StoredStates
from nirvana.ws.presence import PresenceFanout


def fanout(users: int, kept: int) -> PresenceFanout:
    """States as an instance holds them: `kept` of its `users` away, the rest online."""
    held = set(range(users))
    states = PresenceFanout(None, online=held.__contains__,  # type: ignore[arg-type]
                            send=lambda ids, text: None)
    for user_id in range(kept):
        states.set_elsewhere(user_id, PresenceState.AWAY)
    return states


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


async def rounds_of(relay: Relay, stored: StoredStates | None, users: list[int], full: bool,
                    rounds: int, frame: str) -> dict[str, Any]:
    beat_wall, beat_cpu, flush_wall, flush_cpu = [], [], [], []
    for seq in range(rounds):
        w, c = time.perf_counter(), time.process_time()
        if stored is not None:
            if full:
                stored.rewrite_next()
            stored.beat(seq, users)
            relay.send(["hb", seq])
        beat_wall.append((time.perf_counter() - w) * 1000)
        beat_cpu.append((time.process_time() - c) * 1000)
        relay.send_frame([1], frame, seq)
        w, c = time.perf_counter(), time.process_time()
        await relay.flush()
        flush_wall.append((time.perf_counter() - w) * 1000)
        flush_cpu.append((time.process_time() - c) * 1000)
    return {"beat_ms": median(beat_wall), "beat_cpu_ms": median(beat_cpu),
            "flush_ms": median(flush_wall), "flush_cpu_ms": median(flush_cpu),
            "loop_cpu_ms": median([b + f for b, f in zip(beat_cpu, flush_cpu)]),
            "flush_p90_ms": round(sorted(flush_wall)[int(rounds * 0.9)], 3)}


async def measure(url: str, kept_counts: list[int], users: int, rounds: int) -> dict:
    bus = RedisBus(url, prefix=f"bench_{secrets.token_hex(4)}:", instance_id="a")
    await bus.start()
    relay, out = Relay(bus), {}
    sets = RedisOnlineSets(bus, relay)
    frame = '{"type":"message","text":"' + "x" * 200 + '"}'
    held = list(range(users))
    try:
        out["frame alone"] = await rounds_of(relay, None, held, False, rounds, frame)
        for kept in kept_counts:
            stored = StoredStates(sets, "a", 5.0, fanout(users, kept).stamped,
                                  heartbeat=2.0)
            for full in (False, True):
                # FULL_EVERY: a plain round's median leaves out its one full beat in 30.
                out[f"hb, {kept} kept, {'full' if full else 'plain'}"] = await rounds_of(
                    relay, stored, held, full, rounds, frame)
        out["full_every"] = FULL_EVERY
        await bus.redis.delete(*[k async for k in bus.redis.scan_iter(match=bus.prefix + "*")])
    finally:
        await bus.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--kept", default="0,100,1000,5000")
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--out")
    args = parser.parse_args()
    kept = [int(k) for k in args.kept.split(",")]
    result = asyncio.run(measure(args.redis, kept, args.users, args.rounds))
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "result": result}, f, indent=1)


if __name__ == "__main__":
    main()

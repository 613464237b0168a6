"""What a heartbeat costs the relay batch it goes in (storage/redis/online.py, relay.py):
the chat frames queued with it are published only after its MULTI (the set, the hash of
every user held whose state is not `online`, the `hb`).

    .venv/bin/python -m bench.heartbeat_batch --redis redis://127.0.0.1:6379/0
        [--kept 0,100,1000,5000] [--users 10000] [--rounds 200] [--out FILE.json]

For each number of kept states, flushes `rounds` batches of one heartbeat and one chat
frame through a real Relay on a real RedisBus, and times each flush (the wait of that
frame), against a batch of the frame alone. Measures; asserts nothing. Figures:
docs/performance.md, "A heartbeat in the relay's MULTI".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import time

from nirvana.storage.redis.bus import RedisBus
from nirvana.storage.redis.online import RedisOnlineSets
from nirvana.storage.redis.relay import Relay


async def measure(url: str, kept_counts: list[int], users: int, rounds: int) -> dict:
    bus = RedisBus(url, prefix=f"bench_{secrets.token_hex(4)}:", instance_id="a")
    await bus.start()
    relay, out = Relay(bus), {}
    sets = RedisOnlineSets(bus, relay)
    frame = '{"type":"message","text":"' + "x" * 200 + '"}'
    try:
        for kept in [None, *kept_counts]:
            times = []
            states = {u: ("away", 1_796_000_000_000) for u in range(kept or 0)}
            for seq in range(rounds):
                if kept is not None:
                    sets.put("a", seq, list(range(users)), states, 5.0)
                    relay.send(["hb", seq])
                relay.send_frame([1], frame, seq)
                start = time.perf_counter()
                await relay.flush()
                times.append((time.perf_counter() - start) * 1000)
            times.sort()
            out["frame alone" if kept is None else f"hb, {kept} kept"] = {
                "median_ms": round(statistics.median(times), 3),
                "p90_ms": round(times[int(len(times) * 0.9)], 3)}
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

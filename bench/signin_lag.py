"""`taskset -c 0 python -m bench.signin_lag`: event-loop lag while argon2 verifications run,
for each (hashing threads, niceness) choice, alternated in one run. Run it pinned to one
core: that is where the sign-in benchmark puts the server. The numbers behind the choice in
`nirvana.security.Argon2Hasher`."""

from __future__ import annotations

import asyncio
import time

from nirvana.security import Argon2Hasher

CHOICES = [(4, 0), (4, 19), (2, 19), (1, 19), (1, 0)]


async def run(threads: int, niceness: int, duration: float = 4.0) -> tuple[float, float, float]:
    hasher = Argon2Hasher(concurrency=threads, niceness=niceness)
    stored = await hasher.hash("correct horse battery")
    stop = time.perf_counter() + duration
    done = 0
    lags: list[float] = []

    async def sign_ins() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await hasher.verify(stored, "correct horse battery")
            done += 1

    async def probe() -> None:
        while time.perf_counter() < stop:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append((time.perf_counter() - t - 0.01) * 1000)

    await asyncio.gather(probe(), *(sign_ins() for _ in range(8)))
    lags.sort()
    return done / duration, lags[len(lags) // 2], lags[int(len(lags) * 0.99)]


async def main() -> None:
    for _ in range(2):
        for threads, niceness in CHOICES:
            rate, p50, p99 = await run(threads, niceness)
            print(f"threads={threads} nice={niceness:2d}  verifications/s={rate:5.1f}  "
                  f"lag p50={p50:5.2f} ms  p99={p99:6.2f} ms", flush=True)


if __name__ == "__main__":
    asyncio.run(main())

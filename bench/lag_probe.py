"""`python -m bench.lag_probe WS_URL`: the event-loop lag probe, in a process of its own.

It holds one authenticated WebSocket (token on stdin) and sends a WebSocket ping every
10 ms. uvicorn answers a ping from its protocol callback, so the round trip is how long
Nirvana's event loop took to get to it, plus the loopback: an upper bound of the loop's lag.
Each sample is printed as `<time.monotonic()> <round trip ms>`, a clock shared by every
process on the machine, so the benchmark picks the samples of each load step.

Why its own process: inside the load generator the probe's timer waited behind thousands
of deliveries to parse and measured the generator's lag, not the server's; and why its own
account: a socket that is sent chat frames must read them, or its client stops reading the
socket and never sees a pong. With no token (an empty line on stdin) it probes the fan-out
floor (bench/ceilings/fanout.py) instead: a room of its own, no hello. The floor runs the
same probe as Nirvana so both servers answer the same 100 pings a second and their CPU per
delivery compares like with like.
"""

from __future__ import annotations

import asyncio
import sys
import time


async def probe(ws_url: str, token: str, every: float = 0.01) -> None:
    from websockets.asyncio.client import connect

    path = f"/ws?token={token}" if token else "/lag-probe"
    async with connect(f"{ws_url}{path}", compression=None, ping_interval=None) as ws:
        if token:
            await ws.recv()  # Nirvana's hello
        while True:
            started = time.monotonic()
            await asyncio.wait_for(await ws.ping(), 30)
            done = time.monotonic()
            sys.stdout.write(f"{done:.6f} {(done - started) * 1000:.3f}\n")
            sys.stdout.flush()
            await asyncio.sleep(every)


class LagProbe:
    """Runs `bench.lag_probe` as a child process; `samples(since, until)` the round trips
    (ms) measured between two `time.monotonic()` readings. `token=None`: the fan-out floor."""

    def __init__(self, ws_url: str, token: str | None) -> None:
        self.ws_url, self.token = ws_url, token
        self._samples: list[tuple[float, float]] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.lag_probe", self.ws_url,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert self._proc.stdin is not None
        self._proc.stdin.write((self.token or "").encode() + b"\n")
        await self._proc.stdin.drain()
        self._proc.stdin.close()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for line in self._proc.stdout:
            at, rtt = line.split()
            self._samples.append((float(at), float(rtt)))

    def samples(self, since: float, until: float) -> list[float]:
        return [rtt for at, rtt in self._samples if since <= at <= until]

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            await self._proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


if __name__ == "__main__":
    try:
        asyncio.run(probe(sys.argv[1], sys.stdin.readline().strip()))
    except KeyboardInterrupt:
        pass

"""Profile the fan-out floor (`bench.ceilings.fanout`: `websockets.broadcast`) as
`bench.profile_chat` profiles Nirvana, so the two compare phase by phase.

    .venv/bin/python -m bench.profile_floor [--clients 1000] [--rate 2000] [--seconds 15]
                                            [--gil] [--no-spy] [--probe] [--out DIR]

Starts the floor pinned to the server core, connects `clients` in rooms of 10, runs the
same warm-up and open-loop step as the benchmark and meanwhile records it with
`py-spy record --format raw` (`--gil`: only samples of the thread holding the GIL; py-spy
slows what it samples, so the floor's own figure is the one taken with `--no-spy`). Prints
the step's numbers, the floor's CPU per delivery and per send (user and kernel, /proc) and
its heaviest frames. `--probe`: the benchmark's lag probe (bench/lag_probe.py) pings the
floor during the warm-up and the step, as `bench --only fanout` does; its loop lag p99 is
printed. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .lag_probe import LagProbe
from .profile_chat import top, user_and_kernel_seconds
from .report import percentile
from .servers import CLIENT_CORE, pinning_available, python_server
from .ws_clients import FanoutAdapter
from .ws_load import Load


async def drive(url: str, pid: int, clients: int, rate: float, seconds: float, out: Path,
                gil: bool, spy: bool = True, lag_probe: bool = False) -> None:
    load = Load(FanoutAdapter(url), clients)
    await load.connect()
    probe = LagProbe(FanoutAdapter(url).ws_url, None) if lag_probe else None
    if probe is not None:
        await probe.start()
    try:
        await load.warm_up(99, rate)
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        recorder = None if not spy else subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "100",
             "--duration", str(int(seconds)), "--nonblocking", *(["--gil"] if gil else []),
             "--output", str(out / "floor.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        before, started = user_and_kernel_seconds(pid), time.monotonic()
        step = await load.step(1, rate, seconds, drain=2.0)
        after, ended = user_and_kernel_seconds(pid), time.monotonic()
        if recorder is not None:
            recorder.wait(timeout=60)
    finally:
        if probe is not None:
            await probe.stop()
        await load.close()
    lag = probe.samples(started, ended) if probe is not None else []
    user, kernel = ((a - b) * 1e6 for a, b in zip(after, before))
    sends, deliveries = max(1, step["sends"]), max(1, step["deliveries"])
    print(f"offered {rate:g} sends/s for {seconds:g} s to {clients} clients: "
          f"{step['delivered_per_s']:.0f} delivered/s, p50 {step['p50_ms']} ms, "
          f"p99 {step['p99_ms']} ms, lost {step['lost']}"
          + (f", loop lag p99 {percentile(lag, 99):.1f} ms ({len(lag)} pings)" if lag else ""))
    print(f"  floor: {(user + kernel) / deliveries:.1f} µs CPU per delivery; per send "
          f"{user / sends:.0f} µs user + {kernel / sends:.0f} µs kernel (/proc)")
    path = out / "floor.txt"
    if spy and path.exists():
        print(f"floor ({path}):\n{top(path)}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_floor", description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--gil", action="store_true", help="py-spy --gil")
    parser.add_argument("--no-spy", action="store_true", help="the load without py-spy")
    parser.add_argument("--probe", action="store_true", help="the lag probe during the load")
    parser.add_argument("--out", type=Path,
                        default=Path(tempfile.gettempdir()) / "nirvana-profile-floor")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if pinning_available() is None:
        os.sched_setaffinity(0, {CLIENT_CORE})
    server = python_server("fanout", "bench.ceilings.fanout",
                           Path(tempfile.mkdtemp(prefix="nirvana-floor-")))
    try:
        server.start()
        asyncio.run(drive(server.url, server.pid, args.clients, args.rate, args.seconds,
                          args.out, args.gil, spy=not args.no_spy, lag_probe=args.probe))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

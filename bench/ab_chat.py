"""Two versions of Nirvana's chat, and the seed peer, alternated in one run.

    .venv/bin/python -m bench.ab_chat --a /tmp/nirvana-main [--b .] [--c DIR] [--peer]
        [--rounds 3] [--steps 200,500,1000,2000] [--duration 10] [--clients 1000]
        [--receipts] [--room-size 10] [--no-probe B] [--idle-probe 20]
        [--out bench/results/ab.json]

`--a`, `--b` (and `--c`) are source trees (e.g. `git archive main | tar -x -C /tmp/nirvana-main`);
each runs as `make bench` runs Nirvana (its run.py, embedded databases on a data directory
of its own, pinned to the server core), with this tree's load generator. The passes go
A B [C] [peer] A B [C] [peer] …, so a machine whose load drifts (a shared one) moves all alike;
`uptime`'s load average is recorded with every pass. Prints one line per step and pass and
the medians; writes every number to `--out`. With `--receipts` every Nirvana client answers
each message of someone else's with `delivered` (bench/ws_clients.py); the seed peer has no
receipts, so `--peer` is refused with it. `--room-size` sets the members of each group
conversation (2-256; the clients beyond the last full room are left out). `--no-probe NAME`
runs that version's passes without the event-loop lag probe (bench/lag_probe.py), so with
`--a DIR --b DIR --no-probe B` one tree runs with and without it, alternated: the probe's
share of the CPU per delivery. `--idle-probe SECONDS`, after the passes: the last server's
CPU per second idle, then idle with only the probe pinging it. The users and
rooms are made once, and each version runs on its own copy of that data directory (so a
version that changes the schema converts only its own): Nirvana is restarted from the next
version's tree for each pass.
Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .lag_probe import LagProbe
from .nirvana_chat import _pass, http, sign_up
from .report import summarize
from .seed_peer import SeedPeer, SocketIOAdapter, ensure_node
from .servers import CLIENT_CORE, ROOT, Nirvana, pinning_available
from .ws_clients import NirvanaAdapter, clients_in_rooms, room_size

KEYS = ("p50_ms", "p99_ms", "loop_lag_p99_ms", "server_cpu_us_per_delivery",
        "db_cpu_us_per_delivery", "lost", "delivered_per_s", "mark_p50_ms", "mark_p99_ms")


def _line(name: str, step: dict[str, Any]) -> str:
    def f(key: str) -> str:
        v = step.get(key)
        return "—" if v is None else f"{v:.1f}"
    return (f"{name:>5} {step['offered_sends_per_s']:>6g}/s: p50 {f('p50_ms')} p99 "
            f"{f('p99_ms')} ms, lag p99 {f('loop_lag_p99_ms')} ms, CPU/delivery "
            f"{f('server_cpu_us_per_delivery')} + {f('db_cpu_us_per_delivery')} µs, "
            f"late/lost {step['lost']}"
            + (f", mark answers p50 {f('mark_p50_ms')} p99 {f('mark_p99_ms')} ms"
               if step.get("mark_p50_ms") is not None else ""))


async def _patient_sign_up(url: str, email: str, source: str | None = None
                           ) -> tuple[int, str, str]:
    """sign_up, retried while a busy machine's server answers 503 (a store timed out)."""
    for attempt in range(5):
        try:
            return await sign_up(url, email, source)
        except RuntimeError as exc:
            if "answered 503" not in str(exc) or attempt == 4:
                raise
            await asyncio.sleep(1 + attempt)
    raise AssertionError("unreachable")


async def _prepare(server: Nirvana, clients: int, receipts: bool, room_size: int
                   ) -> NirvanaAdapter:
    adapter = NirvanaAdapter(server.url, room_size, receipts=receipts)
    await adapter.ensure_users(clients + 1, _patient_sign_up)  # +1: the lag probe's
    await adapter.build_rooms(clients, http)
    return adapter


async def _idle_probe(server: Nirvana, adapter: NirvanaAdapter, clients: int,
                      seconds: float) -> dict[str, float]:
    """The server's CPU (ms per second) idle with no socket open, then idle with only the lag
    probe's socket pinging it: what the probe alone costs."""
    await asyncio.sleep(2)  # the last pass's sockets closed
    before, started = server.cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    quiet = (server.cpu_seconds() - before) * 1000 / (time.monotonic() - started)
    probe = LagProbe(adapter.ws_url, adapter.users[clients].token)
    await probe.start()
    try:
        await asyncio.sleep(2)  # connected and pinging
        before, started = server.cpu_seconds(), time.monotonic()
        await asyncio.sleep(seconds)
        ended = time.monotonic()
        probed = (server.cpu_seconds() - before) * 1000 / (ended - started)
        pings = len(probe.samples(started, ended)) / (ended - started)
    finally:
        await probe.stop()
    return {"idle_cpu_ms_per_s": quiet, "probed_cpu_ms_per_s": probed,
            "pings_per_s": pings, "us_per_ping": (probed - quiet) * 1000 / max(pings, 1)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab_chat", description=__doc__)
    parser.add_argument("--a", type=Path, required=True, help="source tree of version A")
    parser.add_argument("--b", type=Path, default=ROOT, help="source tree of version B")
    parser.add_argument("--c", type=Path, help="source tree of a version C")
    parser.add_argument("--peer", action="store_true", help="the seed peer as a third")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", default="200,500,1000,2000")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--receipts", action="store_true",
                        help="clients answer others' messages with `delivered` (Nirvana only)")
    parser.add_argument("--room-size", type=room_size, default=10,
                        help="members of each group conversation (2-256)")
    parser.add_argument("--no-probe", action="append", default=[], choices=("A", "B", "C"),
                        help="run this version's passes without the lag probe (repeatable)")
    parser.add_argument("--idle-probe", type=float, default=0, metavar="SECONDS",
                        help="after the passes: the server's CPU/s idle, without and with "
                             "the probe")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "ab.json")
    args = parser.parse_args(argv)
    args.clients = clients_in_rooms(parser, args.clients, args.room_size)
    if args.receipts and args.peer:
        parser.error("--receipts runs Nirvana only: the seed peer has no receipts")
    # A SIGTERM unwinds like Ctrl-C, so the servers this run started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    steps = [float(s) for s in args.steps.split(",")]
    if pinning_available() is None:
        os.sched_setaffinity(0, {CLIENT_CORE})
    work = Path(tempfile.mkdtemp(prefix="nirvana-ab-"))
    trees = {"A": args.a.resolve(), "B": args.b.resolve()}
    if args.c:
        trees["C"] = args.c.resolve()
    results: dict[str, list[list[dict[str, Any]]]] = {}
    idle: dict[str, float] = {}
    server: Nirvana | None = None
    peer: SeedPeer | None = None
    try:
        # The users and rooms are made once; then each version gets its own copy of that
        # data directory, and each pass restarts Nirvana from its tree on its copy. One
        # directory shared by all would have each start convert the schema of the other
        # version's messages (an index built, or dropped: minutes on the embedded store).
        prepared = Nirvana(work / "var", work / "logs", "WARNING", root=trees["A"])
        prepared.start()
        try:
            adapter = asyncio.run(_prepare(prepared, args.clients, args.receipts,
                                           args.room_size))
        finally:
            prepared.stop()
        for name in trees:  # `cp -a`: the files keep their owner (PostgreSQL's user)
            subprocess.run(["cp", "-a", str(work / "var"), str(work / f"var-{name}")],
                           check=True)
        if args.peer:
            why_not = ensure_node()
            if why_not:
                sys.exit(f"ab_chat: no peer: {why_not}")
            peer = SeedPeer(work / "peer", work / "logs")
            peer.start()
        for r in range(args.rounds):
            for n, name in enumerate([*trees, *(["peer"] if peer else [])]):
                if name == "peer":
                    assert peer is not None
                    target: Nirvana | SeedPeer = peer
                    client: Any = SocketIOAdapter(peer.url, args.room_size)
                else:
                    if server is None or server.root != trees[name]:
                        if server is not None:
                            server.stop()
                        server = Nirvana(work / f"var-{name}", work / "logs", "WARNING",
                                         root=trees[name])
                        server.start()
                    adapter.url = server.url
                    adapter.ws_url = server.url.replace("http://", "ws://", 1)
                    asyncio.run(adapter.renew_tokens(300, http))
                    target, client = server, adapter
                load = os.getloadavg()[0]
                # Step numbers are the sends' client_ids: one used twice would be a retry,
                # answered without a delivery (idempotency), so each pass has its own.
                run = asyncio.run(_pass(target, client, args.clients, steps, args.duration,
                                        100 * r + 10 * n, name not in args.no_probe))
                for step in run:
                    step["loadavg_before"] = load
                    print(_line(name, step) + f" (load {load:.1f})", flush=True)
                results.setdefault(name, []).append(run)
        if args.idle_probe and server is not None:
            idle = asyncio.run(_idle_probe(server, adapter, args.clients, args.idle_probe))
            print(f"idle {server.root}: {idle}", flush=True)
    finally:
        for running in (server, peer):
            if running is not None:
                running.stop()
        shutil.rmtree(work, ignore_errors=True)
    medians: dict[str, list[dict[str, Any]]] = {}
    for name, runs in results.items():
        medians[name] = []
        for i, rate in enumerate(steps):
            m = {k: summarize([p[i][k] for p in runs if p[i].get(k) is not None])
                 for k in KEYS}
            medians[name].append({"offered_sends_per_s": rate, **m})
            print(_line(name + "~", {"offered_sends_per_s": rate,
                                     **{k: m[k]["median"] for k in KEYS}})
                  + "  (medians; " + ", ".join(
                      f"{k} {m[k]['min']:.1f}–{m[k]['max']:.1f}" for k in ("p50_ms", "p99_ms")
                      if m[k]["min"] is not None) + ")")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "a": str(args.a), "b": str(args.b), "steps": steps, "duration": args.duration,
        "clients": args.clients, "room_size": args.room_size, "receipts": args.receipts,
        "no_probe": args.no_probe, "idle_probe": idle, "medians": medians,
        "runs": results}, indent=1,
        default=str) + "\n")
    print(f"ab_chat: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

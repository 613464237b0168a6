"""Two versions of Nirvana's chat, and the seed peer, alternated in one run.

    .venv/bin/python -m bench.ab_chat --a /tmp/nirvana-main [--b .] [--c DIR] [--peer]
        [--rounds 3] [--steps 200,500,1000,2000] [--duration 10] [--clients 1000]
        [--out bench/results/ab.json]

`--a`, `--b` (and `--c`) are source trees (e.g. `git archive main | tar -x -C /tmp/nirvana-main`);
each runs as `make bench` runs Nirvana (its run.py, embedded databases on a data directory
of its own, pinned to the server core), with this tree's load generator. The passes go
A B [C] [peer] A B [C] [peer] …, so a machine whose load drifts (a shared one) moves all alike;
`uptime`'s load average is recorded with every pass. Prints one line per step and pass and
the medians; writes every number to `--out`. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .nirvana_chat import _pass, http, sign_up
from .report import summarize
from .seed_peer import SeedPeer, SocketIOAdapter, ensure_node
from .servers import CLIENT_CORE, ROOT, Nirvana, pinning_available
from .ws_load import NirvanaAdapter

KEYS = ("p50_ms", "p99_ms", "loop_lag_p99_ms", "server_cpu_us_per_delivery",
        "db_cpu_us_per_delivery", "lost", "delivered_per_s")


def _line(name: str, step: dict[str, Any]) -> str:
    def f(key: str) -> str:
        v = step.get(key)
        return "—" if v is None else f"{v:.1f}"
    return (f"{name:>5} {step['offered_sends_per_s']:>6g}/s: p50 {f('p50_ms')} p99 "
            f"{f('p99_ms')} ms, lag p99 {f('loop_lag_p99_ms')} ms, CPU/delivery "
            f"{f('server_cpu_us_per_delivery')} + {f('db_cpu_us_per_delivery')} µs, "
            f"late/lost {step['lost']}")


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


async def _prepare(server: Nirvana, clients: int) -> NirvanaAdapter:
    adapter = NirvanaAdapter(server.url)
    await adapter.ensure_users(clients + 1, _patient_sign_up)  # +1: the lag probe's
    await adapter.build_rooms(clients, http)
    return adapter


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
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "ab.json")
    args = parser.parse_args(argv)
    steps = [float(s) for s in args.steps.split(",")]
    if pinning_available() is None:
        os.sched_setaffinity(0, {CLIENT_CORE})
    work = Path(tempfile.mkdtemp(prefix="nirvana-ab-"))
    servers: dict[str, Any] = {}
    adapters: dict[str, Any] = {}
    results: dict[str, list[list[dict[str, Any]]]] = {}
    try:
        trees = [("A", args.a), ("B", args.b)] + ([("C", args.c)] if args.c else [])
        for name, tree in trees:
            server = Nirvana(work / name / "var", work / name / "logs", "WARNING",
                             root=tree.resolve())
            server.start()
            servers[name] = server
            adapters[name] = asyncio.run(_prepare(server, args.clients))
        if args.peer:
            why_not = ensure_node()
            if why_not:
                sys.exit(f"ab_chat: no peer: {why_not}")
            servers["peer"] = SeedPeer(work / "peer", work / "peer" / "logs")
            servers["peer"].start()
            adapters["peer"] = SocketIOAdapter(servers["peer"].url)
        for r in range(args.rounds):
            for name, server in servers.items():
                load = os.getloadavg()[0]
                if name != "peer":
                    asyncio.run(adapters[name].renew_tokens(300, http))
                run = asyncio.run(_pass(server, adapters[name], args.clients, steps,
                                        args.duration, 100 * r + 10 * len(results)))
                for step in run:
                    step["loadavg_before"] = load
                    print(_line(name, step) + f" (load {load:.1f})", flush=True)
                results.setdefault(name, []).append(run)
    finally:
        for server in servers.values():
            server.stop()
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
        "clients": args.clients, "medians": medians, "runs": results}, indent=1,
        default=str) + "\n")
    print(f"ab_chat: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

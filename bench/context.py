"""What the measurements share in one run: options, durations, the servers (started once,
on demand, stopped at the end) and the hello-JSON ceiling once measured."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .servers import ROOT, Nirvana, Server, python_server


@dataclass
class Options:
    quick: bool
    repetitions: int
    duration: float  # seconds of one wrk run or one load step
    connections: int  # idle WebSockets to hold
    clients: int  # chat clients (rooms of 10)
    steps: list[float]  # offered sends/s
    blogs: int
    users: int
    log_level: str
    work_dir: Path
    seed: bool = False  # run nirvana.seed before Nirvana starts (blog reads need it)
    reads_sizes: list[int] = field(default_factory=lambda: [100_000])  # bench/reads.py
    reads_data: list[str] = field(default_factory=list)  # seeded data directories instead


@dataclass
class Context:
    options: Options
    servers: dict[str, Server] = field(default_factory=dict)
    hello: dict[str, Any] | None = None  # the hello-JSON ceiling's wrk summaries
    notes: list[str] = field(default_factory=list)

    @property
    def logs(self) -> Path:
        return self.options.work_dir / "logs"

    def server(self, name: str) -> Server:
        """A running server by name: hello, fanout, nirvana, seed-peer."""
        if name not in self.servers:
            server: Server
            if name == "seed-peer":  # bench/seed_peer.py: node and a store of its own
                from .seed_peer import SeedPeer

                server = SeedPeer(self.options.work_dir / "seed-peer", self.logs)
            elif name == "nirvana":
                self._seed_if_possible()
                server = Nirvana(self.options.work_dir / "var", self.logs,
                                 self.options.log_level)
            else:
                server = python_server(name, f"bench.ceilings.{name}", self.logs)
            print(f"bench: starting {name}", flush=True)
            server.start()
            self.servers[name] = server
        return self.servers[name]

    def restart_nirvana(self, persistence: bool) -> Nirvana:
        """Nirvana again on the same data directory, with chat persistence on or off
        (bench/volatile_nirvana.py)."""
        self.stop("nirvana")
        server = Nirvana(self.options.work_dir / "var", self.logs, self.options.log_level,
                         persistence=persistence)
        print(f"bench: starting nirvana (chat persistence {'on' if persistence else 'OFF'})",
              flush=True)
        server.start()
        self.servers["nirvana"] = server
        return server

    def restart(self, name: str) -> Server:
        self.stop(name)
        return self.server(name)

    def stop(self, name: str) -> None:
        server = self.servers.pop(name, None)
        if server is not None:
            server.stop()

    def stop_all(self) -> None:
        for name in list(self.servers):
            self.stop(name)
        self._stop_left_postgres()

    def _stop_left_postgres(self) -> None:
        # A seeding command may leave its detached PostgreSQL behind (pg_ctl detaches it):
        # stop the one on our own data directory, found by its pid file, before it is deleted.
        pidfile = self.options.work_dir / "var" / "postgres" / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split()[0])
            os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown
        except (OSError, ValueError, IndexError):
            return
        deadline = time.monotonic() + 30
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.2)

    def openapi_paths(self) -> set[str]:
        url = self.server("nirvana").url + "/openapi.json"
        with urllib.request.urlopen(url, timeout=10) as response:
            return set(json.load(response)["paths"])

    def _seed_if_possible(self) -> None:
        # Seeding runs before Nirvana starts: it opens the same embedded databases itself.
        if not self.options.seed or getattr(self, "_seeded", False):
            return
        self._seeded = True
        if importlib.util.find_spec("nirvana.seed") is None:
            self.notes.append("nirvana.seed is missing: nothing seeded")
            return
        env_data = str(self.options.work_dir / "var")
        argv = [sys.executable, "-m", "nirvana.seed", "--blogs", str(self.options.blogs),
                "--users", str(self.options.users)]
        print(f"bench: seeding {' '.join(argv[3:])}", flush=True)
        proc = subprocess.run(argv, cwd=ROOT, env={**_env_without_urls(), "DATA_DIR": env_data},
                              capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            self.notes.append(f"nirvana.seed failed ({proc.returncode}): "
                              f"{proc.stderr.strip()[-300:]}")


def _env_without_urls() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "MONGODB_URL", "JWT_SECRET", "PORT", "HOST"}}

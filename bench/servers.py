"""Start and stop the processes under test, the server side pinned to one core.

The benchmark process pins itself to CLIENT_CORE (so wrk and the WebSocket load generator,
which it starts or runs, share it) and starts every server under `taskset -c SERVER_CORE`;
a server's own children (Nirvana's embedded databases) inherit that core.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
SERVER_CORE, CLIENT_CORE = 0, 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LISTENING = re.compile(r"listening on (http://[\d.]+:\d+)")


# The cores this process may use, read once at import: before the benchmark pins itself to
# CLIENT_CORE. Asking later would see only that core and wrongly conclude that servers
# cannot be pinned apart (which ran every server on the load generator's core).
USABLE_CORES = frozenset(os.sched_getaffinity(0))


def pinning_available() -> str | None:
    """None when servers and load can be pinned apart; otherwise why not."""
    if shutil.which("taskset") is None:
        return "taskset is missing (util-linux): servers and load share all cores"
    if not {SERVER_CORE, CLIENT_CORE} <= USABLE_CORES:
        return (f"cores {SERVER_CORE} and {CLIENT_CORE} are not both usable "
                f"(usable: {sorted(USABLE_CORES)}): servers and load share cores")
    return None


def raise_fd_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@contextlib.contextmanager
def affinity(core: int | None) -> Iterator[None]:
    """Run the block on `core` (children forked inside it inherit it), then restore."""
    if core is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def cpu_seconds(pid: int) -> float:
    """user + system CPU of one process (all its threads), from /proc/<pid>/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def core_wait_seconds(pid: int) -> float:
    """How long the threads of a process have been runnable but waiting for a core, from
    /proc/<pid>/task/*/schedstat (its second field: run-queue delay, ns). On the server's
    core this is the time Nirvana waited while its databases (or anything else) ran: what an
    event-loop lag probe sees on top of the loop's own work. 0.0 when the kernel does not
    keep scheduler statistics."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):  # a thread that just exited
            continue
    return total / 1e9


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu_seconds(pids: list[int]) -> float:
    """CPU of these processes and of their descendants now alive (PostgreSQL backends)."""
    every = set(pids)
    for pid in pids:
        every.update(descendants(pid))
    return sum(cpu_seconds(pid) for pid in every)


class Server:
    """A server process started pinned, whose first stdout lines name its URL."""

    def __init__(self, name: str, argv: list[str], log_dir: Path,
                 env: dict[str, str] | None = None, core: int | None = SERVER_CORE) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.core = core if pinning_available() is None else None
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 120) -> str:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = self.log_dir / f"{self.name}.out"
        err = self.log_dir / f"{self.name}.err"
        argv = (["taskset", "-c", str(self.core)] if self.core is not None else []) + self.argv
        with open(out, "wb") as stdout, open(err, "ab") as stderr:
            # Output goes to files, never to a pipe nobody reads (a full pipe stalls a server).
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=stdout,
                                         stderr=stderr, stdin=subprocess.DEVNULL,
                                         preexec_fn=raise_fd_limit)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = LISTENING.search(out.read_text(errors="replace"))
            if match:
                self.url = match.group(1)
                return self.url
            if self.proc.poll() is not None:
                tail = err.read_text(errors="replace").strip().splitlines()[-3:]
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {tail}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} printed no listening line within {timeout:.0f}s")

    def wait_ready(self, path: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: {path} never answered 200")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid)

    def core_wait_seconds(self) -> float:
        return core_wait_seconds(self.pid)

    def stop(self, timeout: float = 60) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def python_server(name: str, module: str, log_dir: Path, *args: str) -> Server:
    return Server(name, [sys.executable, "-m", module, *args], log_dir)


class Nirvana(Server):
    """run.py as a user starts it: embedded PostgreSQL and MongoDB-wire server under data_dir."""

    def __init__(self, data_dir: Path, log_dir: Path, log_level: str = "INFO",
                 root: Path = ROOT, persistence: bool = True) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in {"DATABASE_URL", "MONGODB_URL", "JWT_SECRET", "PORT", "HOST",
                            "PUBLIC_URL"}}
        env.update({"DATA_DIR": str(data_dir), "PORT": "0", "HOST": "127.0.0.1",
                    "LOG_LEVEL": log_level,
                    # The bench signs up a thousand users from loopback addresses, and
                    # each sends chat messages over HTTP faster than a person would.
                    "SIGNUPS_PER_IP_HOUR": "1000000", "WRITES_PER_MINUTE": "1000000"})
        # Persistence off (bench/volatile_nirvana.py): the same server, chat sends not stored.
        argv = ([sys.executable, str(root / "run.py")] if persistence else
                [sys.executable, "-m", "bench.volatile_nirvana"])
        super().__init__("nirvana", argv, log_dir, env)
        self.data_dir = data_dir
        self.root = root

    def start(self, timeout: float = 180) -> str:
        super().start(timeout)
        self.wait_ready("/ready", timeout)
        return self.url

    def mongo_pid(self) -> int | None:
        for pid in descendants(self.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"secantusd" in cmdline:
                return pid
        return None

    def postgres_pid(self) -> int | None:
        # pg_ctl detaches the postmaster: it is found through its pid file, not as a child.
        try:
            return int((self.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def cpu_breakdown(self) -> dict[str, float]:
        """CPU seconds so far of the server process and of each database (with its children)."""
        mongo, postgres = self.mongo_pid(), self.postgres_pid()
        return {"server": self.cpu_seconds(),
                "mongo": tree_cpu_seconds([mongo]) if mongo else 0.0,
                "postgres": tree_cpu_seconds([postgres]) if postgres else 0.0}

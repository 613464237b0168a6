"""A real Redis for the multi-instance tests: Debian's `redis-server`, one per test that asks.

Redis is never the store of record, so it runs without persistence in a temporary
directory; a test may stop it and start it again on the same port (a Redis restart).
Without `redis-server` the tests that need it are skipped with the reason, except under
CI=true, where its absence fails the run (`.ci/run` installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.system import free_port, require_program

REDIS_SERVER = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")
START_SECONDS = 10


def require_redis_server() -> str:
    return require_program(REDIS_SERVER, "redis-server")


class RedisServer:
    """One redis-server process on a fixed local port."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="nirvana-test-redis-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.dir),
             "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited: {self.proc.stderr.read()!r}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"redis-server did not answer PING in {START_SECONDS} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def redis_server():
    """A fresh, empty Redis for one test (stopped and removed after it)."""
    server = RedisServer(require_redis_server())
    server.start()
    yield server
    server.close()

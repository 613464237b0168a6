"""run.py as a user runs it: a subprocess with an empty data directory, on real TCP."""

from __future__ import annotations

import os
import shutil
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 120  # a first start initialises PostgreSQL: slow on a busy machine


def run_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "MONGODB_URL", "JWT_SECRET", "PORT", "HOST"}}
    env.update({"DATA_DIR": str(data_dir), "PORT": "0", "LOG_LEVEL": "WARNING", **extra})
    return env


def launch(data_dir: Path, env: dict[str, str], wrapper: tuple[str, ...] = ()
           ) -> tuple[subprocess.Popen, str]:
    """run.py started, and the first line it printed."""
    proc = subprocess.Popen(
        [*wrapper, sys.executable, "run.py"], cwd=ROOT, env=run_env(data_dir, **env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # select first: a child that never prints would block readline() for ever.
    if not select.select([proc.stdout], [], [], START_SECONDS)[0]:
        proc.kill()
        raise AssertionError(f"run.py printed nothing in {START_SECONDS} s: "
                             f"{proc.communicate()[1]}")
    return proc, proc.stdout.readline()


class Running:
    def __init__(self, data_dir: Path, wrapper: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> None:
        # `wrapper` runs run.py under another program (e.g. a parent that never reaps);
        # `env` adds settings (external databases, REDIS_URL).
        self.proc, line = launch(data_dir, env or {}, wrapper)
        match = re.search(r"listening on (http://[\d.]+:\d+)", line)
        if not match:
            self.proc.kill()
            raise AssertionError(f"no listening line: {line!r} {self.proc.stderr.read()}")
        self.url = match.group(1)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.proc.kill()
        raise AssertionError(f"{self.url}/ready never answered 200 in {START_SECONDS} s")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, out, err


def refused_start(data_dir: Path, env: dict[str, str]) -> tuple[int, str]:
    """run.py expected to refuse to start: its exit code and what it wrote to stderr. One
    that starts serving instead is stopped and fails the test at once."""
    proc, line = launch(data_dir, env)
    # Its first line: "Nirvana listening ..." once it serves, "Nirvana stopped." if refused.
    if "listening" in line:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        raise AssertionError(f"run.py started instead of refusing: {line!r}")
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.strip()


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A directory outside pytest's own: each new pytest session (other runs on this machine
    included) makes pytest's base directory 0700 again, and the embedded PostgreSQL, which
    runs as its own user when we are root, could then no longer reach its data."""
    path = Path(tempfile.mkdtemp(prefix="nirvana-run-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)

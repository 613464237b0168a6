"""run.py as a user runs it: a subprocess, an empty data directory, real TCP."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "MONGODB_URL", "JWT_SECRET", "PORT", "HOST"}}
    env.update({"DATA_DIR": str(data_dir), "PORT": "0", "LOG_LEVEL": "WARNING", **extra})
    return env


class Running:
    def __init__(self, data_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "run.py"], cwd=ROOT, env=_env(data_dir),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (http://[\d.]+:\d+)", line)
        if not match:
            self.proc.kill()
            raise AssertionError(f"no listening line: {line!r} {self.proc.stderr.read()}")
        self.url = match.group(1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.proc.kill()
        raise AssertionError("server never became ready")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, out, err


def _children_of(data_dir: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(data_dir) in cmdline and "pytest" not in cmdline:
                found.append(cmdline)
    return found


@pytest.mark.slow
def test_sign_up_survives_restart_and_crash(tmp_path):
    data = tmp_path / "var"
    server = Running(data)
    r = httpx.post(f"{server.url}/api/v1/user/signup",
                   json={"email": "ann@example.com", "password": PASSWORD, "name": "Ann"})
    assert r.status_code == 201, r.text
    ws_url = server.url.replace("http://", "ws://") + "/ws?token=" + r.json()["jwt"]
    with connect(ws_url) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        server.proc.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    code, out, err = server.stop(signal.SIGTERM)
    assert code == 0, err
    assert "Traceback" not in err
    assert "Nirvana stopped." in out
    time.sleep(0.5)
    assert _children_of(data) == []  # both databases stopped with it
    assert (data / "postgres" / "PG_VERSION").exists() and (data / "mongo").is_dir()

    server = Running(data)
    r = httpx.post(f"{server.url}/api/v1/user/signin",
                   json={"email": "ann@example.com", "password": PASSWORD})
    assert r.status_code == 200, r.text
    token = r.json()["jwt"]

    # A crash: kill -9 leaves the databases behind; the next start must recover them.
    server.proc.kill()
    server.proc.communicate()
    server = Running(data)
    r = httpx.get(f"{server.url}/api/v1/user/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200  # same data, same JWT secret
    code, _, err = server.stop(signal.SIGINT)
    assert code == 0, err
    time.sleep(0.5)
    assert _children_of(data) == []


def _run_fails(env: dict[str, str]) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "run.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr.strip()


def test_port_in_use_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, err = _run_fails(_env(tmp_path, PORT=str(port)))
    assert code != 0
    assert err == f"nirvana: error: port {port} on 127.0.0.1 is already in use (set PORT to use another)"


def test_unwritable_data_dir_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, err = _run_fails(_env(blocker / "var"))
    assert code != 0
    assert err.startswith("nirvana: error: data directory") and "\n" not in err


def test_bad_setting_names_the_variable(tmp_path):
    code, err = _run_fails(_env(tmp_path, LOG_LEVEL="loud"))
    assert code == 2
    assert err.startswith("nirvana: error: LOG_LEVEL='loud' is not valid") and "\n" not in err

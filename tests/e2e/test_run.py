"""run.py as a user runs it: a subprocess, an empty data directory, real TCP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidMessage
from websockets.sync.client import connect

from nirvana.storage.embedded import EmbeddedPostgres
from tests.support.http import PASSWORD
from tests.support.password_hashes import assert_at_least_the_minimum
from tests.support.running import ROOT, Running
from tests.support.running import run_env as _env


async def _stored_hash(data_dir: Path, email: str) -> str:
    """The password hash run.py stored, read from the PostgreSQL it started (as its tools
    find it)."""
    url = EmbeddedPostgres(data_dir / "postgres").running_url()
    assert url is not None
    connection = await asyncpg.connect(url, timeout=30)
    try:
        return await connection.fetchval(
            "SELECT c.password_hash FROM credentials c JOIN users u ON u.id = c.user_id "
            "WHERE u.email = $1", email)
    finally:
        await connection.close()


def _stopped_with_it(data_dir: Path) -> None:
    """Nothing left running in the data directory within half a second of run.py's exit."""
    deadline = time.monotonic() + 0.5
    while (left := _children_of(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert left == []


def _children_of(data_dir: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            # Not "pytest" in cmdline: the data directory's own path holds that word.
            if str(data_dir) in cmdline and int(proc.name) != os.getpid():
                found.append(cmdline)
    return found


@pytest.mark.slow
def test_sign_up_survives_restart_and_crash(tmp_path):
    data = tmp_path / "var"
    server = Running(data)
    r = httpx.post(f"{server.url}/api/v1/user/signup",
                   json={"email": "ann@example.com", "password": PASSWORD, "name": "Ann"})
    assert r.status_code == 201, r.text
    # The hasher run.py wires (open_services) is production's: the tests' services hash
    # cheaply (tests/conftest.py), so only a run.py sign-up shows no setting weakens it.
    assert_at_least_the_minimum(asyncio.run(_stored_hash(data, "ann@example.com")))
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
    _stopped_with_it(data)  # both databases
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
    _stopped_with_it(data)


@pytest.mark.slow
def test_a_stopping_server_takes_no_new_websocket_it_would_close_1012(tmp_path):
    """SIGTERM closes the listener before the open sockets: each connect after it is refused,
    or (an upgrade the listener took already) closed 1001 with the documented reason, never
    uvicorn's own 1012. (One registered just before the stop may get its hello first: it is
    an open socket, closed 1001 like the rest.)"""
    server = Running(tmp_path / "var")
    r = httpx.post(f"{server.url}/api/v1/user/signup",
                   json={"email": "ann@example.com", "password": PASSWORD, "name": "Ann"})
    assert r.status_code == 201, r.text
    ws_url = server.url.replace("http://", "ws://") + "/ws?token=" + r.json()["jwt"]
    try:
        with connect(ws_url) as first:
            assert json.loads(first.recv(timeout=5))["type"] == "hello"
            server.proc.send_signal(signal.SIGTERM)
            late = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    ws = connect(ws_url, open_timeout=5)
                # Refused: the listener is closed; or reset, taken by the kernel before the
                # close, once the handshake was sent (no answer to read).
                except (OSError, InvalidMessage):
                    break
                with ws:
                    frames = []
                    with pytest.raises(ConnectionClosed) as closed:
                        while True:
                            frames.append(json.loads(ws.recv(timeout=10))["type"])
                late.append((frames, closed.value.rcvd))
                time.sleep(0.05)
            else:
                raise AssertionError(f"connects still accepted 10 s after SIGTERM: {late}")
        for frames, close in late:
            assert close is not None and close.code == 1001, (frames, close)
            assert close.reason == "server stopping; reconnect and resume", (frames, close)
    finally:
        code, _, err = server.stop(signal.SIGTERM)
    assert code == 0, err


def _run_fails(env: dict[str, str]) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "run.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr.strip()


@pytest.mark.slow
def test_the_server_runs_on_the_event_loop_it_is_set_to_and_stops_cleanly_on_each(tmp_path):
    data = tmp_path / "var"
    token = "event-loop-metrics-0123456789"
    # "" is unset: the default. /metrics names the loop the running process reads as its own.
    for setting, expected in (("", "uvloop"), ("asyncio", "asyncio")):
        server = Running(data, env={"METRICS_TOKEN": token, "EVENT_LOOP": setting})
        try:
            r = httpx.get(f"{server.url}/metrics", timeout=10,
                          headers={"Authorization": f"Bearer {token}"})
        finally:
            code, out, err = server.stop(signal.SIGINT)
        assert r.status_code == 200
        assert f'nirvana_event_loop_info{{loop="{expected}"}} 1.0' in r.text
        assert code == 0, err
        assert "Nirvana stopped." in out
        assert _children_of(data) == []


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_usage_and_starts_nothing(tmp_path, flag):
    data_dir = tmp_path / "var"
    done = subprocess.run([sys.executable, "run.py", flag], cwd=ROOT, env=_env(data_dir),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python run.py")
    for name in ("DATA_DIR", "PORT", "DATABASE_URL", "MONGODB_URL", "REDIS_URL",
                 "EVENT_LOOP"):
        assert name in done.stdout
    assert "README.md" in done.stdout and "docs/deployment.md" in done.stdout
    assert not data_dir.exists()  # no database started, no port taken


def test_an_argument_is_refused_in_one_line(tmp_path):
    data_dir = tmp_path / "var"
    done = subprocess.run([sys.executable, "run.py", "--port", "9"], cwd=ROOT,
                          env=_env(data_dir), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("nirvana: error: run.py takes no arguments")
    assert not data_dir.exists()


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


@pytest.mark.parametrize("value", ["https://key:hunter2@demo", "cloudinary://key@demo"])
def test_a_bad_cloudinary_url_is_one_line_before_any_database_starts(tmp_path, value):
    # The Cloudinary SDK reads the variable when imported; a start must refuse it as any
    # setting, in one line naming it, and without echoing the API secret.
    code, err = _run_fails(_env(tmp_path / "var", CLOUDINARY_URL=value))
    assert code == 2
    assert err.startswith("nirvana: error: CLOUDINARY_URL=") and "\n" not in err, err
    assert "hunter2" not in err
    assert not (tmp_path / "var" / "postgres").exists()


# -- crashes and a second start --------------------------------------------------------------

# A parent that adopts orphans (PR_SET_CHILD_SUBREAPER) and never reaps them, as the init of
# many containers does: killed processes stay zombies, which `kill(pid, 0)` still finds.
NO_REAPER = (sys.executable, "-c", """
import ctypes, signal, subprocess, sys
ctypes.CDLL("libc.so.6").prctl(36, 1)
subprocess.Popen(sys.argv[1:], start_new_session=True)
while True:
    signal.pause()
""")


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # a backend that followed its postmaster


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _pids_of(data_dir: Path) -> list[int]:
    """run.py, its MongoDB-wire server and every PostgreSQL process on `data_dir`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or _state(int(proc.name)) in (None, "Z"):
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if (int(proc.name) != os.getpid() and "signal.pause" not in cmdline
                and (str(data_dir) in cmdline or cwd.startswith(str(data_dir)))):
            found.append(int(proc.name))
    return found


def _sign_in(url: str) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/user/signin",
                      json={"email": "ann@example.com", "password": PASSWORD})


@pytest.mark.slow
def test_a_start_right_after_kill_9_of_everything_recovers(tmp_path):
    data = tmp_path / "var"
    first = Running(data, wrapper=NO_REAPER)
    try:
        r = httpx.post(f"{first.url}/api/v1/user/signup",
                       json={"email": "ann@example.com", "password": PASSWORD, "name": "Ann"})
        assert r.status_code == 201, r.text
        postmaster = int((data / "postgres" / "postmaster.pid").read_text().split()[0])
        wrapper = first.proc.pid
        adopted = Path(f"/proc/{wrapper}/task/{wrapper}/children").read_text().split()
        _kill([*map(int, adopted), *_pids_of(data)])  # run.py is the wrapper's child
        time.sleep(0.2)
        assert _state(postmaster) == "Z"  # the state the campaign met: a zombie postmaster
        assert _pids_of(data) == []

        second = Running(data)  # at once, with the zombies and the stale pid files there
        assert _sign_in(second.url).status_code == 200
        mongo = json.loads((data / "mongo.pid").read_text())["pid"]

        # A frozen PostgreSQL left by a crashed run: it cannot answer, so it is replaced.
        postmaster = int((data / "postgres" / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGSTOP)
        second.proc.kill()
        second.proc.communicate()
        third = Running(data)
        assert _sign_in(third.url).status_code == 200
        assert _state(postmaster) in (None, "Z") and _state(mongo) in (None, "Z")
        code, _, err = third.stop()
        assert code == 0, err
    finally:
        _kill(_pids_of(data))
        first.proc.kill()  # the non-reaper: its zombies go to init
        first.proc.communicate(timeout=10)


@pytest.mark.slow
def test_a_second_start_on_a_data_dir_in_use_refuses_and_the_first_keeps_serving(tmp_path):
    data = tmp_path / "var"
    first = Running(data)
    try:
        children = sorted(_pids_of(data))
        code, err = _run_fails(_env(data))
        assert code != 0
        assert err == (f"nirvana: error: data directory {data} is in use by Nirvana "
                       f"(pid {first.proc.pid}, {first.url}); stop it first or set DATA_DIR")
        assert sorted(_pids_of(data)) == children  # nothing of the first was touched
        assert httpx.get(f"{first.url}/ready").status_code == 200
        r = httpx.post(f"{first.url}/api/v1/user/signup",
                       json={"email": "ann@example.com", "password": PASSWORD, "name": "Ann"})
        assert r.status_code == 201, r.text
    finally:
        code, _, err = first.stop()
    assert code == 0, err
    # The lock died with its holder: the next start takes the directory.
    again = Running(data)
    assert _sign_in(again.url).status_code == 200
    again.stop()

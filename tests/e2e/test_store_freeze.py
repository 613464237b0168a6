"""A frozen PostgreSQL (SIGSTOP of the postmaster and its backends, as a stalled disk or a
paused VM does): every route answers within the README's bound, 503 with Retry-After where it
needs the store, and everything works again once it thaws.

run.py in a subprocess with its own data directory: the freeze must not reach the shared
cluster the other tests use."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.http import PASSWORD
from tests.support.running import Running

# The README's contract: "503 (a database unreachable or slower than 5 s)". Asserted with 2 s
# of slack because the test, the server and its stores share 2 busy cores; the fault it guards
# against took 10 s (a timed-out query's cancel waited on the frozen server for 5 s more).
BOUND = 5.0
SLACK = 2.0


def _postgres_pids(pgdata: Path) -> list[int]:
    # PostgreSQL's processes all run in its data directory.
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if os.readlink(proc / "cwd") == str(pgdata):
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def _stopped(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
    except OSError:
        return True  # gone: nothing left to freeze


@pytest.mark.slow
def test_every_route_answers_within_the_bound_while_postgres_is_frozen(tmp_path):
    data = tmp_path / "var"
    server = Running(data)
    url = server.url
    pids: list[int] = []
    try:
        r = httpx.post(f"{url}/api/v1/user/signup",
                       json={"email": "ann@example.com", "password": PASSWORD, "name": "Ann"})
        assert r.status_code == 201, r.text
        auth = {"Authorization": f"Bearer {r.json()['jwt']}"}
        blog = httpx.post(f"{url}/api/v1/blog", headers=auth,
                          json={"title": "Before", "body": "the freeze"}).json()["id"]
        calls = [
            ("GET", "/ready", None),
            ("POST", "/api/v1/user/signin", {"email": "ann@example.com", "password": PASSWORD}),
            ("POST", "/api/v1/user/signup",
             {"email": "bob@example.com", "password": PASSWORD, "name": "Bob"}),
            ("POST", "/api/v1/blog", {"title": "During", "body": "the freeze"}),
            ("GET", "/api/v1/feed", None),
            ("GET", f"/api/v1/blog/{blog}", None),
            ("GET", "/api/v1/blog/search?q=freeze", None),
            ("GET", "/api/v1/friends", None),
            ("GET", "/api/v1/users/search?q=ann", None),
            ("GET", "/api/v1/user/me", None),
            ("GET", "/health", None),
        ]

        def call(spec: tuple[str, str, dict | None]) -> tuple[str, int, float, str | None]:
            method, path, body = spec
            start = time.monotonic()
            r = httpx.request(method, url + path, headers=auth, json=body, timeout=30)
            return path, r.status_code, time.monotonic() - start, r.headers.get("retry-after")

        pids = _postgres_pids(data / "postgres")
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + 5  # SIGSTOP is delivered asynchronously
        while not all(map(_stopped, pids)):
            assert time.monotonic() < deadline, "PostgreSQL did not stop"
            time.sleep(0.01)
        # Two rounds, all at once: the second meets connections whose queries the first
        # had to abandon, the case that stacked two timeouts.
        with ThreadPoolExecutor(len(calls)) as pool:
            answers = [*pool.map(call, calls), *pool.map(call, calls)]
        for path, status, took, retry_after in answers:
            assert took < BOUND + SLACK, (path, status, round(took, 2))
            if status == 503:
                assert retry_after == "5", path
        answered = {(path, status) for path, status, _, _ in answers}
        assert ("/ready", 503) in answered and ("/api/v1/user/signin", 503) in answered
        assert ("/health", 200) in answered
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    try:
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/ready", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "never ready again after the thaw"
            time.sleep(0.2)
        r = httpx.post(f"{url}/api/v1/user/signin",
                       json={"email": "ann@example.com", "password": PASSWORD})
        assert r.status_code == 200, r.text
    finally:
        code, _, err = server.stop()
    assert code == 0, err

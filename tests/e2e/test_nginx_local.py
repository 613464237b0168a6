"""deploy/nginx-local.sh: the local, plain-http nginx that docs/deployment.md's one-machine
try puts in front of its instances, made from deploy/nginx.conf."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest

from tests.support.nginx import require_nginx
from tests.support.running import ROOT
from tests.support.system import free_ports

SCRIPT = ROOT / "deploy" / "nginx-local.sh"


def test_the_local_config_is_accepted_and_served_over_plain_http(tmp_path):
    nginx = require_nginx()
    port, dead = free_ports(2)  # no instance listens on `dead`
    made = subprocess.run([str(SCRIPT), str(tmp_path), str(port), f"127.0.0.1:{dead}"],
                          capture_output=True, text=True, timeout=30)
    assert made.returncode == 0, made.stderr
    conf = tmp_path / "nginx.conf"
    site = (tmp_path / "nirvana.conf").read_text()
    assert f"server 127.0.0.1:{dead} " in site and "ssl" not in site
    assert "listen 80;" not in site and "/var/log/nginx" not in site
    checked = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(conf)],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    # Served: no instance answers, so nginx gives the recipe's own 503 in Nirvana's shape.
    proc = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
        # A browser loading a page gets the recipe's HTML page instead.
        r = httpx.get(f"http://127.0.0.1:{port}/", headers={"Accept": "text/html"}, timeout=5)
        assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
        assert "Press reload" in r.text, r.text
    finally:
        proc.terminate()
        proc.wait(10)


def test_without_its_arguments_it_prints_usage(tmp_path):
    done = subprocess.run([str(SCRIPT), str(tmp_path)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2 and done.stderr.startswith("usage:")


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=30)


def test_a_directory_it_did_not_write_is_refused_and_left_alone(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "nginx.conf").write_text("their own\n")
    theirs.chmod(0o1777)
    done = run_script(str(theirs), "8080", "127.0.0.1:8001")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert "neither empty" in done.stderr
    assert (theirs / "nginx.conf").read_text() == "their own\n"
    assert theirs.stat().st_mode & 0o7777 == 0o1777
    assert sorted(p.name for p in theirs.iterdir()) == ["nginx.conf"]


def test_an_empty_directory_keeps_its_mode_and_its_own_one_is_written_again(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    empty.chmod(0o700)
    assert run_script(str(empty), "8080", "127.0.0.1:8001").returncode == 0
    assert empty.stat().st_mode & 0o7777 == 0o700
    (empty / "access.log").write_text("kept\n")  # what a run of nginx leaves there
    again = run_script(str(empty), "8081", "127.0.0.1:8002")
    assert again.returncode == 0, again.stderr
    assert "server 127.0.0.1:8002 " in (empty / "nirvana.conf").read_text()
    assert (empty / "access.log").read_text() == "kept\n"


def test_the_directories_it_makes_are_reachable_whatever_the_umask(tmp_path):
    tmp_path.chmod(0o700)  # there already: named, not changed
    target = tmp_path / "a" / "b" / "nginx"
    made = subprocess.run(["sh", "-c", 'umask 077; exec "$0" "$@"', str(SCRIPT), str(target),
                           "8080", "127.0.0.1:8001"], capture_output=True, text=True, timeout=30)
    assert made.returncode == 0, made.stderr
    for d in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert d.stat().st_mode & 0o001, d
    assert tmp_path.stat().st_mode & 0o7777 == 0o700
    assert f"chmod o+x {tmp_path}" in made.stdout


@pytest.mark.parametrize("dir_name, port, upstream", [
    ("a b", "8080", "127.0.0.1:8001"), ("a;b", "8080", "127.0.0.1:8001"),
    ("a\\tb", "8080", "127.0.0.1:8001"), ("a&b", "8080", "127.0.0.1:8001"),
    ("ok", "notaport", "127.0.0.1:8001"), ("ok", "0", "127.0.0.1:8001"),
    ("ok", "70000", "127.0.0.1:8001"), ("ok", "8080", "127.0.0.1"),
    ("ok", "8080", "a;b:8001"), ("ok", "8080", "127.0.0.1:x"), ("ok", "8080", "[zz]:8001"),
])
def test_what_it_cannot_write_safely_is_refused_in_one_line(tmp_path, dir_name, port,
                                                            upstream):
    target = tmp_path / dir_name
    done = run_script(str(target), port, upstream)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert not target.exists()

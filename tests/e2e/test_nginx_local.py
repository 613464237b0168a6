"""deploy/nginx-local.sh: the local, plain-http nginx that docs/deployment.md's one-machine
try puts in front of its instances, made from deploy/nginx.conf."""

from __future__ import annotations

import subprocess
import time

import httpx

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
    finally:
        proc.terminate()
        proc.wait(10)


def test_without_its_arguments_it_prints_usage(tmp_path):
    done = subprocess.run([str(SCRIPT), str(tmp_path)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2 and done.stderr.startswith("usage:")

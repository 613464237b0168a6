"""Debian's nginx in front of run.py instances, configured by deploy/nginx.conf (the file
the deployment docs give), in a temporary directory of its own.

Without nginx the tests that need it are skipped with the reason, except under CI=true,
where its absence fails the run (`.ci/run` installs nginx-light).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


from tests.support.running import ROOT
from tests.support.system import free_ports, require_program
from tests.support.tls import Certificates

NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")
SITE = ROOT / "deploy" / "nginx.conf"
START_SECONDS = 10


def require_nginx() -> str:
    return require_program(NGINX, "nginx-light")


def site_for(upstreams: list[str], port: int, redirect_port: int, logs: Path,
             tls: Certificates | None = None) -> str:
    """deploy/nginx.conf with its upstream servers, its listen addresses, its logs' directory
    and the ACME challenges' (`logs / "acme"`) replaced, and its TLS taken off (the site is
    served over plain http on `port`, its http-to-https redirect on `redirect_port`), or with
    `tls` kept, its certificate and key those given: the rest (headers, upgrades, timeouts,
    retries, the logs' format and levels, the error pages) is tested as shipped."""
    text = SITE.read_text()
    servers = "".join(f"    server {u} max_fails=1 fail_timeout=5s;\n" for u in upstreams)
    text, n = re.subn(r"(upstream nirvana \{\n(?:    #.*\n)*)(?:    server .*\n)+",
                      lambda m: m.group(1) + servers, text)
    assert n == 1, "deploy/nginx.conf: no upstream block to point at the instances"
    text, n = re.subn(r"listen 443 ssl;",
                      f"listen 127.0.0.1:{port}{' ssl' if tls else ''};", text)
    assert n == 1, "deploy/nginx.conf: no `listen 443 ssl;`"
    if tls is None:
        # Every ssl_ line goes, as deploy/nginx-local.sh drops them: a plain server keeps none.
        n = len(re.findall(r"(?m)^ *ssl_certificate(_key)? .*;$", text))
        text = re.sub(r"\n *ssl_[a-z_]+ .*;", "", text)
    else:
        text, n = re.subn(r"(?m)^( *ssl_certificate(_key)?) .*;$", lambda m: (
            f"{m.group(1)} {tls.key if m.group(2) else tls.certificate};"), text)
    assert n == 2, "deploy/nginx.conf: no ssl_certificate and ssl_certificate_key"
    text, n = re.subn(r"listen 80;", f"listen 127.0.0.1:{redirect_port};", text)
    assert n == 1, "deploy/nginx.conf: no `listen 80;` (the redirect to https)"
    text, n = re.subn(r"access_log /var/log/nginx/access.log ",
                      f"access_log {logs / 'access.log'} ", text)
    assert n == 2, "deploy/nginx.conf: no `access_log /var/log/nginx/access.log` in each server"
    text = text.replace("error_log /var/log/nginx/error.log ", f"error_log {logs / 'error.log'} ")
    text, n = re.subn(r"root /var/www/letsencrypt;", f"root {logs / 'acme'};", text)
    assert n == 1, "deploy/nginx.conf: no `root /var/www/letsencrypt;` (certbot's challenges)"
    return text


class PortTaken(AssertionError):
    """nginx could not bind a port: chosen free, another process took it before nginx bound
    it (a caller that chose the ports early may choose again)."""


class Nginx:
    """nginx serving deploy/nginx.conf on `port` (its https server: over plain http, or over
    TLS with the certificate of `tls`) and `redirect_port` (its http server), both free
    ports unless given."""

    def __init__(self, executable: str, upstreams: list[str],
                 tls: Certificates | None = None,
                 ports: tuple[int, int] | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="nirvana-test-nginx-"))
        # Run as root, nginx's workers are `nobody`, and serve the ACME challenges from here.
        self.dir.chmod(0o711)
        self.port, self.redirect_port = ports or free_ports(2)
        self.scheme = "https" if tls else "http"
        d = self.dir
        (d / "nirvana.conf").write_text(
            site_for(upstreams, self.port, self.redirect_port, d, tls))
        (d / "nginx.conf").write_text(f"""
worker_processes 1;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 512; }}
http {{
    # Debian's stock /etc/nginx/nginx.conf sets these around the sites it includes: the site
    # runs inside the http {{}} an operator has, its own ssl_protocols winning over this one.
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/nirvana.conf;
}}
""")
        # nginx writes what it says of its configuration to stderr, before it listens.
        with open(d / "stderr.log", "wb") as stderr:
            self.proc = subprocess.Popen(
                [executable, "-p", str(d), "-c", str(d / "nginx.conf"), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                said = self._log("stderr.log")
                shutil.rmtree(self.dir, ignore_errors=True)
                if "Address already in use" in said:
                    raise PortTaken(f"nginx exited: {said!r}")
                raise AssertionError(f"nginx exited: {said!r}")
            # nginx writes its pid file once it has bound its ports: before, a connection may
            # reach another process that took the port, while nginx retries its bind.
            if (d / "nginx.pid").exists():
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                    break
                except OSError:
                    pass
            time.sleep(0.05)
        else:
            self.close()
            raise AssertionError(f"nginx did not listen in {START_SECONDS} s")
        # Two servers on one address: nginx only warns, and the first takes every request.
        if "conflicting server name" in (said := self._log("stderr.log")):
            self.close()
            raise AssertionError(f"nginx: {said!r}")

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def redirect_url(self) -> str:
        """The recipe's plain-http server (port 80 in production)."""
        return f"http://127.0.0.1:{self.redirect_port}"

    def access_log(self) -> str:
        return self._log("access.log")

    def error_log(self) -> str:
        return self._log("error.log")

    def _log(self, name: str) -> str:
        path = self.dir / name
        return path.read_text() if path.exists() else ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

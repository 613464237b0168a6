"""wrk: install when missing, write its Lua script, run it, parse what it prints."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
# The bench's connections per run, and the figures of a run it keeps (a median of runs).
CONNECTIONS = 32
KEYS = ("requests_per_s", "p50_ms", "p90_ms", "p99_ms", "non_2xx", "socket_errors")


class WrkError(RuntimeError):
    pass


def ensure_wrk() -> str:
    """The path of wrk; installs Debian's package when it is not on PATH."""
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    install = sudo + ["apt-get", "install", "-y", "-qq", "wrk"]
    print("bench: wrk is missing; installing Debian's package", flush=True)
    if subprocess.run(install, stdout=subprocess.DEVNULL).returncode != 0:
        # A fresh machine has no package lists yet.
        subprocess.run(sudo + ["apt-get", "update", "-qq"], stdout=subprocess.DEVNULL)
        subprocess.run(install, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        raise WrkError("wrk is not installed and `apt-get install -y wrk` failed")
    return found


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for ASCII


def lua_script(paths: list[str], headers: dict[str, str] | None = None,
               method: str = "GET", body: str | None = None) -> str:
    """A wrk script: fixed method/headers/body; one path as wrk's static request, several
    drawn at random per request; done() prints one `BENCH_JSON {...}` line with the exact
    percentiles (wrk's --latency table has no p95)."""
    lines = [f"wrk.method = {_lua_string(method)}"]
    for name, value in (headers or {}).items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    if body is not None:
        lines.append(f"wrk.body = {_lua_string(body)}")
    if len(paths) > 1:
        lines.append("local paths = {" + ", ".join(_lua_string(p) for p in paths) + "}")
        lines.append("request = function() return wrk.format(nil, paths[math.random(#paths)]) end")
    lines.append("""done = function(summary, latency, requests)
  io.write(string.format('BENCH_JSON {"p50_us": %d, "p90_us": %d, "p95_us": %d, "p99_us": %d, '
    .. '"max_us": %d, "requests": %d, "status_errors": %d, "timeouts": %d}\\n',
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, summary.requests, summary.errors.status,
    summary.errors.timeout))
end""")
    return "\n".join(lines) + "\n"


def _ms(number: str, unit: str) -> float:
    return float(number) * UNITS_MS[unit]


def parse(output: str) -> dict[str, Any]:
    """The figures of `wrk --latency` output (and of our done() line): req/s, p50/p75/p90/p99
    in ms, request and error counts."""
    result: dict[str, Any] = {}
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not match:
        raise WrkError(f"no Requests/sec in wrk output: {output[-400:]!r}")
    result["requests_per_s"] = float(match.group(1))
    for pct, number, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$",
                                        output, re.M):
        result[f"p{pct}_ms"] = _ms(number, unit)
    match = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if match:
        result["requests"] = int(match.group(1))
        result["duration_s"] = _ms(match.group(2), match.group(3)) / 1000
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      output)
    result["socket_errors"] = sum(map(int, match.groups())) if match else 0
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx"] = int(match.group(1)) if match else 0
    match = re.search(r"^BENCH_JSON (\{.*\})$", output, re.M)
    if match:
        extra = json.loads(match.group(1))
        for pct in (50, 90, 95, 99):
            result[f"p{pct}_ms"] = extra[f"p{pct}_us"] / 1000
        result["max_ms"] = extra["max_us"] / 1000
    return result


def run(url: str, *, paths: list[str] | None = None, headers: dict[str, str] | None = None,
        duration: float = 10, connections: int = CONNECTIONS, threads: int = 1,
        method: str = "GET", body: str | None = None, wrk: str = "wrk") -> dict[str, Any]:
    """One wrk run against `url` (a base like http://127.0.0.1:8000) over `paths`."""
    if not url.startswith(("http://127.", "http://localhost")):
        raise WrkError(f"refusing to load {url}: only loopback is a target")
    paths = paths or ["/"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(paths, headers, method, body))
    try:
        argv = [wrk, "--latency", "-t", str(threads), "-c", str(connections),
                "-d", f"{max(1, round(duration))}s", "--timeout", "5s",
                "-s", script.name, url.rstrip("/") + paths[0]]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
    finally:
        Path(script.name).unlink(missing_ok=True)
    if proc.returncode != 0:
        raise WrkError(f"wrk exited {proc.returncode}: {proc.stderr.strip()[:300]}")
    result = parse(proc.stdout)
    result["connections"] = connections
    return result

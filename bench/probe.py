"""A tiny HTTP/1.1 client on asyncio streams, for what wrk cannot do: the event-loop probe
(GET /health every 10 ms on one kept-alive connection, its latency recorded) and sign-ins
from chosen loopback source addresses (Nirvana limits sign-ins to 30 a minute per IP, so
the load spreads over 127.x.y.z; only loopback addresses are ever used)."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit


class HttpError(RuntimeError):
    pass


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not (parts.hostname or "").startswith("127."):
        raise HttpError(f"refusing {url}: only loopback is a target")
    return parts.hostname, parts.port or 80


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def request(url: str, method: str, path: str, body: bytes = b"",
                  headers: dict[str, str] | None = None, source: str | None = None,
                  timeout: float = 30) -> tuple[int, bytes]:
    """One request on a new connection, optionally from loopback address `source`."""
    host, port = _host_port(url)
    local = (source, 0) if source else None
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, local_addr=local), timeout)
    try:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        return await asyncio.wait_for(_read_response(reader), timeout)
    finally:
        writer.close()


async def probe(url: str, path: str = "/health", interval: float = 0.010,
                duration: float = 5.0) -> dict[str, object]:
    """GET `path` every `interval` s on one kept-alive connection for `duration` s (bounded:
    at most duration/interval requests); latencies in ms."""
    host, port = _host_port(url)
    reader, writer = await asyncio.open_connection(host, port)
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    count = int(duration / interval)
    try:
        for i in range(count):
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            status, _ = await asyncio.wait_for(_read_response(reader), 10)
            if status == 200:
                latencies.append((time.perf_counter() - sent) * 1000)
            else:
                errors += 1
    finally:
        writer.close()
    return {"latencies_ms": latencies, "errors": errors}


def source_addresses(run: int, per_address: int):
    """Loopback source addresses for sign-ins: a fresh block per run (127.<10+run>.y.z), each
    address used `per_address` times before the next (below the per-IP limit)."""
    block = 10 + run % 200
    n = 0
    while True:
        index = n // per_address
        yield f"127.{block}.{index // 250}.{1 + index % 250}"
        n += 1

"""Request headers past 16 KiB are refused, however they arrive."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import orjson


async def raw_get(base: str, headers: bytes) -> tuple[int, bytes]:
    """One GET /health written in a single write, as a client in a hurry sends it."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     + headers + b"\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_70_kb_of_headers_are_refused_with_431(live):
    status, body = await raw_get(live.base, b"X-Big: " + b"a" * 70_000 + b"\r\n")
    assert status == 431
    assert orjson.loads(body)["error"]["code"] == "headers_too_large"
    # Many small headers add up the same way.
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 200) for i in range(100))
    assert (await raw_get(live.base, many))[0] == 431


async def test_headers_under_the_limit_are_served(live):
    status, _ = await raw_get(live.base, b"X-Big: " + b"a" * 15_000 + b"\r\n")
    assert status == 200

"""What a first visit to a page costs: time to first byte and page weight, assets included.

Weight is counted as tests/browser/test_page_weight.py counts it in Chromium (headers and
body of every response the page loads), without a browser: the page's HTML is parsed for
what a browser fetches before the page is usable (stylesheets, scripts, icons, same-origin
images) and each is fetched once on a fresh connection, as on a first visit with an empty
cache. Images on other sites (the seeder's header images point to picsum.photos) are
listed apart and not fetched: the benchmark only loads 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

from .probe import _host_port

# What a browser sends on a first visit; the byte count depends on it (compression).
BROWSER_HEADERS = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
                   "Accept-Encoding": "gzip, deflate, br", "User-Agent": "nirvana-bench"}
LOADED_RELS = {"stylesheet", "icon", "preload", "modulepreload"}


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "link" and set((a.get("rel") or "").lower().split()) & LOADED_RELS:
            self.found.append(a.get("href") or "")
        elif tag in ("script", "img") and a.get("src"):
            self.found.append(a["src"] or "")


@dataclass
class Assets:
    local: list[str] = field(default_factory=list)  # paths on the page's own server
    elsewhere: list[str] = field(default_factory=list)  # not fetched (see the docstring)


def assets_of(html: str) -> Assets:
    """The resources a browser loads for this HTML, each once, in document order."""
    parser = _Assets()
    parser.feed(html)
    out = Assets()
    for ref in dict.fromkeys(r for r in parser.found if r):
        parts = urlsplit(ref)
        if parts.scheme == "data":  # inline: already counted in the page's own bytes
            continue
        if parts.scheme or parts.netloc:
            out.elsewhere.append(ref)
        else:
            out.local.append(ref if ref.startswith("/") else "/" + ref)
    return out


@dataclass
class Fetched:
    status: int
    ttfb_ms: float  # request written → first byte of the answer
    total_ms: float
    wire_bytes: int  # status line, headers and body as received
    body: bytes


async def fetch(url: str, path: str, headers: dict[str, str] | None = None,
                timeout: float = 30) -> Fetched:
    """GET on a new connection (Connection: close), timed to the first byte."""
    host, port = _host_port(url)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or BROWSER_HEADERS).items())
        sent = time.perf_counter()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}"
                     "Connection: close\r\n\r\n".encode())
        first = await asyncio.wait_for(reader.read(1), timeout)
        ttfb = time.perf_counter() - sent
        rest = await asyncio.wait_for(reader.read(), timeout)
        total = time.perf_counter() - sent
    finally:
        writer.close()
    raw = first + rest
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return Fetched(status, ttfb * 1000, total * 1000, len(raw), body)


async def page_weight(url: str, path: str) -> dict[str, object]:
    """The page and every local asset it loads: bytes on the wire, one line per response."""
    page = await fetch(url, path)
    if page.status != 200:
        raise RuntimeError(f"{path} answered {page.status}")
    assets = assets_of(page.body.decode("utf-8", "replace"))
    loads = [(path, page.wire_bytes)]
    for asset in assets.local:
        got = await fetch(url, asset)
        loads.append((asset, got.wire_bytes if got.status == 200 else 0))
    return {"bytes": sum(n for _, n in loads), "responses": loads,
            "not_fetched_elsewhere": assets.elsewhere}


async def first_byte_times(url: str, paths: list[str], count: int) -> list[float]:
    """TTFB in ms of `count` sequential first visits, cycling through `paths`."""
    out = []
    for i in range(count):
        got = await fetch(url, paths[i % len(paths)])
        if got.status != 200:
            raise RuntimeError(f"{paths[i % len(paths)]} answered {got.status}")
        out.append(got.ttfb_ms)
    return out

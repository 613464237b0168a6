"""`python -m bench.asgi_loop [--requests N] [PATH ...]`: µs of CPU per request, in process.

wrk on this shared 2-core machine swings by ±30 % from run to run; this does not. It starts
the embedded databases in a temporary directory, builds the app as run.py does (with the
access log going to /dev/null through the real logging set-up), signs one user up, and
calls the ASGI app directly in a tight loop — no sockets, no HTTP parsing — so what it
measures is Nirvana's own cost per request: middleware, auth, the route, serialisation and
any database round trip. The hello-JSON ceiling app is measured first, in the same loop, as
the yardstick.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from nirvana.app import create_app
from nirvana.bootstrap import build_services
from nirvana.wiring.stores import open_stores
from nirvana.logs import configure_logging
from nirvana.settings import Settings

from .embedded import throwaway_stores


async def call(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    raw_path, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": raw_path, "raw_path": raw_path.encode(),
             "query_string": query.encode(), "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000)}
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def measure(app: Any, path: str, headers: list[tuple[bytes, bytes]],
                  requests: int) -> dict[str, float]:
    for _ in range(min(200, requests)):  # warm caches and the pool
        await call(app, path, headers)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(requests):
        status = await call(app, path, headers)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"cpu_us": cpu * 1e6 / requests, "wall_us": wall * 1e6 / requests}


async def run(paths: list[str], requests: int, database_url: str, mongodb_url: str,
              data_dir: Path, blogs: int = 0) -> None:
    settings = Settings(data_dir=data_dir, mongodb_db=f"asgi_loop_{secrets.token_hex(4)}")
    pool, mongo = await open_stores(settings, database_url=database_url,
                                    mongodb_url=mongodb_url)
    if blogs:
        import random

        from nirvana.seed import seed

        await seed(pool, users=max(10, blogs // 100), blogs=blogs, rng=random.Random(5))
    services = build_services(settings, pool, mongo, secret="b" * 48)
    app = create_app(settings, services)
    try:
        session = await services.accounts.sign_up(
            f"loop-{secrets.token_hex(4)}@example.com", None, "Loop User", "x" * 12 + "Aa1!")
        headers = [(b"host", b"127.0.0.1:8000"),
                   (b"authorization", f"Bearer {session.access_token}".encode())]
        from .ceilings.hello import app as hello_app

        targets = [("hello-JSON ceiling /", hello_app, "/")] + [(p, app, p) for p in paths]
        for name, target, path in targets:
            # "anon:/path" is requested without credentials.
            anonymous = path.startswith("anon:")
            path = path.removeprefix("anon:")
            r = await measure(target, path, headers[:1] if anonymous else headers, requests)
            print(f"{name:40s} {r['cpu_us']:8.1f} µs CPU/request "
                  f"{r['wall_us']:8.1f} µs wall/request (this process only)", flush=True)
    finally:
        await services.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.asgi_loop", description=__doc__)
    parser.add_argument("paths", nargs="*", default=["/health", "/api/v1/user/me"])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--blogs", type=int, default=0, help="seed this many blogs first")
    args = parser.parse_args()
    configure_logging("INFO")
    # The access log is formatted as in production, then written nowhere.
    devnull = open(os.devnull, "w")
    for handler in logging.getLogger().handlers:
        handler.setStream(devnull)  # type: ignore[attr-defined]
    with throwaway_stores("nirvana-asgi-loop-", postgres=True) as stores:
        asyncio.run(run(args.paths, args.requests, stores.database_url, stores.mongodb_url,
                        stores.root / "data", args.blogs))


if __name__ == "__main__":
    main()

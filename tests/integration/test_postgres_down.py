"""With PostgreSQL unreachable, routes that need it answer the documented 503, not a 500."""

from __future__ import annotations

import socket

import asyncpg
import httpx
import pytest

from nirvana.app import create_app
from nirvana.bootstrap import build_services


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["tcp", "unix"])
async def down_client(request, stores, settings, tmp_path):
    # A server that is not there: a TCP port nobody listens on (connection refused), or a
    # Unix socket directory without the socket (FileNotFoundError), as after a stop.
    if request.param == "tcp":
        url = f"postgresql://nirvana@127.0.0.1:{_closed_port()}/nirvana"
    else:
        url = f"postgresql://nirvana@/nirvana?host={tmp_path}"
    pool = await asyncpg.create_pool(url, min_size=0, max_size=2, timeout=2)
    _, mongo = stores
    services = build_services(settings, pool, mongo, secret="t" * 48)
    app = create_app(settings, services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await services.chat_store.close()
    if services.presence_store is not None:
        await services.presence_store.close()
    await pool.close()


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/v1/user/signup",
     {"email": "down@example.com", "password": "correct horse battery", "name": "Down"}),
    ("GET", "/api/v1/blog/bulk", None),
    ("GET", "/api/v1/feed", None),
    ("GET", "/api/v1/blog/search?q=hello", None),
])
async def test_routes_needing_postgres_answer_503_unavailable_when_it_is_down(
        down_client, method, path, body):
    r = await down_client.request(method, path, json=body)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "unavailable"
    assert r.headers["retry-after"] == "5"

"""Instances meant to be one deployment, one of them started on another PostgreSQL database
(a typo in DATABASE_URL) beside the same chat store and Redis: it refuses to start in one
line, and the deployment it would have mixed with serves on. Real run.py processes, the
test servers and a real redis-server."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support.instances import instances, shared_databases, two_friends  # noqa: F401
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)
from tests.support.running import refused_start


@pytest.fixture
async def other_database(stores, server_urls):
    """The URL of another, empty PostgreSQL database on the test server."""
    pool, _ = stores
    name = f"typo_{secrets.token_hex(4)}"
    await pool.execute(f'CREATE DATABASE "{name}"', timeout=60)
    yield urlunsplit(urlsplit(server_urls[0])._replace(path=f"/{name}"))
    await pool.execute(f'DROP DATABASE "{name}" WITH (FORCE)', timeout=60)


@pytest.mark.slow
async def test_an_instance_on_another_postgresql_refuses_to_join(instances, other_database,
                                                                 tmp_path):
    [first] = await instances.start(1)
    http = instances.http(first)
    ann, bob = await two_friends(http)
    code, err = await asyncio.to_thread(refused_start, tmp_path / "typo",
                                        {**instances.env, "DATABASE_URL": other_database})
    assert code != 0 and "\n" not in err, err
    assert err.startswith("nirvana: error: the chat store (MONGODB_URL, database ")
    assert "belongs to another deployment" in err and "DATABASE_URL" in err
    # The first serves on, still the chat writer: a message is stored and reaches bob.
    assert (await http.get("/ready")).status_code == 200
    sender, reader = await instances.connect(first, ann), await instances.connect(first, bob)
    conversation = await sender.open_direct(bob)
    answer = await sender.command("send", conversation_id=conversation, client_id="1",
                                  text="still one deployment")
    assert answer["type"] == "ack", answer
    got = await reader.expect("newMessage")
    assert got["message"]["text"] == "still one deployment"

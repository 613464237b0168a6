"""A deleted account's chat erasure with several instances: run.py processes on the same
databases and a real Redis. The deletion may land on any instance; the erasure runs on the
chat writer (forwarded), whose cache of recent messages and summaries it clears."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.http import PASSWORD, bearer
from tests.support.instances import two_friends
from tests.support.instances import instances, shared_databases  # noqa: F401 (fixtures)
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


async def latest_page(http: httpx.AsyncClient, who: dict, conversation: str) -> list[dict]:
    """The latest page, as clients open it: served from the writer's memory when held."""
    r = await http.get(f"/api/v1/conversations/{conversation}/messages", headers=bearer(who))
    assert r.status_code == 200, r.text
    return r.json()["messages"]


async def test_an_account_deleted_on_another_instance_leaves_no_text_on_the_writer(
        instances):
    writer, other = await instances.start(2)
    on_writer, on_other = instances.http(writer), instances.http(other)
    ann, bob = await two_friends(on_writer)
    r = await on_writer.post("/api/v1/conversations", headers=bearer(ann),
                             json={"kind": "direct", "user_id": bob["id"]})
    conversation = r.json()["id"]
    r = await on_writer.post(f"/api/v1/conversations/{conversation}/messages",
                             headers=bearer(bob), json={"text": "secret"})
    assert r.status_code == 201, r.text
    assert [m["text"] for m in await latest_page(on_writer, ann, conversation)] == ["secret"]

    r = await on_other.request("DELETE", "/api/v1/user/me", headers=bearer(bob),
                               json={"password": PASSWORD})
    assert r.status_code == 204, r.text
    # Erased in the background: through the writer's HTTP, its cached page turns into a
    # tombstone, and so does the conversation list's last message.
    deadline = asyncio.get_running_loop().time() + 30
    while (page := await latest_page(on_writer, ann, conversation))[0]["text"]:
        assert asyncio.get_running_loop().time() < deadline, page
        await asyncio.sleep(0.2)
    assert [(m["text"], m["deleted"]) for m in page] == [("", True)]
    for running in (on_writer, on_other):
        r = await running.get("/api/v1/conversations", headers=bearer(ann))
        [listed] = r.json()["conversations"]
        assert listed["last_message"]["text"] == "", listed

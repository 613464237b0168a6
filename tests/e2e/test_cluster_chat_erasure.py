"""A deleted account's chat erasure with several instances: run.py processes on the same
databases and a real Redis. The deletion may land on any instance; the erasure runs on the
chat writer (forwarded), whose cache of recent messages and summaries it clears, and from
then on the writer (and any that takes over from it, however late) refuses a send of the
account that an instance still forwards: one that has not heard of the deletion."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest
import websockets

from tests.support.chat_client import Client
from tests.support.http import PASSWORD, bearer
from tests.support.instances import Instances, group_of, two_friends
from tests.support.people import user
from tests.support.running import Running
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


async def erased(instances: Instances, who: dict) -> None:
    """Until the account's erasure is recorded done: its second phase ran on the writer."""
    conn = await asyncpg.connect(instances.env["DATABASE_URL"])
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while not await conn.fetchval(
                "SELECT erased_at IS NOT NULL FROM deleted_users WHERE id = $1", who["id"]):
            assert asyncio.get_running_loop().time() < deadline, "never erased"
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def deleted_and_erased(instances: Instances, on: httpx.AsyncClient, who: dict) -> None:
    r = await on.request("DELETE", "/api/v1/user/me", headers=bearer(who),
                         json={"password": PASSWORD})
    assert r.status_code == 204, r.text
    await erased(instances, who)


async def refused_and_closed(sender: Client, group: str) -> None:
    """The account's send, retried as a client does while no writer answers: refused
    `unknown_user`, and the socket closed 4001 after it."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        answer = await sender.command("send", conversation_id=group, client_id="late",
                                      text="late", timeout=20)
        if answer.get("code") not in ("unavailable", "store_timeout"):
            break
        assert asyncio.get_running_loop().time() < deadline, answer
        await asyncio.sleep(0.2)
    assert answer["type"] == "error" and answer["code"] == "unknown_user", answer
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await sender.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001


async def never_delivered_nor_stored(watcher: Client, http: httpx.AsyncClient, who: dict,
                                     group: str) -> None:
    """`who` sends next: the next message its socket gets is its own, and history holds
    no "late"."""
    answer = await watcher.command("send", conversation_id=group, client_id="after",
                                   text="after")
    assert answer["type"] == "ack", answer
    delivered: list[str] = []
    while "after" not in delivered:
        delivered.append((await watcher.expect("newMessage"))["message"]["client_id"])
    assert delivered == ["after"], delivered
    r = await http.get(f"/api/v1/conversations/{group}/messages", headers=bearer(who))
    listed = r.json()["messages"]
    assert [(m["client_id"], m["text"]) for m in listed] == [("before", ""),
                                                             ("after", "after")], listed


async def chatting(instances: Instances, on: Running, unaware: Running
                   ) -> tuple[httpx.AsyncClient, dict, dict, str, Client, Client]:
    """Ann and Bob in a group; Ann's socket on `on`, Bob's on `unaware`, where Bob's
    "before" went through."""
    http = instances.http(on)
    ann, bob = await user(http), await user(http)
    group = await group_of(http, ann, bob)
    watcher = await instances.connect(on, ann)
    sender = await instances.connect(unaware, bob)
    sent = await sender.command("send", conversation_id=group, client_id="before",
                                text="before")
    assert sent["type"] == "ack", sent
    await watcher.expect("newMessage")
    return http, ann, bob, group, watcher, sender


async def test_a_send_forwarded_after_the_erasure_is_refused_and_never_stored(instances):
    """Bob's socket is on an instance that has not heard of his deletion (its link to
    PostgreSQL is cut: it reloads deletions from there). His send after the writer erased
    his text is forwarded there, refused `unknown_user`, and his socket closed 4001; Ann
    never gets it, and history never holds it."""
    [writer] = await instances.start(1)
    unaware, link = await instances.start_cuttable()
    try:
        http, ann, bob, group, watcher, sender = await chatting(instances, writer, unaware)
        link.sever()
        await deleted_and_erased(instances, http, bob)  # on the writer
        await refused_and_closed(sender, group)
        await never_delivered_nor_stored(watcher, http, ann, group)
    finally:
        await instances.stop_cuttable(unaware, link)


async def as_if_long_ago(instances: Instances, who: dict) -> None:
    """The account's deletion moved a day back: a takeover now comes long after it."""
    conn = await asyncpg.connect(instances.env["DATABASE_URL"])
    try:
        await conn.execute("UPDATE deleted_users SET deleted_at = deleted_at - "
                           "interval '1 day' WHERE id = $1", who["id"])
    finally:
        await conn.close()


async def test_a_writer_that_takes_over_refuses_a_send_of_an_account_erased_before(instances):
    """Bob is deleted on an instance that is not the writer: his erasure runs on the
    writer (forwarded), which refuses his sends from then on. The writer is then killed,
    as if a day after the deletion; Bob's send from an instance that has not heard of his
    deletion is forwarded while the lease moves (retried as a client does) and reaches the
    writer that took over: it refuses it too, since Bob no longer exists in PostgreSQL."""
    first, second = await instances.start(2)  # the first leads
    unaware, link = await instances.start_cuttable()
    try:
        http, ann, bob, group, watcher, sender = await chatting(instances, second, unaware)
        link.sever()
        await deleted_and_erased(instances, http, bob)  # on `second`: forwarded to `first`
        await as_if_long_ago(instances, bob)
        first.proc.kill()  # kill -9: `second` takes the lease at once (the pid is gone)
        await asyncio.to_thread(first.proc.communicate)
        await refused_and_closed(sender, group)
        await never_delivered_nor_stored(watcher, http, ann, group)
    finally:
        await instances.stop_cuttable(unaware, link)

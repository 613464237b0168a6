"""Durability and failure: an ack survives kill -9; a store that is down or hangs gets an
error naming the send within a bounded time, blogs keep working, and chat recovers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import websockets.sync.client

from nirvana.app import create_app
from nirvana.bootstrap import build_services
from nirvana.wiring.stores import init_documents, open_stores
from nirvana.storage.embedded import EmbeddedMongo
from tests.support.chat_client import Client
from tests.support.people import befriend, user
from tests.support.servers import TEST_ORIGIN, start_server
from tests.support.http import PASSWORD
from tests.support.running import Running

# -- kill -9 right after the ack -----------------------------------------------------------


def _sign_up(url: str, name: str) -> dict:
    r = httpx.post(f"{url}/api/v1/user/signup",
                   json={"email": f"{name}@example.com", "password": PASSWORD, "name": name})
    assert r.status_code == 201, r.text
    return {"id": r.json()["user"]["id"], "auth": {"Authorization": f"Bearer {r.json()['jwt']}"},
            "jwt": r.json()["jwt"]}


def _answer(ws, request_id: str) -> dict:
    while True:
        event = json.loads(ws.recv(timeout=10))
        if event.get("id") == request_id:
            return event


@pytest.mark.slow
def test_an_acked_message_survives_kill_9_of_the_server_and_its_store(tmp_path):
    data = tmp_path / "var"
    server = Running(data)
    ann, bob = _sign_up(server.url, "ann"), _sign_up(server.url, "bob")
    assert httpx.post(f"{server.url}/api/v1/friends/requests/{bob['id']}",
                      headers=ann["auth"]).status_code < 300
    assert httpx.post(f"{server.url}/api/v1/friends/requests/{ann['id']}/accept",
                      headers=bob["auth"]).status_code < 300
    ws_url = server.url.replace("http", "ws") + f"/ws?token={ann['jwt']}"
    with websockets.sync.client.connect(ws_url) as ws:
        ws.send(json.dumps({"type": "open_direct", "id": "o", "user_id": bob["id"]}))
        conversation = _answer(ws, "o")["conversation"]["id"]
        ws.send(json.dumps({"type": "send", "id": "s", "conversation_id": conversation,
                            "client_id": "c1", "text": "still here?"}))
        ack = _answer(ws, "s")
        # At once, both: Nirvana and the MongoDB-wire server it started (which would
        # otherwise get a polite SIGTERM from its dying parent).
        store_pid = json.loads((data / "mongo.pid").read_text())["pid"]
        os.kill(store_pid, signal.SIGKILL)
        server.proc.kill()
    assert ack["type"] == "ack", ack
    server.proc.communicate()

    server = Running(data)
    try:
        r = httpx.get(f"{server.url}/api/v1/conversations/{conversation}/messages",
                      headers=bob["auth"])
        assert r.status_code == 200, r.text
        assert [(m["seq"], m["text"]) for m in r.json()["messages"]] == [(1, "still here?")]
        (listed,) = httpx.get(f"{server.url}/api/v1/conversations",
                              headers=bob["auth"]).json()["conversations"]
        assert listed["last_seq"] == 1 and listed["unread"] == 1  # summary repaired
    finally:
        server.stop()


# -- MongoDB down or hanging ---------------------------------------------------------------

STORE_TIMEOUT = 1.0


@pytest.fixture
async def own_mongo(server_urls, base_settings, tmp_path, stores):
    """A MongoDB-wire server for this test alone, so it can be stopped and frozen.

    Beanie binds its documents to one database per process: opening this server's stores
    rebinds them here, so they are bound back to the shared stores afterwards, or every
    later test would use this closed client."""
    mongo = EmbeddedMongo(tmp_path / "mongo", durable=False)
    url = await asyncio.to_thread(mongo.start)
    settings = replace(base_settings, data_dir=tmp_path, store_timeout=STORE_TIMEOUT)
    pool, client = await open_stores(settings, database_url=server_urls[0], mongodb_url=url)
    services = build_services(settings, pool, client, secret="t" * 48)
    server, task, port = await start_server(create_app(settings, services),
                                            services.ws_limits.max_frame_bytes)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, headers={"Origin": TEST_ORIGIN}) as http:
            yield mongo, services, http, f"ws://127.0.0.1:{port}/ws"
    finally:
        await services.before_shutdown()
        server.should_exit = True
        await task
        if mongo._proc is not None and mongo._proc.poll() is None:  # noqa: SLF001
            os.kill(mongo._proc.pid, signal.SIGCONT)  # noqa: SLF001
        await services.close()
        await asyncio.to_thread(mongo.stop)
        await init_documents(stores[1], base_settings.mongodb_db)


# The writer answers within twice the store timeout; the rest is slack for a busy machine.
# A send that hangs is what this bound catches: it never answers at all.
BOUND = 2 * STORE_TIMEOUT + 5


async def _send(client: Client, conversation: str, client_id: str) -> tuple[dict, float]:
    t = time.monotonic()
    answer = await client.command("send", conversation_id=conversation, client_id=client_id,
                                  text=client_id, timeout=BOUND)
    return answer, time.monotonic() - t


async def _send_until_acked(client: Client, conversation: str, client_id: str) -> dict:
    deadline = time.monotonic() + 20
    while True:  # the client's own retry: same client_id, until the store is back
        answer, _ = await _send(client, conversation, client_id)
        if answer["type"] == "ack" or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.2)


async def _stopped(pid: int) -> None:
    # SIGSTOP is delivered asynchronously: wait until the kernel reports the process stopped.
    for _ in range(200):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the store is still running (state {state})")


async def _blogs_work(http: httpx.AsyncClient, author: dict) -> None:
    auth = {"Authorization": f"Bearer {author['jwt']}"}
    r = await http.post("/api/v1/blog", headers=auth, json={"title": "Still up",
                                                             "body": "while chat is down"})
    assert r.status_code == 201, r.text
    assert (await http.get("/api/v1/feed")).status_code == 200


async def test_store_hanging_or_down_answers_the_send_and_chat_recovers(own_mongo):
    mongo, services, http, ws_url = own_mongo
    a, b = await user(http), await user(http)
    await befriend(services, a["id"], b["id"])
    ca = await Client.connect(ws_url, a, open_timeout=10)
    conversation = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    assert (await _send(ca, conversation, "before"))[0]["type"] == "ack"
    cb = await Client.connect(ws_url, b, open_timeout=10)

    pid = mongo._proc.pid  # noqa: SLF001
    os.kill(pid, signal.SIGSTOP)  # hangs: connections stay open, nothing is answered
    await _stopped(pid)
    try:
        answer, took = await _send(ca, conversation, "hung")
        assert answer["type"] == "error", answer  # never a false ack
        assert answer["code"] in ("unavailable", "store_timeout") and took < BOUND
        await _blogs_work(http, a)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert (await _send_until_acked(ca, conversation, "hung"))["type"] == "ack"
    # Whether the timed-out write landed late or the retry stored it, the recipient gets
    # the message live, once.
    got = await cb.expect("newMessage", timeout=10)
    assert got["message"]["text"] == "hung"

    await asyncio.to_thread(mongo.stop)  # down: connections refused
    answer, took = await _send(ca, conversation, "down")
    assert answer["type"] == "error" and answer["code"] in ("unavailable", "store_timeout")
    assert took < BOUND
    await _blogs_work(http, a)

    await asyncio.to_thread(mongo.start)  # back on the same port: no restart of Nirvana
    assert (await _send_until_acked(ca, conversation, "down"))["type"] == "ack"
    history = await ca.command("history", conversation_id=conversation)
    texts = [m["text"] for m in history["messages"]]
    assert texts == ["before", "hung", "down"]  # each once, gapless seqs
    assert [m["seq"] for m in history["messages"]] == [1, 2, 3]
    got = await cb.expect("newMessage", timeout=10)
    assert got["message"]["text"] == "down"
    assert not [e for e in cb.backlog if e["type"] == "newMessage"]  # "hung" not twice
    await ca.close(), await cb.close()


# -- kill -9 of the store while a batch is written -----------------------------------------


@contextlib.asynccontextmanager
async def _nirvana(settings, database_url: str, mongodb_url: str):
    """One start of Nirvana on these stores: (services, http, ws url)."""
    pool, client = await open_stores(settings, database_url=database_url,
                                     mongodb_url=mongodb_url)
    services = build_services(settings, pool, client, secret="t" * 48)
    server, task, port = await start_server(create_app(settings, services),
                                            services.ws_limits.max_frame_bytes)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     headers={"Origin": TEST_ORIGIN}) as http:
            yield services, http, f"ws://127.0.0.1:{port}/ws"
    finally:
        await services.before_shutdown()
        server.should_exit = True
        await task
        await services.close()


async def test_a_batch_lost_with_the_store_never_moves_the_head_nor_reuses_a_position(
        server_urls, base_settings, tmp_path, stores):
    """The campaign's case: the MongoDB-wire server is killed with a batch of sends in
    flight, and started again. The senders were answered store_timeout; the writer asked
    the store again meanwhile and, once it is back, stores the sends and delivers them, in
    order. A socket opened then is given the last stored position as its head; after a
    restart of Nirvana the head is not lower than any served, and a device resuming from
    the head it was given misses nothing."""
    mongo = EmbeddedMongo(tmp_path / "mongo")  # durable, as run.py starts it
    url = await asyncio.to_thread(mongo.start)
    settings = replace(base_settings, data_dir=tmp_path, store_timeout=STORE_TIMEOUT)
    served = []
    try:
        async with _nirvana(settings, server_urls[0], url) as (services, http, ws_url):
            a, b = await user(http), await user(http)
            await befriend(services, a["id"], b["id"])
            ca = await Client.connect(ws_url, a, open_timeout=10)
            cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
            stored = (await _send(ca, cid, "stored"))[0]["message"]["pos"]

            pid = mongo._proc.pid  # noqa: SLF001
            os.kill(pid, signal.SIGSTOP)  # the batch below is sent, and never answered
            await _stopped(pid)
            for i in range(20):
                await ca.ws.send(json.dumps({"type": "send", "id": f"lost{i}",
                                             "conversation_id": cid, "client_id": f"lost{i}",
                                             "text": "lost"}))
            await asyncio.sleep(0.5)  # the writer has the batch in flight
            os.kill(pid, signal.SIGKILL)
            mongo._proc.wait()  # noqa: SLF001
            answers = []
            while len(answers) < 20:
                answers.append(await ca.recv(timeout=10))
            assert all(e["type"] == "error" for e in answers), answers
            await asyncio.to_thread(mongo.start)  # the store is back; Nirvana never stopped
            late = []
            while len(late) < 20:
                got = await ca.expect("newMessage", timeout=20)
                if got["message"]["client_id"] != "stored":  # its own, from before
                    late.append(got)
            assert sorted(m["message"]["client_id"] for m in late) == sorted(
                f"lost{i}" for i in range(20))
            positions = [m["pos"] for m in late]
            assert positions == sorted(positions) and positions[0] > stored

            cb = await Client.connect(ws_url, b, open_timeout=10)
            served.append(cb.hello["head"])
            assert cb.hello["head"] == positions[-1]  # what is stored, no further
            await ca.close(), await cb.close()

        # The next start of Nirvana, on the same stores.
        async with _nirvana(settings, server_urls[0], url) as (services, http, ws_url):
            cb = await Client.connect(ws_url, b, since=served[-1], open_timeout=10)
            assert (await cb.expect("resumed"))["head"] >= max(served)
            ca = await Client.connect(ws_url, a, open_timeout=10)
            assert ca.hello["head"] >= max(served)
            after = (await _send(ca, cid, "after"))[0]["message"]
            assert after["pos"] > max(served)
            got = await cb.expect("newMessage", timeout=10)
            assert (got["message"]["text"], got["pos"]) == ("after", after["pos"])
            await ca.close(), await cb.close()
    finally:
        if mongo._proc is not None and mongo._proc.poll() is None:  # noqa: SLF001
            os.kill(mongo._proc.pid, signal.SIGCONT)  # noqa: SLF001
        await asyncio.to_thread(mongo.stop)
        await init_documents(stores[1], base_settings.mongodb_db)

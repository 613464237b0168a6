"""Chat across instances (issue 20): run.py processes on the same databases and a real Redis.

The first instance started holds the `chat-writer` lease; the others forward chat writes to
it. What a user relies on is checked on the sockets and in history: seqs without gaps,
positions that only grow on every socket, resume on another instance exactly once, a retry
through another instance answered with the stored message, and failover of the writer.
"""

from __future__ import annotations

import asyncio
import json
import signal

import httpx
import pytest
import websockets

from nirvana.ws.cluster import PAUSED_REASON
from tests.support.chat_client import Client
from tests.support.http import bearer
from tests.support.instances import Instances, befriend, group_of, two_friends
from tests.support.instances import instances, shared_databases  # noqa: F401 (fixtures)
from tests.support.people import user
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)
from tests.support.running import Running

pytestmark = pytest.mark.slow


async def direct_chat(instances: Instances, http: httpx.AsyncClient, on: Running
                      ) -> tuple[dict, dict, Client, str]:
    """Ann and Bob, friends; Ann on a socket to `on`, in their direct conversation."""
    ann, bob = await two_friends(http)
    sender = await instances.connect(on, ann)
    return ann, bob, sender, await sender.open_direct(bob)


async def history(http: httpx.AsyncClient, who: dict, conversation: str) -> list[dict]:
    r = await http.get(f"/api/v1/conversations/{conversation}/messages",
                       params={"limit": 100}, headers=bearer(who))
    assert r.status_code == 200, r.text
    return r.json()["messages"]


async def messages(client: Client, count: int) -> list[dict]:
    return [await client.expect("newMessage") for _ in range(count)]


async def send_until_acked(client: Client, conversation: str, client_id: str,
                           within: float = 40.0) -> dict:
    """The client's own retry: the same client_id until it is acked."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        answer = await client.command("send", conversation_id=conversation,
                                      client_id=client_id, text=client_id, timeout=20)
        if answer["type"] == "ack":
            return answer
        assert answer["code"] in ("unavailable", "store_timeout", "rate_limited"), answer
        assert asyncio.get_running_loop().time() < deadline, answer
        await asyncio.sleep(answer.get("retry_after") or 0.2)


async def connect_when_served(instances: Instances, running: Running, who: dict,
                              since: int | None = None, within: float = 30.0) -> Client:
    """Connect, again while the instance answers 1013 (it cannot reach a chat writer)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await instances.connect(running, who, since=since)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1013, closed
            # No store is down here: the reason names what is (the chat writer).
            assert closed.rcvd.reason.startswith("The chat writer "), closed.rcvd.reason
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.5)


async def test_two_instances_with_redis_both_start_and_serve(instances):
    a, b = await instances.start(2)
    async with httpx.AsyncClient() as http:
        writers = []
        for running in (a, b):
            ready = await http.get(f"{running.url}/ready")
            assert ready.status_code == 200
            writers.append(ready.json()["chat_writer"])
    assert sorted(writers) == ["elsewhere", "here"]  # one leads; the other knows it does


async def test_a_message_sent_through_one_instance_reaches_a_socket_on_the_other_in_order(
        instances):
    writer, other = await instances.start(2)
    http = instances.http(other)
    ann, bob, sender, conversation = await direct_chat(instances, http, other)
    receiver = await instances.connect(writer, bob)
    # Read on the other instance before the sends: nothing it held may go stale.
    r = await http.get(f"/api/v1/conversations/{conversation}/messages",
                       headers=bearer(bob))  # the latest page, as clients open it
    assert r.json()["messages"] == []
    acks = [await sender.command("send", conversation_id=conversation,
                                 client_id=f"c{i}", text=f"m{i}") for i in range(5)]
    assert [a["message"]["seq"] for a in acks] == [1, 2, 3, 4, 5], acks
    got = await messages(receiver, 5)
    assert [m["message"]["text"] for m in got] == [f"m{i}" for i in range(5)]
    assert [m["pos"] for m in got] == [a["message"]["pos"] for a in acks]
    # Read on either instance, before the writer has written the summaries.
    for running in (writer, other):
        r = await http.get(f"{running.url}/api/v1/conversations/{conversation}/messages",
                           headers=bearer(bob))
        assert [m["seq"] for m in r.json()["messages"]] == [1, 2, 3, 4, 5]
        (listed,) = (await http.get(f"{running.url}/api/v1/conversations",
                                    headers=bearer(bob))).json()["conversations"]
        assert listed["last_seq"] == 5 and listed["unread"] == 5, running.url
        assert listed["last_message"]["text"] == "m4"


# Three instances only: the writer's own sender and a forwarding one are there as with
# two, with a second forwarding instance racing the first.
@pytest.mark.parametrize("count", [3])
async def test_concurrent_sends_through_several_instances_keep_seqs_and_positions(
        instances, count):
    running = await instances.start(count)
    writer = running[0]
    http = instances.http(writer)
    owner, *senders = [await user(http) for n in range(count + 1)]
    conversation = await group_of(http, owner, *senders)
    # One sender on each instance (the writer's included), the watcher on the writer.
    clients = [await instances.connect(r, s) for r, s in zip(running, senders)]
    watcher = await instances.connect(writer, owner)
    tags = [chr(ord("a") + n) for n in range(count)]
    per_sender = 20

    async def burst(client: Client, tag: str) -> list[dict]:
        # Pipelined, as a busy client sends: every command before any answer.
        for i in range(per_sender):
            await client.ws.send(json.dumps({
                "type": "send", "id": f"{tag}{i}", "conversation_id": conversation,
                "client_id": f"{tag}{i}", "text": f"{tag}{i}"}))
        answers: dict[str, dict] = {}
        while len(answers) < per_sender:
            frame = await client.recv(timeout=30)
            if (frame.get("id") or "").startswith(tag):
                answers[frame["id"]] = frame
        return list(answers.values())

    sent = await asyncio.gather(*(burst(c, t) for c, t in zip(clients, tags)))
    answers = [a for batch in sent for a in batch]
    assert all(a["type"] == "ack" for a in answers), answers
    total = count * per_sender
    seqs = sorted(a["message"]["seq"] for a in answers)
    assert seqs == list(range(1, total + 1))
    got = await messages(watcher, total)
    positions = [m["pos"] for m in got]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert sorted(m["message"]["seq"] for m in got) == seqs
    # Each sender's messages keep the order it sent them in.
    for tag in tags:
        mine = [m["message"]["text"] for m in got if m["message"]["text"][0] == tag]
        assert mine == [f"{tag}{i}" for i in range(per_sender)]


async def test_resume_on_another_instance_exactly_once_and_in_order(instances):
    writer, other = await instances.start(2)
    http = instances.http(writer)
    ann, bob, sender, conversation = await direct_chat(instances, http, writer)
    receiver = await instances.connect(writer, bob)
    await sender.command("send", conversation_id=conversation, client_id="1", text="1")
    last = (await receiver.expect("newMessage"))["pos"]
    await receiver.close()
    for i in range(2, 7):  # while bob is away; their summaries are not written yet
        await sender.command("send", conversation_id=conversation, client_id=str(i),
                             text=str(i))
    resumed = await instances.connect(other, bob, since=last)
    texts = [m["message"]["text"] for m in await messages(resumed, 5)]
    assert texts == ["2", "3", "4", "5", "6"]
    done = await resumed.expect("resumed")
    assert done["head"] >= last
    assert (await resumed.command("ping"))["type"] == "pong"
    assert not [e for e in resumed.backlog if e["type"] == "newMessage"]
    # The head the other instance gives is the writer's: a new socket there sees none
    # of these again, and resumes from it with nothing missing.
    fresh = await instances.connect(other, bob)
    assert fresh.hello["head"] >= done["head"]


async def test_resumes_on_another_instance_while_two_instances_send_skip_nothing(instances):
    writer, other = await instances.start(2)
    http = instances.http(writer)
    ann, bob, cat = await user(http), await user(http), await user(http)
    conversation = await group_of(http, ann, bob, cat)
    senders = [await instances.connect(writer, ann), await instances.connect(other, bob)]
    per_sender = 30

    async def send_all(client: Client, tag: str) -> None:
        for i in range(per_sender):
            await send_until_acked(client, conversation, f"{tag}{i}")

    sending = asyncio.gather(send_all(senders[0], "a"), send_all(senders[1], "b"))
    # A device of cat's that keeps reconnecting to the other instance, each time
    # resuming from the head the last replay ended at: if a head ever passed a
    # position still committing, that message would be skipped for good.
    seen: list[int] = []
    since = 0
    while True:
        finished = sending.done()
        client = await connect_when_served(instances, other, cat, since)
        while (frame := await client.recv(timeout=30))["type"] != "resumed":
            if frame["type"] == "newMessage":
                seen.append(frame["pos"])
        since = frame["head"]
        await client.close()
        if finished:
            break
    await sending
    listed = await history(http, cat, conversation)
    assert len(listed) == 2 * per_sender
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert seen == [m["pos"] for m in listed]


async def test_a_retry_through_another_instance_returns_the_stored_message_once(instances):
    writer, other = await instances.start(2)
    http = instances.http(writer)
    ann, bob, first, conversation = await direct_chat(instances, http, writer)
    receiver = await instances.connect(writer, bob)
    sent = await first.command("send", conversation_id=conversation, client_id="x",
                               text="once")
    retry = await instances.connect(other, ann)
    again = await retry.command("send", conversation_id=conversation, client_id="x",
                                text="once")
    assert again["type"] == "ack" and again["duplicate"] is True, again
    assert again["message"] == sent["message"]
    # Over HTTP through the other instance too: 200 (not 201) with the stored message.
    r = await http.post(f"{other.url}/api/v1/conversations/{conversation}/messages",
                        headers=bearer(ann), json={"client_id": "x", "text": "once"})
    assert r.status_code == 200 and r.json()["pos"] == sent["message"]["pos"], r.text
    r = await http.post(f"{other.url}/api/v1/conversations/{conversation}/messages",
                        headers=bearer(ann), json={"client_id": "y", "text": "next"})
    assert r.status_code == 201 and r.json()["seq"] == 2, r.text
    got = await messages(receiver, 2)
    assert [m["message"]["text"] for m in got] == ["once", "next"]
    assert [m["seq"] for m in await history(http, bob, conversation)] == [1, 2]


def _stored_once_in_order(listed: list[dict], acked: dict[str, dict]) -> None:
    """History as a user relies on it: seqs 1..n, positions growing with them, each
    client_id once, every acknowledged message there as it was acknowledged."""
    assert [m["seq"] for m in listed] == list(range(1, len(listed) + 1))
    positions = [m["pos"] for m in listed]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    by_client = {m["client_id"]: m for m in listed}
    assert len(by_client) == len(listed), "a message was stored twice"
    for client_id, message in acked.items():
        assert by_client[client_id]["seq"] == message["seq"], client_id
        assert by_client[client_id]["pos"] == message["pos"], client_id


async def _resumed_from_start(client: Client, count: int) -> list[dict]:
    got = await messages(client, count)
    await client.expect("resumed")
    return got


async def test_kill_9_of_the_writer_under_load_loses_nothing_and_repeats_nothing(instances):
    writer, other = await instances.start(2)
    http = instances.http(other)
    ann, bob, sender, conversation = await direct_chat(instances, http, other)
    acked: dict[str, dict] = {}
    total = 40

    async def load() -> None:
        for i in range(total):
            acked[f"k{i}"] = (await send_until_acked(sender, conversation, f"k{i}"))[
                "message"]

    sending = asyncio.create_task(load())
    while len(acked) < 10:
        await asyncio.sleep(0.05)
    writer.proc.kill()  # kill -9, mid-stream
    await asyncio.to_thread(writer.proc.communicate)
    await asyncio.wait_for(sending, 120)
    listed = await history(http, bob, conversation)
    assert len(listed) == total
    _stored_once_in_order(listed, acked)
    # A device that resumes from the start, on the surviving instance, gets each once.
    got = await _resumed_from_start(await instances.connect(other, bob, since=0), total)
    assert [m["message"]["client_id"] for m in got] == [f"k{i}" for i in range(total)]


PAUSED = 30  # within the command burst (ws/protocol.py Limits)


async def test_a_writer_paused_past_its_lease_commits_nothing_after_waking(instances):
    writer, other = await instances.start(2)
    http = instances.http(other)
    ann, bob, cat = await user(http), await user(http), await user(http)
    await befriend(http, ann, bob)
    await befriend(http, ann, cat)
    on_writer = await instances.connect(writer, ann)
    with_bob, with_cat = [await on_writer.open_direct(u) for u in (bob, cat)]
    acked = {"before": (await on_writer.command(
        "send", conversation_id=with_cat, client_id="before", text="before"))["message"]}
    # Sends the paused writer has read and queued, numbered or half written when it
    # stops; in a conversation the next writer does not touch meanwhile, so only the
    # fence keeps them from landing on positions the next writer hands out too.
    for i in range(PAUSED):
        await on_writer.ws.send(json.dumps({
            "type": "send", "id": f"p{i}", "conversation_id": with_cat,
            "client_id": f"p{i}", "text": f"p{i}"}))
    await asyncio.sleep(0.02)
    writer.proc.send_signal(signal.SIGSTOP)
    on_other = await connect_when_served(instances, other, ann)
    # Served once the other instance takes the lease (it expires: the paused process
    # is alive on this machine, so it is not taken from at once).
    during = [(await send_until_acked(on_other, with_bob, f"d{i}", within=60))["message"]
              for i in range(PAUSED)]
    writer.proc.send_signal(signal.SIGCONT)
    # Woken past the TTL, the instance closes its sockets with 1001 (its users were told
    # offline meanwhile), maybe before the answers to what it had queued: those are lost
    # with the socket, as after a Redis outage. The answers that did come stay valid.
    answers: dict[str, dict] = {}
    try:
        while len(answers) < PAUSED:
            frame = await on_writer.recv(timeout=60)
            if (frame.get("id") or "").startswith("p"):
                answers[frame["id"]] = frame
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, closed
        assert (closed.rcvd.code, closed.rcvd.reason) == (1001, PAUSED_REASON), closed
        on_writer = await connect_when_served(instances, writer, ann)
    for rid, answer in answers.items():
        if answer["type"] == "ack":
            acked[rid] = answer["message"]
        else:
            assert answer["code"] == "unavailable", answer
    # The client retries what was not acked, with the same client_ids, through the woken
    # instance: it forwards, and a send that had landed is answered with the stored message.
    for i in range(PAUSED):
        if f"p{i}" not in acked:
            acked[f"p{i}"] = (await send_until_acked(on_writer, with_cat, f"p{i}"))[
                "message"]
    acked["after"] = (await send_until_acked(on_writer, with_cat, "after"))["message"]
    assert acked["after"]["pos"] > during[-1]["pos"]
    listed = await history(http, cat, with_cat)
    assert len(listed) == PAUSED + 2
    _stored_once_in_order(listed, acked)
    # No position is held by two messages, across conversations.
    everything = listed + await history(http, bob, with_bob)
    assert len({m["pos"] for m in everything}) == len(everything)


async def test_while_redis_is_down_the_writer_chats_and_the_others_answer_unavailable(
        instances, redis_server):  # noqa: F811
    writer, other = await instances.start(2)
    http = instances.http(writer)
    ann, bob, on_writer, conversation = await direct_chat(instances, http, writer)
    on_other = await instances.connect(other, ann)
    acked = {"up": (await on_other.command("send", conversation_id=conversation,
                                           client_id="up", text="up"))["message"]}
    redis_server.stop()
    started = asyncio.get_running_loop().time()
    refused = await on_other.command("send", conversation_id=conversation,
                                     client_id="down", text="down", timeout=20)
    assert refused["type"] == "error" and refused["code"] in ("unavailable",
                                                              "store_timeout"), refused
    assert refused["retry_after"] == 5, refused  # the hint docs/protocol.md promises
    assert asyncio.get_running_loop().time() - started < 15
    r = await http.post(f"{other.url}/api/v1/conversations/{conversation}/messages",
                        headers=bearer(ann), json={"client_id": "down", "text": "down"})
    assert r.status_code == 503 and r.headers["retry-after"] == "5", (r.headers, r.text)
    acked["writer"] = (await on_writer.command(
        "send", conversation_id=conversation, client_id="writer", text="writer"))[
        "message"]
    redis_server.start()
    # Back: the client's retry of the refused send goes through (same client_id). Its
    # socket may be closed for a resume meanwhile (docs/deployment.md): it reconnects.
    deadline = asyncio.get_running_loop().time() + 40
    while "down" not in acked:
        try:
            acked["down"] = (await send_until_acked(on_other, conversation, "down"))[
                "message"]
        except websockets.ConnectionClosed:
            assert asyncio.get_running_loop().time() < deadline
            on_other = await connect_when_served(instances, other, ann)
    listed = await history(http, bob, conversation)
    assert [m["client_id"] for m in listed] == ["up", "writer", "down"]
    _stored_once_in_order(listed, acked)

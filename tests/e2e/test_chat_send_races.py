"""One send made twice at once, with the reader's marks landing between the copies: the copy
the store has already is answered with the stored message (`duplicate: true`), never
refused (docs/protocol.md, Sends: "client_id"). A page reloaded while its first socket's
send is still in flight sends the same client_id again on a second socket; a client that
times out sends it again on the same one."""

from __future__ import annotations

import asyncio
import itertools
import json

from tests.support.chat_client import Client
from tests.support.people import befriend, user

ROUNDS = 12
_ids = itertools.count(1)


async def put(client: Client, type_: str, **fields) -> str:
    """Write one command without waiting for its answer; its id."""
    rid = f"q{next(_ids)}"
    await client.ws.send(json.dumps({"type": type_, "id": rid, **fields}))
    return rid


async def answers(client: Client, ids: list[str]) -> dict[str, dict]:
    """The answers to these commands, whatever order they come in; other frames are kept
    in the client's backlog."""
    got = {e["id"]: e for e in client.backlog if e.get("id") in ids}
    client.backlog = [e for e in client.backlog if e.get("id") not in ids]
    while len(got) < len(ids):
        event = await client.recv()
        if event.get("id") in ids:
            got[event["id"]] = event
        else:
            client.backlog.append(event)
    return got


async def ana_and_ben(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    first = await Client.connect(live.ws, a, max_queue=None)
    second = await Client.connect(live.ws, a, max_queue=None)
    ben = await Client.connect(live.ws, b, max_queue=None)
    cid = await first.open_direct(b)
    await ben.open_direct(a)
    opening = await first.command("send", conversation_id=cid, client_id="opening", text="hi")
    assert opening["type"] == "ack", opening
    return first, second, ben, cid


async def marks_between(ben: Client, cid: str, seq: int) -> list[str]:
    return [await put(ben, "delivered", conversation_id=cid, seq=seq),
            await put(ben, "read", conversation_id=cid, seq=seq)]


def stored_once(acks: list[dict], client_id: str) -> dict:
    """Every copy acknowledged with one message, exactly one of them as new."""
    assert all(ack["type"] == "ack" for ack in acks), acks
    assert {ack["message"]["id"] for ack in acks} == {acks[0]["message"]["id"]}
    assert sorted(ack["duplicate"] for ack in acks) == [False] + [True] * (len(acks) - 1)
    assert acks[0]["message"]["client_id"] == client_id
    return acks[0]["message"]


async def history_client_ids(client: Client, cid: str) -> list[str]:
    history = await client.command("history", conversation_id=cid, limit=100)
    assert history["type"] == "ack", history
    return [m["client_id"] for m in history["messages"]]


async def test_one_client_id_sent_on_two_sockets_at_once_with_marks_between_is_stored_once(live):
    first, second, ben, cid = await ana_and_ben(live)
    seq = 1
    for n in range(ROUNDS):
        client_id = f"same-{n}"
        one = await put(first, "send", conversation_id=cid, client_id=client_id, text=f"m{n}")
        marked = await marks_between(ben, cid, seq)
        two = await put(second, "send", conversation_id=cid, client_id=client_id, text=f"m{n}")
        got_first, got_second, got_ben = await asyncio.gather(
            answers(first, [one]), answers(second, [two]), answers(ben, marked))
        assert all(mark["type"] == "ack" for mark in got_ben.values()), got_ben
        message = stored_once([got_first[one], got_second[two]], client_id)
        assert message["seq"] == seq + 1
        seq = message["seq"]
    assert await history_client_ids(ben, cid) == ["opening"] + [f"same-{n}" for n in range(ROUNDS)]
    for client in (first, second, ben):
        await client.close()


async def test_a_send_made_again_before_its_answer_with_marks_between_is_stored_once(live):
    first, _, ben, cid = await ana_and_ben(live)
    seq = 1
    for n in range(ROUNDS):
        client_id = f"again-{n}"
        copies = [await put(first, "send", conversation_id=cid, client_id=client_id, text="x")]
        marked = await marks_between(ben, cid, seq)
        copies.append(await put(first, "send", conversation_id=cid, client_id=client_id,
                                text="x"))
        got_first, got_ben = await asyncio.gather(answers(first, copies), answers(ben, marked))
        assert all(mark["type"] == "ack" for mark in got_ben.values()), got_ben
        message = stored_once([got_first[rid] for rid in copies], client_id)
        assert message["seq"] == seq + 1
        seq = message["seq"]
    assert await history_client_ids(ben, cid) == ["opening"] + [f"again-{n}" for n in range(ROUNDS)]
    await first.close(), await ben.close()


async def test_a_send_stored_then_sent_again_while_the_next_is_in_flight_is_answered_stored(live):
    """The reload's shape: the kept copy sends a stored send again on a new socket while the
    first socket's next send, and the reader's marks, are still being written."""
    first, second, ben, cid = await ana_and_ben(live)
    for n in range(ROUNDS):
        stored = await first.command("send", conversation_id=cid, client_id=f"kept-{n}",
                                     text="k")
        assert stored["type"] == "ack" and stored["duplicate"] is False, stored
        following = await put(first, "send", conversation_id=cid, client_id=f"next-{n}",
                              text="n")
        marked = await marks_between(ben, cid, stored["message"]["seq"])
        again = await put(second, "send", conversation_id=cid, client_id=f"kept-{n}", text="k")
        got_first, got_second, got_ben = await asyncio.gather(
            answers(first, [following]), answers(second, [again]), answers(ben, marked))
        assert all(mark["type"] == "ack" for mark in got_ben.values()), got_ben
        assert got_first[following]["type"] == "ack", got_first
        assert got_first[following]["duplicate"] is False
        assert got_second[again]["type"] == "ack", got_second
        assert got_second[again]["duplicate"] is True
        assert got_second[again]["message"] == stored["message"]
    expected = ["opening"] + [f"{k}-{n}" for n in range(ROUNDS) for k in ("kept", "next")]
    assert await history_client_ids(ben, cid) == expected
    for client in (first, second, ben):
        await client.close()

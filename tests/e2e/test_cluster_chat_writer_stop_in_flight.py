"""A clean stop (SIGTERM) of the chat writer while its store holds a send's insert: the send
is answered as stored and delivered live, not refused `unavailable` and sent to nobody. A
retry of a stored send in that insert (a batch the writer must sort out) is answered with
the stored message, not refused as a deposed writer's batch would be.

The insert is held in flight without patching the store: the instances run on a
MongoDB-wire server of this test's own, which it freezes (SIGSTOP) before the send and
thaws (SIGCONT) once the writer is stopping. The writer has sent that conversation before,
so it reads nothing from the store before the insert (its seqs and members are known).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
from pathlib import Path

import pytest

from nirvana.storage.embedded import EmbeddedMongo
from tests.support.http import bearer
from tests.support.instances import Instances, two_friends
from tests.support.instances import shared_databases  # noqa: F401 (fixture)
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

# From the send to the SIGTERM: it is forwarded, checked, and its insert sent to the frozen
# store. From the SIGTERM to the thaw: the writer stops listening, closes its sockets
# (none) and reaches its store's `stop_taking`. Both well inside the store timeout (5 s),
# within which the insert's answer still counts. A thaw that came first would let the test
# pass without the stop's wait: the writer's log says whether it waited, and is checked.
TO_THE_INSERT = 1.0
TO_THE_CLOSE = 1.5
WAITED = "the chat writer stops: its commit in progress lands first"


async def _frozen(pid: int) -> None:
    # SIGSTOP is delivered asynchronously: wait until the kernel reports the process stopped.
    for _ in range(200):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the store is still running (state {state})")


@pytest.mark.parametrize("held", ["held", "warm2"], ids=["new", "retry"])
async def test_a_send_whose_insert_is_in_flight_at_the_writers_stop_is_acked_and_delivered(
        tmp_path, shared_databases, redis_server, held):  # noqa: F811 (fixtures)
    mongo = EmbeddedMongo(tmp_path / "store" / "mongo", durable=False)
    url = await asyncio.to_thread(mongo.start)
    pid = json.loads((tmp_path / "store" / "mongo.pid").read_text())["pid"]
    group = Instances(tmp_path / "instances", {
        **shared_databases, "MONGODB_URL": url, "REDIS_URL": redis_server.url,
        "JWT_SECRET": secrets.token_urlsafe(32)})
    stopping = None
    try:
        # The writer logs at INFO: its stop says whether it waited for the insert (WAITED).
        [writer] = await group.start(1, LOG_LEVEL="INFO")
        one, two = await group.start(2)
        ready = (await group.http(writer).get("/ready")).json()
        assert ready["chat_writer"] == "here", ready  # the first to start leads
        http = group.http(one)
        ann, bob = await two_friends(http)
        # The sender's commands are forwarded to the writer; the receiver is on a third
        # instance, which hears of the message only on the relay.
        sender, receiver = await group.connect(one, ann), await group.connect(two, bob)
        conversation = await sender.open_direct(bob)
        for i in range(3):
            warm = await sender.command("send", conversation_id=conversation,
                                        client_id=f"warm{i}", text=f"warm{i}")
            assert warm["type"] == "ack", warm
            await receiver.expect("newMessage")
        os.kill(pid, signal.SIGSTOP)
        await _frozen(pid)
        sending = asyncio.create_task(sender.command(
            "send", conversation_id=conversation, client_id=held, text=held, timeout=30))
        await asyncio.sleep(TO_THE_INSERT)
        assert not sending.done()  # the store holds it
        stopping = asyncio.create_task(asyncio.to_thread(writer.stop, signal.SIGTERM))
        await asyncio.sleep(TO_THE_CLOSE)
        os.kill(pid, signal.SIGCONT)
        answer = await sending
        # Before the fix: `unavailable` ("The server is stopping.", or for the retry "This
        # instance is no longer the chat writer"), and a new message, stored even so,
        # reached nobody live.
        assert answer["type"] == "ack", answer
        assert answer["message"]["client_id"] == held, answer
        if held == "warm2":  # the stored message, delivered when it was first sent
            assert answer.get("duplicate") is True and answer["message"]["seq"] == 3, answer
        else:
            assert not answer.get("duplicate") and answer["message"]["seq"] == 4, answer
            delivered = await receiver.expect("newMessage")
            assert delivered["message"]["client_id"] == held, delivered
            assert delivered["message"]["seq"] == 4, delivered
        code, _, err = await stopping
        assert code == 0, err[-2000:]
        assert WAITED in err, err[-2000:]  # the thaw came after the stop began
        r = await http.get(f"/api/v1/conversations/{conversation}/messages",
                           params={"after": 0, "limit": 100}, headers=bearer(ann))
        assert r.status_code == 200, r.text
        assert [m["client_id"] for m in r.json()["messages"]] == [
            "warm0", "warm1", "warm2", *([held] if held == "held" else [])]
    finally:
        try:
            os.kill(pid, signal.SIGCONT)  # the instances' stops need the store
        except ProcessLookupError:
            pass
        if stopping is not None:  # not stopped twice at once after a failure above
            await asyncio.wait_for(asyncio.gather(stopping, return_exceptions=True), 60)
        await group.stop_all()
        await asyncio.to_thread(mongo.stop)

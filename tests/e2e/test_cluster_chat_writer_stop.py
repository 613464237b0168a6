"""A clean stop (SIGTERM) of the chat writer while the other instances forward sends to it.

A command forwarded to a writer that stops is answered, not left to its forwarder's timeout:
the stopping writer answers what it held, then tells the others it let go, and the instance
that takes over tells them it leads; each fails what it is still waiting for `unavailable`
(retry at once). A client that retries with the same client_id gets each message stored once.

No timing decides whether a send is in flight across the handover: the test holds the
`chat-writer` lease row in PostgreSQL, so the stopping writer cannot give the lease back and
no other instance can take it, until each sender has a send that no writer takes.

It does not pin the order of the stop (the lease given back after the last words): with
the lease given back first, the next writer's own word answers the same refusals. That order
is pinned only at the role's level (test_chat_writer_role.py).
"""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import pytest

from tests.support.chat_client import Client
from tests.support.http import bearer
from tests.support.instances import Instances, two_friends
from tests.support.instances import instances, shared_databases  # noqa: F401 (fixtures)
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

PACE = 0.05  # between one sender's commands: under the socket's command rate (20/s)


class Sender:
    """Sends one message at a time, retrying each with its client_id as protocol.md says,
    and keeps every answer it got."""

    def __init__(self, client: Client, conversation: str, name: str) -> None:
        self.client = client
        self.conversation = conversation
        self.name = name
        self.acked: dict[str, dict] = {}
        self.refusals: list[dict] = []
        self.sent = 0  # sends issued, retries included
        self.answered = 0  # of those, answered
        self.going = True

    async def run(self) -> None:
        i = 0
        while self.going:
            client_id = f"{self.name}{i}"
            while True:
                # Longer than a forwarder's own timeout (twice the store timeout plus one
                # second): an unanswered command shows as `store_timeout`, not as a hang.
                self.sent += 1
                answer = await self.client.command(
                    "send", conversation_id=self.conversation, client_id=client_id,
                    text=client_id, timeout=30)
                self.answered += 1
                if answer["type"] == "ack":
                    self.acked[client_id] = answer["message"]
                    break
                self.refusals.append(answer)
                await asyncio.sleep(answer.get("retry_after") or PACE)
            i += 1
            await asyncio.sleep(PACE)

    async def acks(self, more: int) -> None:
        target = len(self.acked) + more
        while len(self.acked) < target:
            await asyncio.sleep(0.05)


# The stopping writer's release of the lease (a renewal adds `make_interval`), waiting for
# the row the test holds.
RELEASE_BLOCKED = """SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
                     AND query LIKE 'UPDATE leases SET expires_at = now() WHERE%'"""


async def until(done) -> None:
    while not await done():
        await asyncio.sleep(0.05)


async def test_sends_forwarded_during_a_clean_stop_of_the_writer_are_answered_unavailable(
        instances: Instances):
    writer, one, two = await instances.start(3)
    ready = (await instances.http(writer).get("/ready")).json()
    assert ready["chat_writer"] == "here", ready  # the first to start leads
    http = instances.http(one)
    ann, bob = await two_friends(http)
    # A sender on each follower: whichever takes the lease, the other is a third instance,
    # which only hears of the change from the others.
    on_one, on_two = await instances.connect(one, ann), await instances.connect(two, bob)
    conversation = await on_one.open_direct(bob)
    senders = [Sender(on_one, conversation, "a"), Sender(on_two, conversation, "b")]
    running = [asyncio.create_task(s.run()) for s in senders]
    lock = await asyncpg.connect(instances.env["DATABASE_URL"])
    # Outside the lock's transaction, which would read pg_stat_activity once.
    watch = await asyncpg.connect(instances.env["DATABASE_URL"])
    stopping = None
    try:
        await asyncio.wait_for(asyncio.gather(*(s.acks(5) for s in senders)), 60)
        held = lock.transaction()
        await held.start()
        try:
            await lock.execute("SELECT 1 FROM leases WHERE name = 'chat-writer' FOR UPDATE")
            stopping = asyncio.create_task(asyncio.to_thread(writer.stop, signal.SIGTERM))

            async def release_blocked() -> bool:
                return await watch.fetchval(RELEASE_BLOCKED) > 0
            # The writer took its last command. While the row is held no instance leads, even
            # once the release gives up (the pool's command timeout).
            await asyncio.wait_for(until(release_blocked), 60)

            async def each_waits() -> bool:
                seen = [(s.sent, s.answered) for s in senders]
                if not all(sent > answered for sent, answered in seen):
                    return False
                # Still unanswered a while later: not an answer the writer gave before the
                # release that is still on its way, but a send no writer takes.
                await asyncio.sleep(0.5)
                return [(s.sent, s.answered) for s in senders] == seen
            # A send from each follower that no writer takes (one answered by the let-go
            # word meanwhile is sent again, and waits then). Not counted from the moment the
            # release is seen: a send made after the let-go word was heard but before that
            # moment waits for the next writer, which this hold keeps from leading.
            await asyncio.wait_for(until(each_waits), 60)
        finally:
            await held.rollback()
        code, _, err = await stopping
        assert code == 0, err[-2000:]
        # Served by the next writer: each sender's sends land again.
        await asyncio.wait_for(asyncio.gather(*(s.acks(5) for s in senders)), 60)
    finally:
        await lock.close(), await watch.close()
        if stopping is not None:  # the stop is not left running past a failure above
            await asyncio.wait_for(asyncio.gather(stopping, return_exceptions=True), 60)
        for sender in senders:
            sender.going = False
        done = await asyncio.wait_for(asyncio.gather(*running, return_exceptions=True), 60)
    for outcome in done:
        assert outcome is None, outcome
    refusals = [r for s in senders for r in s.refusals]
    # Before the fix, a send forwarded while no instance wrote waited for its forwarder's
    # timeout and came back `store_timeout`; now every refusal is the writer change's.
    assert refusals
    for refusal in refusals:
        assert (refusal["code"], refusal["retry_after"]) == ("unavailable", 1), refusal
    # Each retried send is stored once, under the seq its ack gave.
    listed: list[dict] = []
    while True:
        r = await http.get(f"/api/v1/conversations/{conversation}/messages",
                           params={"after": listed[-1]["seq"] if listed else 0, "limit": 100},
                           headers=bearer(ann))
        assert r.status_code == 200, r.text
        if not r.json()["messages"]:
            break
        listed += r.json()["messages"]
    acked = {k: m for s in senders for k, m in s.acked.items()}
    assert sorted(m["client_id"] for m in listed) == sorted(acked)
    for message in listed:
        assert message["seq"] == acked[message["client_id"]]["seq"]
    assert [m["seq"] for m in listed] == sorted(m["seq"] for m in listed)

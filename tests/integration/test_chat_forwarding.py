"""Chat commands forwarded to the chat writer over a real redis-server: the writer's chat
service (over the in-memory fakes of its ports) answers, in the sender's order, with its
errors as they are, and a writer that does not answer is a store timeout."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import datetime, timezone

import pytest

from nirvana.domain.accounts.sessions import AccessRevocations
from nirvana.domain.accounts.standing import AccountExists
from nirvana.domain.chat.entities import (
    Conversation,
    ConversationKind,
    Member,
    ReceiptKind,
    Role,
)
from nirvana.domain.chat.messaging import direct_key
from nirvana.domain.chat.errors import NotMemberError
from nirvana.domain.errors import InvalidInputError, UnavailableError
from nirvana.storage.cached_users import CachedUserRepository
from nirvana.storage.postgres.accounts import PgUserRepository
from nirvana.storage.postgres.pool import create_pool
from nirvana.storage.redis.bus import RedisBus
from nirvana.storage.redis.chat_forwarding import (
    COMMANDS_CHANNEL,
    ChatCommandServer,
    ForwardedChat,
    relay_replies,
    replies_channel,
)
from nirvana.storage.redis.chat_wire import pack, unpack
from nirvana.wiring.cluster_chat import ClusterChat
from tests.support import chat_world
from tests.support.fakes_chat import RecordingPublisher
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)
from tests.support.tcp_proxy import proxied_postgres


@pytest.fixture
async def pair(redis_server):  # noqa: F811
    """A writer instance and another one, each with its bus; the other's ClusterChat."""
    prefix = f"nirvana:test_{secrets.token_hex(4)}:"
    writer_bus = RedisBus(redis_server.url, prefix=prefix, instance_id="writer")
    other_bus = RedisBus(redis_server.url, prefix=prefix, instance_id="other")
    chat, _, _, published = chat_world.build()
    writing = {"writer": True}
    ChatCommandServer(writer_bus, chat, lambda: writing["writer"])
    forwarded = ForwardedChat(other_bus, timeout=1.0, head_timeout=0.5)
    other_local, _, _, _ = chat_world.build()  # the other instance's own: never written to
    other = ClusterChat(other_local, forwarded, lambda: False)
    await writer_bus.start(), await other_bus.start()
    try:
        yield chat, other, forwarded, writing, published
    finally:
        await writer_bus.close(), await other_bus.close()


async def test_a_forwarded_send_is_stored_by_the_writer_and_answered_with_it(pair):
    chat, other, forwarded, _, published = pair
    conversation = await chat.open_direct(1, 2)
    message, created = await other.send_message(1, conversation.id, client_id="c1",
                                                text="hello")
    assert created and message.seq == 1 and message.text == "hello"
    assert (await chat.history(2, conversation.id))[0] == message  # stored by the writer
    delivered = [e for e in published.events if e[0] == "message"]
    assert delivered == [("message", conversation.id, 1)]  # by the writer
    again, created = await other.send_message(1, conversation.id, client_id="c1",
                                              text="hello")
    assert not created and again == message
    marked = await other.mark(2, conversation.id, ReceiptKind.READ, 1)
    assert marked.member(2).read_seq == 1 and marked.last_seq == 1
    assert await forwarded.head() == await chat.head() > 0  # the writer's head


async def test_the_writers_refusals_arrive_as_the_same_errors(pair):
    chat, other, _, _, _ = pair
    conversation = await chat.open_direct(1, 2)
    with pytest.raises(NotMemberError) as refused:
        await other.send_message(3, conversation.id, client_id="c", text="x")
    assert refused.value.code == "not_member"
    stored = await other.submit_message(1, conversation.id, client_id="c", text="")
    with pytest.raises(InvalidInputError) as invalid:
        await stored  # refused on the writer: the answer says so, as a local one would
    assert invalid.value.details[0]["field"] == "text"


async def test_one_users_pipelined_sends_keep_their_order(pair):
    chat, other, _, _, _ = pair
    conversation = await chat.open_direct(1, 2)
    pending = [await other.submit_message(1, conversation.id, client_id=f"c{i}",
                                          text=str(i)) for i in range(30)]
    stored = [m for m, _ in await asyncio.gather(*pending)]
    assert [m.text for m in stored] == [str(i) for i in range(30)]
    assert [m.seq for m in stored] == list(range(1, 31))


async def test_with_no_writer_answering_a_command_fails_as_a_store_timeout(pair):
    chat, other, _, writing, _ = pair
    conversation = await chat.open_direct(1, 2)
    writing["writer"] = False  # e.g. it lost the lease and nobody took it yet
    started = time.monotonic()
    with pytest.raises(UnavailableError) as timed_out:
        await other.send_message(1, conversation.id, client_id="c", text="x")
    assert timed_out.value.code == "store_timeout"
    assert time.monotonic() - started < 5
    assert await chat.history(1, conversation.id) == []


async def test_commands_waiting_on_a_gone_writer_end_when_this_instance_takes_over(pair):
    chat, other, forwarded, writing, _ = pair
    conversation = await chat.open_direct(1, 2)
    writing["writer"] = False
    waiting = asyncio.ensure_future(other.send_message(1, conversation.id, client_id="c",
                                                       text="x"))
    await asyncio.sleep(0.1)
    forwarded.fail_pending()
    with pytest.raises(UnavailableError) as refused:
        await waiting
    assert refused.value.retry_after == 1  # the retry runs here, at once


async def test_edits_reactions_and_group_changes_round_trip(pair):
    chat, other, _, _, _ = pair
    group = await chat.create_group(1, "g", [2, 3])
    message, _ = await other.send_message(1, group.id, client_id="c", text="hi")
    assert (await other.edit_message(1, group.id, 1, "hello")).text == "hello"
    reacted = await other.react(2, group.id, 1, "👍")
    assert reacted.reactions == (("👍", (2,)),)
    updated = await other.update_group(1, group.id, {"name": "renamed"})
    assert updated.name == "renamed" and updated.last_seq == 1
    added = await other.add_members(1, group.id, [4])
    assert added.member_ids == (1, 2, 3, 4)
    promoted = await other.set_role(1, group.id, 2, Role.ADMIN)
    assert promoted.member(2).role is Role.ADMIN
    removed = await other.remove_members(1, group.id, [4])
    assert removed.member_ids == (1, 2, 3)
    await other.leave_group(3, group.id)
    deleted = await other.delete_message(1, group.id, 1, for_everyone=True)
    assert deleted.deleted and deleted.text == ""
    assert (await chat.conversation_for(1, group.id)).member_ids == (1, 2)


async def test_an_erasure_runs_on_the_writer_and_clears_its_cached_page(pair):
    """Deleting an account on any instance erases on the writer, whose cache served the
    text (only the writer's holds anything with several instances)."""
    chat, other, _, _, _ = pair
    conversation = await chat.open_direct(1, 2)
    await chat.send_message(2, conversation.id, client_id="c", text="secret")
    assert [m.text for m in await chat.history(1, conversation.id)] == ["secret"]
    await other.erase_sender(2)
    assert [(m.text, m.deleted) for m in await chat.history(1, conversation.id)] == [
        ("", True)]


async def test_a_forwarded_erasure_waits_longer_than_a_send(redis_server):  # noqa: F811
    """Its first phase scans the messages (seconds): the store timeout of a send would
    leave every account on a large store pending."""
    bus = RedisBus(redis_server.url, prefix=f"nirvana:test_{secrets.token_hex(4)}:",
                   instance_id="alone")
    forwarded = ForwardedChat(bus, timeout=0.2, erase_timeout=0.6)
    await bus.start()
    try:
        started = time.monotonic()
        with pytest.raises(UnavailableError) as timed_out:  # no writer answers
            await forwarded.erase_sender(2)
        assert timed_out.value.code == "store_timeout"
        assert 0.5 < time.monotonic() - started < 5
    finally:
        await bus.close()


async def test_a_command_the_writer_does_not_know_is_answered_retry(redis_server):  # noqa: F811
    """Mixed releases: a newer instance's command reaches an older writer, which answers
    `unavailable` (retry) rather than failing as on a bug of its own."""
    prefix = f"nirvana:test_{secrets.token_hex(4)}:"
    writer_bus = RedisBus(redis_server.url, prefix=prefix, instance_id="writer")
    other_bus = RedisBus(redis_server.url, prefix=prefix, instance_id="other")
    chat, _, _, _ = chat_world.build()
    ChatCommandServer(writer_bus, chat, lambda: True)
    answers: asyncio.Queue[bytes] = asyncio.Queue()
    other_bus.subscribe(replies_channel("other"), answers.put_nowait)
    await writer_bus.start(), await other_bus.start()
    try:
        await other_bus.publish(COMMANDS_CHANNEL, pack({
            "id": "1", "from": "other", "command": "from_a_newer_release", "lane": None,
            "args": {}}))
        answer = unpack(await asyncio.wait_for(answers.get(), 5))
        assert answer["id"] == "1"
        assert answer["error"]["type"] == "UnavailableError"
        assert answer["error"]["code"] == "unavailable"
    finally:
        await writer_bus.close(), await other_bus.close()


class LinkedRelays:
    """Two instances' relays (storage/redis/relay.py's interface), in memory: what one
    sends reaches the other in the order sent, as the relay on Redis does, a little later
    (the relay publishes from a task of its own, batched)."""

    class End:
        def __init__(self, instance_id: str) -> None:
            self.instance_id = instance_id
            self.handlers: dict = {}
            self.peer: "LinkedRelays.End | None" = None

        def send(self, op: list) -> None:
            peer = self.peer
            asyncio.get_running_loop().call_later(
                0.05, lambda: peer.handlers[op[0]](self.instance_id, op) if op[0] in peer.handlers
                else None)

        def on(self, kind: str, handler) -> None:
            self.handlers[kind] = handler

    def __init__(self, a: str, b: str) -> None:
        self.a, self.b = self.End(a), self.End(b)
        self.a.peer, self.b.peer = self.b, self.a


async def test_answers_on_the_relay_follow_the_frames_relayed_before_them(redis_server):  # noqa: F811
    prefix = f"nirvana:test_{secrets.token_hex(4)}:"
    writer_bus = RedisBus(redis_server.url, prefix=prefix, instance_id="writer")
    other_bus = RedisBus(redis_server.url, prefix=prefix, instance_id="other")
    relays = LinkedRelays("writer", "other")
    heard: list[str] = []
    relays.b.on("frame", lambda sender, op: heard.append(f"frame {op[1]}"))

    class RelayingPublisher(RecordingPublisher):
        def message_posted(self, message, conversation) -> None:  # as the hub relays it
            super().message_posted(message, conversation)
            relays.a.send(["frame", message.seq])

    chat, _, _, _ = chat_world.build(publisher=RelayingPublisher())
    # Each instance wires its own server and forwarder to its own relay, as at start.
    relay_replies(ChatCommandServer(writer_bus, chat, lambda: True),
                  ForwardedChat(writer_bus, timeout=2.0), relays.a)
    other_local, _, _, _ = chat_world.build()
    forwarded = ForwardedChat(other_bus, timeout=2.0)
    relay_replies(ChatCommandServer(other_bus, other_local, lambda: False), forwarded,
                  relays.b)
    await writer_bus.start(), await other_bus.start()
    try:
        conversation = await chat.open_direct(1, 2)
        for i in range(1, 6):
            (await forwarded.send_message(1, conversation.id, client_id=f"c{i}", text="x"))
            heard.append(f"answer {i}")
        assert heard == [f"{kind} {i}" for i in range(1, 6) for kind in ("frame", "answer")]
    finally:
        await writer_bus.close(), await other_bus.close()


async def test_a_writer_change_told_on_the_relay_ends_what_the_others_wait_for(
        redis_server):  # noqa: F811
    prefix = f"nirvana:test_{secrets.token_hex(4)}:"
    writer_bus = RedisBus(redis_server.url, prefix=prefix, instance_id="writer")
    other_bus = RedisBus(redis_server.url, prefix=prefix, instance_id="other")
    relays = LinkedRelays("writer", "other")
    chat, _, _, _ = chat_world.build()
    # Between a writer's clean stop and the next one's lead nobody runs a command.
    writing = {"writer": False}
    changed = ForwardedChat(writer_bus, timeout=2.0)
    relay_replies(ChatCommandServer(writer_bus, chat, lambda: writing["writer"]), changed,
                  relays.a)
    other_local, _, _, _ = chat_world.build()
    forwarded = ForwardedChat(other_bus, timeout=2.0)
    relay_replies(ChatCommandServer(other_bus, other_local, lambda: False), forwarded,
                  relays.b)
    await writer_bus.start(), await other_bus.start()
    try:
        conversation = await chat.open_direct(1, 2)
        waiting = await forwarded.submit_message(1, conversation.id, client_id="c", text="x")
        changed.writer_changed()  # it leads now (or, at a clean stop, it let go)
        with pytest.raises(UnavailableError) as refused:
            await waiting  # not left to expire as `store_timeout`
        assert (refused.value.code, refused.value.retry_after) == ("unavailable", 1)
        writing["writer"] = True
        message, created = await forwarded.send_message(1, conversation.id, client_id="c",
                                                        text="x")
        assert created and message.seq == 1  # the retry, once
    finally:
        await writer_bus.close(), await other_bus.close()


async def test_a_writer_that_cannot_read_the_sender_answers_unavailable(
        redis_server, server_urls):  # noqa: F811
    """The writer checks that a forwarded send's sender exists, from PostgreSQL when it
    does not hold the user (after it took over, say). With its link to PostgreSQL cut, the
    asking instance gets `unavailable` (the client retries), as for its own store; not an
    internal error that closes the client's socket."""
    link, proxied = await proxied_postgres(server_urls[0])
    pool = await create_pool(proxied, timeout=2.0, min_size=0)
    prefix = f"nirvana:test_{secrets.token_hex(4)}:"
    writer_bus = RedisBus(redis_server.url, prefix=prefix, instance_id="writer")
    other_bus = RedisBus(redis_server.url, prefix=prefix, instance_id="other")
    users = CachedUserRepository(PgUserRepository(pool))
    chat, _, changes, _ = chat_world.build(
        account_gate=AccountExists(users, AccessRevocations()))
    ChatCommandServer(writer_bus, chat, lambda: True)
    other = ClusterChat(chat_world.build()[0], ForwardedChat(other_bus, timeout=5.0),
                        lambda: False)
    await writer_bus.start(), await other_bus.start()
    try:
        # Opened before (this bare server has no users table for the writer's check).
        at = datetime.now(timezone.utc)
        conversation = await changes.store.create_conversation(Conversation(
            id="c12", kind=ConversationKind.DIRECT, members=[Member(1, Role.MEMBER),
                                                              Member(2, Role.MEMBER)],
            created_by=1, created_at=at, last_activity=at), direct_key(1, 2))
        link.sever()
        with pytest.raises(UnavailableError) as refused:
            await other.send_message(1, conversation.id, client_id="c", text="x")
        assert refused.value.code == "unavailable"
        assert refused.value.retry_after > 0
        assert await chat.history(2, conversation.id) == []
    finally:
        await writer_bus.close(), await other_bus.close()
        link.heal()
        await pool.close()
        await link.close()

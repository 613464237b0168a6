"""Chat commands forwarded over Redis to the instance that runs the chat writer.

`ForwardedChat` (on an instance that is not the writer) has the writer-bound use cases of
ChatService, same names and arguments: each publishes the command on the commands channel
with a correlation id and waits for the answer on this instance's reply channel. No answer
within `timeout` (no writer yet, the writer died, Redis lost the message) answers as a store
timeout does: `unavailable`, retry with the same client_id, which the store's idempotency
makes safe. `ChatCommandServer` (on every instance) runs a command only while this instance
is the writer; the others ignore it, so exactly one answers.

Sends of one user from one instance run one after another to the point where the writer has
queued them, as on one socket locally: seqs follow the order the client sent them in.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from collections import deque
from functools import partial
from typing import Any, Callable, Protocol, Sequence

from ...domain.chat.entities import Attachment, Conversation, Message, MessageKind
from ...domain.chat.entities import ReceiptKind, Role
from ...domain.chat.service import ChatService
from ...domain.errors import RETRY_AT_ONCE_SECONDS, UnavailableError, WriterUnreachableError
from .chat_wire import COMMANDS, attachments_out, error_in, error_out, pack, unpack

log = logging.getLogger("nirvana.chat.forwarding")

COMMANDS_CHANNEL = "chat.commands"
ERASE_TIMEOUT = 300.0


def replies_channel(instance_id: str) -> str:
    return f"chat.replies.{instance_id}"


class Bus(Protocol):
    """What forwarding needs of nirvana/storage/redis/bus.py (RedisBus)."""

    instance_id: str

    async def publish(self, channel: str, payload: bytes) -> None: ...

    def subscribe(self, channel: str, handler: Callable[[bytes], None]) -> None: ...


class ForwardedChat:
    def __init__(self, bus: Bus, *, timeout: float, head_timeout: float = 2.0,
                 erase_timeout: float = ERASE_TIMEOUT) -> None:
        self._bus = bus
        self.timeout = timeout
        # An erasure scans the messages (storage/mongo/erasure.py): seconds, not a send's
        # milliseconds. One unanswered leaves the account pending, and housekeeping retries.
        self.erase_timeout = erase_timeout
        # Asked by every socket that connects here: one the writer cannot answer soon is
        # told to come back (1013), rather than hang behind a writer that is gone.
        self.head_timeout = head_timeout
        self._waiting: dict[str, tuple[str, asyncio.Future[Any]]] = {}
        # Tells the other instances that the writer changed (`relay_replies` sets it).
        self.tell_others: Callable[[], None] = lambda: None
        bus.subscribe(replies_channel(bus.instance_id), self.answered)

    async def _request(self, command: str, args: dict[str, Any], lane: str | None = None,
                       timeout: float | None = None) -> asyncio.Future[Any]:
        """Publish the command; returns the future of its answer once it is published."""
        loop = asyncio.get_running_loop()
        request_id = uuid.uuid4().hex
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting[request_id] = (command, future)
        try:
            await self._bus.publish(COMMANDS_CHANNEL, pack(
                {"id": request_id, "from": self._bus.instance_id, "command": command,
                 "lane": lane, "args": args}))
        except Exception as exc:
            del self._waiting[request_id]
            log.warning("forwarding a chat command failed: %s", type(exc).__name__)
            raise WriterUnreachableError("The chat writer cannot be reached; retry.") from None
        timer = loop.call_later(timeout or self.timeout, self._expire, request_id)
        future.add_done_callback(lambda _: timer.cancel())
        return future

    async def _call(self, command: str, **args: Any) -> Any:
        return await (await self._request(command, args))

    def _expire(self, request_id: str) -> None:
        found = self._waiting.pop(request_id, None)
        if found is not None and not found[1].done():
            found[1].set_exception(UnavailableError(
                "The chat writer did not answer in time; retry.", code="store_timeout"))

    def fail_pending(self) -> None:
        """Answer every command still waiting `unavailable` now: the writer changed (this
        instance or another leads, or the writer let go), so the one they went to is gone,
        paused or stopping, and a retry reaches the new one."""
        waiting, self._waiting = self._waiting, {}
        for _, future in waiting.values():
            if not future.done():
                future.set_exception(UnavailableError(
                    "The chat writer changed; retry with the same client_id.",
                    retry_after=RETRY_AT_ONCE_SECONDS))

    def writer_changed(self) -> None:
        """This instance began to write, or let go at a clean stop (after its answers):
        what waits here and on the other instances went to a writer that will not answer,
        so each is answered `unavailable` now rather than at its timeout. One the new
        writer did take may then land too; its retry is answered as stored (client_id)."""
        self.fail_pending()
        self.tell_others()

    def answered(self, payload: bytes) -> None:
        """An answer from the writer (on the replies channel, or as `relay_replies` routes)."""
        answer = unpack(payload)
        found = self._waiting.pop(answer["id"], None)
        if found is None:  # answered after its timeout: the caller was told to retry
            return
        command, future = found
        if future.done():
            return
        if "error" in answer:
            future.set_exception(error_in(answer["error"]))
        else:
            future.set_result(COMMANDS[command].result_in(answer["result"]))

    # -- the writer-bound use cases of ChatService ------------------------------------

    async def submit_message(self, user_id: int, conversation_id: str, *, client_id: str,
                             text: str = "", kind: MessageKind = MessageKind.TEXT,
                             attachments: Sequence[Attachment] = (),
                             reply_to: int | None = None) -> asyncio.Future[tuple[Message, bool]]:
        """Returns once the command is published (so a socket's sends leave in its order);
        the future ends with the writer's answer, refusals included."""
        return await self._request("submit", {
            "user_id": user_id, "conversation_id": conversation_id, "client_id": client_id,
            "text": text, "kind": MessageKind(kind).value,
            "attachments": attachments_out(attachments), "reply_to": reply_to,
        }, lane=str(user_id))

    async def send_message(self, user_id: int, conversation_id: str, **send: Any
                           ) -> tuple[Message, bool]:
        return await (await self.submit_message(user_id, conversation_id, **send))

    async def mark(self, user_id: int, conversation_id: str, kind: ReceiptKind, seq: int
                   ) -> Conversation:
        return await self._call("mark", user_id=user_id, conversation_id=conversation_id,
                                kind=ReceiptKind(kind).value, seq=seq)

    async def edit_message(self, user_id: int, conversation_id: str, seq: int, text: str
                           ) -> Message:
        return await self._call("edit_message", user_id=user_id,
                                conversation_id=conversation_id, seq=seq, text=text)

    async def delete_message(self, user_id: int, conversation_id: str, seq: int, *,
                             for_everyone: bool) -> Message:
        return await self._call("delete_message", user_id=user_id,
                                conversation_id=conversation_id, seq=seq,
                                for_everyone=for_everyone)

    async def remove_as_moderator(self, moderator_id: int, conversation_id: str, seq: int
                                  ) -> Message:
        return await self._call("remove_as_moderator", moderator_id=moderator_id,
                                conversation_id=conversation_id, seq=seq)

    async def react(self, user_id: int, conversation_id: str, seq: int, emoji: str,
                    add: bool = True) -> Message:
        return await self._call("react", user_id=user_id, conversation_id=conversation_id,
                                seq=seq, emoji=emoji, add=add)

    async def update_group(self, user_id: int, conversation_id: str,
                           changes: dict[str, str | None]) -> Conversation:
        return await self._call("update_group", user_id=user_id,
                                conversation_id=conversation_id, changes=dict(changes))

    async def add_members(self, user_id: int, conversation_id: str, user_ids: Sequence[int]
                          ) -> Conversation:
        return await self._call("add_members", user_id=user_id,
                                conversation_id=conversation_id, user_ids=list(user_ids))

    async def remove_members(self, user_id: int, conversation_id: str,
                             user_ids: Sequence[int]) -> Conversation:
        return await self._call("remove_members", user_id=user_id,
                                conversation_id=conversation_id, user_ids=list(user_ids))

    async def leave_group(self, user_id: int, conversation_id: str) -> None:
        await self._call("leave_group", user_id=user_id, conversation_id=conversation_id)

    async def set_role(self, user_id: int, conversation_id: str, target_id: int, role: Role
                       ) -> Conversation:
        return await self._call("set_role", user_id=user_id, conversation_id=conversation_id,
                                target_id=target_id, role=Role(role).value)

    async def erase_sender(self, user_id: int) -> None:
        await (await self._request("erase_sender", {"user_id": user_id},
                                   timeout=self.erase_timeout))

    async def head(self) -> int:
        """The writer's head: only it knows which positions are all stored."""
        return await (await self._request("head", {}, timeout=self.head_timeout))


class ChatCommandServer:
    """Runs forwarded commands with this instance's ChatService while `is_writer()`."""

    def __init__(self, bus: Bus, chat: ChatService, is_writer: Callable[[], bool]) -> None:
        self._bus = bus
        # How an answer goes back: (asking instance, answer). On its own reply channel by
        # default; `relay_replies` puts it behind the frames this instance relayed before.
        self.send_reply: Callable[[str, bytes], None] = self._publish_reply
        self._chat = chat
        self._is_writer = is_writer
        self._lanes: dict[str, deque[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        bus.subscribe(COMMANDS_CHANNEL, self._received)

    def _received(self, payload: bytes) -> None:
        if not self._is_writer():
            return  # the writer answers; with none, the forwarder times out
        request = unpack(payload)
        if request.get("command") not in COMMANDS:
            # From a newer release (mixed releases during an upgrade): told to retry, as
            # an unanswered command is, rather than logged as this writer's failure.
            self._reply(request, exc=UnavailableError(
                "The chat writer does not know this command yet; retry."))
            return
        lane = request.get("lane")
        if lane is None:
            self._spawn(self._run(request))
            return
        key = f"{request['from']}:{lane}"
        waiting = self._lanes.get(key)
        if waiting is not None:
            waiting.append(request)
            return
        self._lanes[key] = deque([request])
        self._spawn(self._drain(key))

    async def _drain(self, key: str) -> None:
        waiting = self._lanes[key]
        try:
            while waiting:
                await self._submit(waiting.popleft())
        finally:
            del self._lanes[key]

    async def _submit(self, request: dict[str, Any]) -> None:
        try:
            stored = await COMMANDS[request["command"]].run(self._chat, request["args"])
        except Exception as exc:
            self._reply(request, exc=exc)
            return
        stored.add_done_callback(partial(self._stored, request))

    def _stored(self, request: dict[str, Any], stored: asyncio.Future[Any]) -> None:
        if stored.cancelled():
            self._reply(request, exc=UnavailableError("The send was cancelled; retry."))
        elif stored.exception() is not None:
            self._reply(request, exc=stored.exception())
        else:
            self._reply(request, result=stored.result())

    async def _run(self, request: dict[str, Any]) -> None:
        try:
            result = await COMMANDS[request["command"]].run(self._chat, request["args"])
        except Exception as exc:
            self._reply(request, exc=exc)
        else:
            self._reply(request, result=result)

    def _reply(self, request: dict[str, Any], *, result: Any = None,
               exc: BaseException | None = None) -> None:
        if exc is not None:
            error = error_out(exc)
            if error["type"] is None:
                log.error("forwarded chat command %r failed", request["command"],
                          exc_info=exc)
            answer = {"id": request["id"], "error": error}
        else:
            answer = {"id": request["id"],
                      "result": COMMANDS[request["command"]].result_out(result)}
        self.send_reply(request["from"], pack(answer))

    def _publish_reply(self, instance_id: str, payload: bytes) -> None:
        self._spawn(self._publish(replies_channel(instance_id), payload))

    async def _publish(self, channel: str, payload: bytes) -> None:
        try:
            await self._bus.publish(channel, payload)
        except Exception as exc:  # the forwarder times out and its client retries
            log.warning("answering a forwarded chat command failed: %s", type(exc).__name__)

    async def settle(self, within: float) -> None:
        """At a stop, once the store refused what it held: waits (at most `within`) until
        the commands this instance took are answered."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=within)
        await asyncio.sleep(0)  # the answers of sends the store refused (done callbacks)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class Relay(Protocol):
    """What `relay_replies` needs of storage/redis/relay.py: operations to the other
    instances, in the order this one sent them, frames included."""

    instance_id: str

    def send(self, op: list[Any]) -> None: ...

    def on(self, kind: str, handler: Callable[[str, list[Any]], None]) -> None: ...


def relay_replies(server: ChatCommandServer, forwarded: ForwardedChat, relay: Relay) -> None:
    """Send the writer's answers through the relay that carries its frames: an answer then
    reaches the asking instance after the events the command published (a sender's own
    `newMessage` before its `ack`, as on one process). Every instance hears every answer;
    only the asking one decodes it. A writer that leads, or lets go at a clean stop, says
    so on the same relay, after its answers: every instance then answers what still waits
    for the writer `unavailable` (`ForwardedChat.writer_changed`)."""
    own = relay.instance_id

    def send(instance_id: str, payload: bytes) -> None:
        if instance_id == own:  # asked itself (it became the writer meanwhile)
            forwarded.answered(payload)
        else:
            relay.send(["chat.reply", instance_id, base64.b64encode(payload).decode()])

    def received(sender: str, op: list[Any]) -> None:
        if op[1] == own:
            forwarded.answered(base64.b64decode(op[2]))

    server.send_reply = send
    relay.on("chat.reply", received)
    forwarded.tell_others = lambda: relay.send(["chat.writer"])
    relay.on("chat.writer", lambda sender, op: forwarded.fail_pending())

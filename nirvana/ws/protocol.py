"""The chat WebSocket protocol, sans I/O: text in, typed commands out; events in, text out.

Nothing here touches a socket or an event loop. `ServerConnection` holds the per-connection
rules (frame size, command rate) and is driven by `nirvana/ws/endpoint.py`:

    conn = ServerConnection(limits, clock)
    result = conn.receive(text)      # a Command, or an Error event to send back
    if conn.close is not None: ...   # the connection must be closed with (code, reason)
    text = encode(event)             # any ServerEvent

The same pydantic models validate every frame and generate the JSON Schema served at
GET /api/v1/ws/schema; docs/protocol.md describes them for client authors.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal, Union

import orjson
from pydantic import Field, TypeAdapter, ValidationError

# The newer chat commands and events (groups, edits, reactions, search, presence) live in
# frames_chat.py; the unions below include them.
from . import frames_chat as fc
from .frame_base import (
    AttachmentOut,  # noqa: F401  (re-exported: p.AttachmentOut)
    ConversationId,
    Frame,
    MessageKindName,
    MessageOut,
    Out,
    RequestId,
)

PROTOCOL_VERSION = 1


class CloseCode(enum.IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001  # the server is stopping: reconnect (with backoff) and resume
    POLICY_VIOLATION = 1008  # sustained command flood or repeated protocol abuse
    MESSAGE_TOO_BIG = 1009  # a frame above Limits.max_frame_bytes
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013  # the server is overloaded or a store is down
    UNAUTHENTICATED = 4001  # no/invalid token, token expired, session revoked
    FORBIDDEN_ORIGIN = 4003  # cookie auth from an Origin that is not allowed
    SLOW_CONSUMER = 4008  # the client did not read fast enough: reconnect and resume
    TOO_MANY_CONNECTIONS = 4029  # the per-user cap of open sockets is reached


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame_bytes: int = 64 * 1024
    commands_per_second: float = 20.0
    command_burst: int = 40
    # Refused commands tolerated within `abuse_window_seconds` before closing with 1008.
    max_refusals: int = 20
    abuse_window_seconds: float = 10.0
    outgoing_queue: int = 512  # frames buffered per connection before SLOW_CONSUMER
    sockets_per_user: int = 10
    heartbeat_seconds: float = 20.0
    inflight_sends: int = 64  # sends awaiting their durable write; beyond it, reading waits



# -- client commands ---------------------------------------------------------------------


# Bytes; far above any real file, far below what BSON's int64 holds.
MAX_ATTACHMENT_SIZE = 1 << 40


class AttachmentIn(Frame):
    url: str = Field(max_length=2048)
    kind: MessageKindName = "file"
    name: str | None = Field(default=None, max_length=255)
    size: int | None = Field(default=None, ge=0, le=MAX_ATTACHMENT_SIZE)


class Send(Frame):
    type: Literal["send"]
    id: RequestId
    conversation_id: ConversationId
    client_id: str = Field(min_length=1, max_length=64,
                           description="Idempotency key: a retry with the same client_id "
                                       "returns the stored message and delivers nothing twice")
    kind: MessageKindName = "text"
    text: str = ""
    attachments: list[AttachmentIn] = Field(default_factory=list)
    reply_to: int | None = Field(default=None, ge=1, description="seq of the message answered")


class OpenDirect(Frame):
    type: Literal["open_direct"]
    id: RequestId
    user_id: int = Field(ge=1)


class ListConversations(Frame):
    type: Literal["conversations"]
    id: RequestId


class History(Frame):
    type: Literal["history"]
    id: RequestId
    conversation_id: ConversationId
    before: int | None = Field(default=None, ge=1)
    after: int | None = Field(default=None, ge=0)
    limit: int = Field(default=50, ge=1, le=100)


class Mark(Frame):
    type: Literal["read", "delivered"]
    id: RequestId
    conversation_id: ConversationId
    seq: int = Field(ge=0)


class Typing(Frame):
    type: Literal["typing"]
    id: RequestId
    conversation_id: ConversationId
    active: bool = True


class Resume(Frame):
    type: Literal["resume"]
    id: RequestId
    since: int = Field(ge=0, description="The last `pos` this client processed")


class Ping(Frame):
    type: Literal["ping"]
    id: RequestId


Command = Annotated[
    Union[Send, OpenDirect, ListConversations, History, Mark, Typing, Resume, Ping,
          fc.UpdateGroup, fc.AddMembers, fc.RemoveMembers, fc.Leave, fc.SetRole, fc.Edit,
          fc.Delete, fc.React, fc.Search, fc.SetPresence, fc.PresenceOf],
    Field(discriminator="type"),
]
COMMAND_TYPES = ("send", "open_direct", "conversations", "history", "read", "delivered",
                 "typing", "resume", "ping", *fc.COMMAND_TYPES)

# -- server events -----------------------------------------------------------------------


class MemberOut(Out):
    user_id: int
    role: Literal["owner", "admin", "member"]
    read_seq: int
    delivered_seq: int


class ConversationOut(Out):
    id: str
    kind: Literal["direct", "group"]
    name: str | None
    description: str | None
    avatar_url: str | None
    members: list[MemberOut]
    last_seq: int
    last_message: MessageOut | None
    last_activity: str
    unread: int


class LimitsOut(Out):
    max_frame_bytes: int
    commands_per_second: float
    command_burst: int
    max_text: int
    max_attachments: int
    outgoing_queue: int
    sockets_per_user: int
    inflight_sends: int | None = None


class Hello(Out):
    type: Literal["hello"] = "hello"
    version: int = PROTOCOL_VERSION
    user_id: int
    limits: LimitsOut
    heartbeat_seconds: float
    resume_window: fc.ResumeWindowOut
    head: int = Field(description="The newest stream position when this socket opened")


class Ack(Out):
    type: Literal["ack"] = "ack"
    id: str
    message: MessageOut | None = None
    duplicate: bool | None = None
    conversation: ConversationOut | None = None
    conversations: list[ConversationOut] | None = None
    messages: list[MessageOut] | None = None
    head: int | None = None
    presence: list[fc.PresenceOut] | None = None


class Error(Out):
    type: Literal["error"] = "error"
    id: str | None = Field(description="The request this answers; null if unreadable")
    code: str
    message: str
    details: Any = None
    retry_after: float | None = None


class NewMessage(Out):
    type: Literal["newMessage"] = "newMessage"
    pos: int
    message: MessageOut


class ReceiptEvent(Out):
    type: Literal["receipt"] = "receipt"
    pos: int
    conversation_id: str
    user_id: int
    kind: Literal["delivered", "read"]
    seq: int


class ConversationUpdated(Out):
    type: Literal["conversation.updated"] = "conversation.updated"
    conversation: ConversationOut


class TypingEvent(Out):
    type: Literal["typing"] = "typing"
    conversation_id: str
    user_id: int
    active: bool
    expires_in: float


class OnlineUsers(Out):
    type: Literal["getOnlineUsers"] = "getOnlineUsers"
    user_ids: list[int] = Field(description="Your friends who are online now")


class Resumed(Out):
    type: Literal["resumed"] = "resumed"
    id: str | None  # null when the resume was asked with ?since= on the URL
    head: int


class ResyncRequired(Out):
    type: Literal["resync_required"] = "resync_required"
    id: str | None  # null when the resume was asked with ?since= on the URL
    head: int
    reason: str


class Pong(Out):
    type: Literal["pong"] = "pong"
    id: str


ServerEvent = Union[Hello, Ack, Error, NewMessage, ReceiptEvent, ConversationUpdated,
                    TypingEvent, OnlineUsers, Resumed, ResyncRequired, Pong,
                    fc.MessageEdited, fc.MessageDeleted, fc.ReactionEvent, fc.MemberAdded,
                    fc.MemberRemoved, fc.MemberRole, fc.GroupUpdated, fc.PresenceEvent,
                    fc.ProfileUpdated]

_COMMAND_ADAPTER: TypeAdapter[Any] = TypeAdapter(Command)


class ProtocolError(Exception):
    """A frame that is not a valid command; answered with an error frame, not a close."""

    def __init__(self, code: str, message: str, request_id: str | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.details = details

    def to_event(self) -> Error:
        return Error(id=self.request_id, code=self.code, message=self.message,
                     details=self.details)


def parse(text: str) -> Any:
    """One client frame → a Command model. Raises ProtocolError naming the problem."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError("invalid_json", "The frame is not valid JSON.") from None
    if not isinstance(raw, dict):
        raise ProtocolError("invalid_frame", "A frame is a JSON object with a \"type\".")
    request_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    kind = raw.get("type")
    if kind not in COMMAND_TYPES:
        raise ProtocolError("unknown_command", f"Unknown command type {kind!r}; expected one "
                            f"of {', '.join(COMMAND_TYPES)}.", request_id)
    try:
        return _COMMAND_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        details = [{"field": ".".join(str(p) for p in e["loc"][1:]) or "type",
                    "code": e["type"], "message": e["msg"]}
                   for e in exc.errors(include_url=False, include_input=False)]
        names = ", ".join(sorted({d["field"] for d in details}))
        raise ProtocolError("invalid_command", f"Invalid {kind} command: {names}.",
                            request_id, details) from None


def encode(event: ServerEvent) -> str:
    return event.model_dump_json(exclude_none=True)


class ServerConnection:
    """Per-connection protocol state: size and rate limits, and when to close.

    `receive(text)` returns the parsed command or the Error event to answer with; after any
    call, a non-None `close` is the (code, reason) the driver must close with, and nothing
    more should be fed in.
    """

    def __init__(self, limits: Limits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self._clock = clock
        self._tokens = float(limits.command_burst)
        self._last = clock()
        self._refusals: list[float] = []
        self.close: tuple[CloseCode, str] | None = None

    def _take_token(self) -> bool:
        now = self._clock()
        self._tokens = min(self.limits.command_burst,
                           self._tokens + (now - self._last) * self.limits.commands_per_second)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def _refused(self) -> None:
        # Sustained abuse (rate or garbage) closes; an occasional bad frame never does.
        now = self._clock()
        horizon = now - self.limits.abuse_window_seconds
        self._refusals = [t for t in self._refusals if t > horizon]
        self._refusals.append(now)
        if len(self._refusals) > self.limits.max_refusals:
            self.close = (CloseCode.POLICY_VIOLATION, "too many refused commands")

    def receive_binary(self) -> Error:
        """A binary frame: refused, and counted like any refused command (rate and abuse),
        so a flood of them ends in 1008 like a flood of bad text frames."""
        self._take_token()
        self._refused()
        return Error(id=None, code="binary_not_supported", message="Send JSON text frames.")

    def receive(self, text: str) -> Any:
        if len(text.encode("utf-8")) > self.limits.max_frame_bytes:
            self.close = (CloseCode.MESSAGE_TOO_BIG,
                          f"frames are limited to {self.limits.max_frame_bytes} bytes")
            return Error(id=None, code="frame_too_big", message="The frame is too big.")
        if not self._take_token():
            self._refused()
            retry = (1 - self._tokens) / self.limits.commands_per_second
            try:
                request_id = parse(text).id
            except ProtocolError as exc:
                request_id = exc.request_id
            return Error(id=request_id, code="rate_limited",
                         message="Too many commands; slow down.", retry_after=round(retry, 3))
        try:
            return parse(text)
        except ProtocolError as exc:
            self._refused()
            return exc.to_event()


def json_schema() -> dict[str, Any]:
    """JSON Schema of every frame, from the models that validate them."""
    commands = TypeAdapter(Command).json_schema(ref_template="#/$defs/{model}")
    events = TypeAdapter(Annotated[ServerEvent, Field(discriminator="type")]).json_schema(
        ref_template="#/$defs/{model}")
    defs = {**commands.pop("$defs", {}), **events.pop("$defs", {})}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Nirvana chat protocol v{PROTOCOL_VERSION}",
        "$defs": defs,
        "properties": {"client_command": commands, "server_event": events},
        "close_codes": {c.name.lower(): int(c) for c in CloseCode},
    }

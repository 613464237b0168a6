"""Field types and the parts that client commands and server events share.

The frames themselves: `commands.py` (client → server) and `events.py` (server → client).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..schema_text import ControlFreeText
from .times import CHAT_TIME_PATTERN

PROTOCOL_VERSION = 1


class Frame(ControlFreeText):
    """A client command: unknown fields are refused; text holds no control character
    (`nirvana/schema_text.py`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Out(BaseModel):
    """A server frame or a part of one. A field the JSON Schema marks required is always
    sent, `null` included; an optional one (`Absent`) is left out when it is null."""

    model_config = ConfigDict(frozen=True)


def _is_none(value: object) -> bool:
    return value is None


def Absent(description: str | None = None) -> Any:
    """An optional field (default null): not required by the schema, and left out of the
    frame when null."""
    return Field(default=None, exclude_if=_is_none, description=description)


RequestId = Annotated[str, Field(min_length=1, max_length=64, description="Client request id; "
                                 "the ack or error answering this command carries it")]
ConversationId = Annotated[str, Field(min_length=1, max_length=64)]
MessageKindName = Literal["text", "image", "file", "audio", "video"]
RoleName = Literal["owner", "admin", "member"]
UserIds = list[int]
# An instant as `chat_time` writes it. The pattern is in the schema only (a generated client
# and the tests' frame checks read it), not checked as each frame is built.
ChatTime = Annotated[str, Field(
    description="ISO 8601 in UTC with exactly three fraction digits "
                "(2025-01-01T10:00:00.000+00:00); such strings sort as the instants do",
    json_schema_extra={"format": "date-time", "pattern": CHAT_TIME_PATTERN})]


class AttachmentOut(Out):
    url: str
    kind: MessageKindName
    name: str | None = Absent()
    size: int | None = Absent()


class MessageOut(Out):
    id: str
    conversation_id: str
    seq: int
    pos: int
    sender_id: int
    client_id: str
    kind: MessageKindName
    text: str
    attachments: list[AttachmentOut]
    reply_to: int | None
    created_at: ChatTime
    edited_at: ChatTime | None = Absent()
    deleted: bool = False
    reactions: dict[str, list[int]] | None = Absent(
        "emoji → user ids, in first-reaction order; absent if none")


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
    last_activity: ChatTime
    unread: int


class LimitsOut(Out):
    max_frame_bytes: int
    commands_per_second: float
    command_burst: int
    max_text: int
    max_attachments: int
    outgoing_queue: int
    sockets_per_user: int
    inflight_sends: int | None = Absent()
    outgoing_queue_bytes: int | None = Absent(
        "Bytes queued for this socket before it is closed 4008")
    user_queue_bytes: int | None = Absent(
        "Bytes queued for all your sockets together before the one furthest behind is "
        "closed 4008")


class ResumeWindowOut(Out):
    max_events: int = Field(description="Most events one `resume` replays")
    seconds: float = Field(description="How long events are kept for resume")


class PresenceOut(Out):
    user_id: int
    state: Literal["online", "away", "busy", "offline"]
    last_seen: ChatTime | None = Field(description="When last connected; null if never")


class RoleChange(Out):
    user_id: int
    role: RoleName


class ProfileOut(Out):
    id: int
    name: str
    username: str
    avatar_url: str | None
    status: str

"""Base models and field types shared by every frame module (protocol.py, frames_chat.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Frame(BaseModel):
    """A client command: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


RequestId = Annotated[str, Field(min_length=1, max_length=64, description="Client request id; "
                                 "the ack or error answering this command carries it")]
ConversationId = Annotated[str, Field(min_length=1, max_length=64)]
MessageKindName = Literal["text", "image", "file", "audio", "video"]


class AttachmentOut(Out):
    url: str
    kind: MessageKindName
    name: str | None = None
    size: int | None = None


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
    created_at: str
    edited_at: str | None = None
    deleted: bool = False
    reactions: dict[str, list[int]] | None = Field(
        default=None, description="emoji → user ids, in first-reaction order; absent if none")

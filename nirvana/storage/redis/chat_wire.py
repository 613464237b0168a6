"""The chat commands one instance forwards to the chat writer, and their answers, as bytes.

BSON (pymongo's codec, which the chat store already uses): the values are the stored
documents' own shapes (storage/mongo/codec.py), datetimes included. Each command names a
use case of ChatService; `COMMANDS` says how the writer runs it and how its result travels.
Domain errors travel by class name, code, message and details, so the forwarding instance
raises what the writer raised and every edge answers it as it would locally.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import bson
from bson.codec_options import CodecOptions

from ...domain.chat.entities import (
    Attachment,
    Conversation,
    Message,
    MessageKind,
    ReceiptKind,
    Role,
)
from ...domain.chat.service import ChatService
from ...domain.errors import ConflictError, DomainError, InvalidInputError, UnavailableError
from ...driver_errors import DriverFailure, classify
from ..mongo.codec import changed_fields, conversation_doc, conversation_of, message_doc
from ..mongo.codec import message_of, state_doc

log = logging.getLogger("nirvana.chat.forwarding")

_DECODE = CodecOptions(tz_aware=True)  # as the chat store reads its documents


def pack(document: dict[str, Any]) -> bytes:
    return bson.encode(document)


def unpack(data: bytes) -> dict[str, Any]:
    return bson.decode(data, codec_options=_DECODE)


def message_out(m: Message) -> dict[str, Any]:
    return {**message_doc(m), "reactions": changed_fields(m)["reactions"]}


def conversation_out(c: Conversation) -> dict[str, Any]:
    return {"c": conversation_doc(c, None), "s": state_doc(c)}


def conversation_in(d: dict[str, Any]) -> Conversation:
    return conversation_of(d["c"], d["s"])


def attachments_out(attachments: Any) -> list[dict[str, Any]]:
    return [{"url": a.url, "kind": a.kind.value, "name": a.name, "size": a.size}
            for a in attachments]


def attachments_in(docs: list[dict[str, Any]]) -> tuple[Attachment, ...]:
    return tuple(Attachment(a["url"], MessageKind(a["kind"]), a.get("name"), a.get("size"))
                 for a in docs)


def _sent_out(result: tuple[Message, bool]) -> dict[str, Any]:
    return {"m": message_out(result[0]), "new": result[1]}


def _sent_in(d: dict[str, Any]) -> tuple[Message, bool]:
    return message_of(d["m"]), d["new"]


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Command:
    run: Callable[[ChatService, dict[str, Any]], Awaitable[Any]]  # on the writer
    result_out: Callable[[Any], Any]
    result_in: Callable[[Any], Any]


async def _submit(chat: ChatService, a: dict[str, Any]) -> Any:
    return await chat.submit_message(
        a["user_id"], a["conversation_id"], client_id=a["client_id"], text=a["text"],
        kind=MessageKind(a["kind"]), attachments=attachments_in(a["attachments"]),
        reply_to=a["reply_to"])


async def _head(chat: ChatService, a: dict[str, Any]) -> int:
    return await chat.head()


_MESSAGE = (message_out, message_of)
_CONVERSATION = (conversation_out, conversation_in)

COMMANDS: dict[str, Command] = {
    # `submit` answers twice on the writer: once queued (or refused), then stored; only the
    # stored answer travels back (see chat_forwarding.py).
    "submit": Command(_submit, _sent_out, _sent_in),
    "mark": Command(lambda chat, a: chat.mark(a["user_id"], a["conversation_id"],
                                              ReceiptKind(a["kind"]), a["seq"]),
                    *_CONVERSATION),
    "edit_message": Command(lambda chat, a: chat.edit_message(
        a["user_id"], a["conversation_id"], a["seq"], a["text"]), *_MESSAGE),
    "delete_message": Command(lambda chat, a: chat.delete_message(
        a["user_id"], a["conversation_id"], a["seq"], for_everyone=a["for_everyone"]),
        *_MESSAGE),
    "remove_as_moderator": Command(lambda chat, a: chat.remove_as_moderator(
        a["moderator_id"], a["conversation_id"], a["seq"]), *_MESSAGE),
    "react": Command(lambda chat, a: chat.react(
        a["user_id"], a["conversation_id"], a["seq"], a["emoji"], a["add"]), *_MESSAGE),
    "update_group": Command(lambda chat, a: chat.update_group(
        a["user_id"], a["conversation_id"], a["changes"]), *_CONVERSATION),
    "add_members": Command(lambda chat, a: chat.add_members(
        a["user_id"], a["conversation_id"], a["user_ids"]), *_CONVERSATION),
    "remove_members": Command(lambda chat, a: chat.remove_members(
        a["user_id"], a["conversation_id"], a["user_ids"]), *_CONVERSATION),
    "leave_group": Command(lambda chat, a: chat.leave_group(
        a["user_id"], a["conversation_id"]), _same, _same),
    "set_role": Command(lambda chat, a: chat.set_role(
        a["user_id"], a["conversation_id"], a["target_id"], Role(a["role"])), *_CONVERSATION),
    "head": Command(_head, _same, _same),
    "erase_sender": Command(lambda chat, a: chat.erase_sender(a["user_id"]), _same, _same),
}


def error_out(exc: BaseException) -> dict[str, Any]:
    """A forwarded command's error as the asking instance raises it: a driver's exception
    as the writer's own edges answer it (ws/errors.py), so the asker answers the same."""
    failure, store = classify(exc)
    if failure is DriverFailure.UNAVAILABLE:
        # A store down on the writer (PostgreSQL, read for a sender it does not hold):
        # logged once here, answered as the asker's own store down, and no traceback.
        log.warning("%s unavailable during a forwarded chat command: %s", store,
                    type(exc).__name__)
        exc = UnavailableError(f"{store} is unavailable; retry shortly.")
    elif failure is DriverFailure.CONFLICT:
        exc = ConflictError("The command conflicts with a concurrent change.")
    elif failure is DriverFailure.OUT_OF_RANGE:
        exc = InvalidInputError("A number in the command is out of range.",
                                code="value_out_of_range")
    if isinstance(exc, DomainError):
        return {"type": type(exc).__name__, "code": exc.code, "message": exc.message,
                "details": exc.details, "retry_after": getattr(exc, "retry_after", None)}
    return {"type": None}  # unexpected: logged on the writer, a 500 here as there


def error_in(d: dict[str, Any]) -> Exception:
    if d.get("type") is None:
        return RuntimeError("the chat writer failed on this command (see its log)")
    cls = _domain_errors().get(d["type"], DomainError)
    # Built without the class's own __init__ (some take other arguments): the attributes
    # every edge reads are set as DomainError sets them.
    exc = cls.__new__(cls)
    DomainError.__init__(exc, d["message"], code=d["code"], details=d["details"])
    if d.get("retry_after") is not None:
        exc.retry_after = d["retry_after"]  # type: ignore[attr-defined]
    return exc


def _domain_errors() -> dict[str, type[DomainError]]:
    found: dict[str, type[DomainError]] = {}
    todo: list[type[DomainError]] = [DomainError]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return found

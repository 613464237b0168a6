"""The chat store's dict codec: domain entities to stored documents and back."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Iterable

from ...domain.chat.entities import (
    Attachment,
    ChatEvent,
    Conversation,
    ConversationKind,
    EventType,
    Member,
    Message,
    MessageKind,
    Receipt,
    ReceiptKind,
    Role,
)
from ...domain.chat.search import terms_of
from ...domain.idempotency import IdempotencyKey

# The `type` of a receipt's event document, and of a bundle of receipts (`receipts_doc`).
RECEIPT, RECEIPTS = "receipt", "receipts"
RECEIPT_TYPES = (RECEIPT, RECEIPTS)

_MESSAGE_IDS = uuid.UUID("5d1f3c2e-6a0b-4f7e-9c41-2b8e0d7a9f13")
_MESSAGE_IDS_BYTES = _MESSAGE_IDS.bytes


def message_id(sender_id: int, client_id: str) -> str:
    """The `_id` of the message a sender sends under `client_id`: the same for every retry,
    so the primary key enforces idempotency. Ids are not secrets; reads check membership.

    It is `uuid.uuid5(_MESSAGE_IDS, f"{sender_id}:{client_id}").hex`, made from the hash
    without building a `UUID` (a quarter of the cost, on every send)."""
    name = f"{sender_id}:{client_id}".encode()
    digest = bytearray(hashlib.sha1(_MESSAGE_IDS_BYTES + name, usedforsecurity=False
                                    ).digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50  # version 5
    digest[8] = digest[8] & 0x3F | 0x80  # the RFC 4122 variant
    return digest.hex()


def is_duplicate_key(error: dict[str, Any]) -> bool:
    """A bulk write error for a unique key already stored (any index)."""
    return error.get("code") == 11000


def mark_field(user_id: int, kind: str) -> str:
    """The path of a member's mark (`kind`: "read" or "delivered") in a conversation state:
    `marks` maps str(user_id) -> {"read": seq, "delivered": seq}."""
    return f"marks.{user_id}.{kind}"


def marks_doc(marks: Iterable[tuple[int, int, int]]) -> dict[str, dict[str, int]]:
    """The `marks` of a state from (user_id, read, delivered) triples."""
    return {str(user): {"read": read, "delivered": delivered}
            for user, read, delivered in marks}


def member_doc(m: Member) -> dict[str, Any]:
    return {"user_id": m.user_id, "role": m.role.value}


def marks_of(members: Iterable[Member]) -> dict[str, int]:
    """`$max` operands raising the state's marks to those of `members`."""
    raise_to = {}
    for m in members:
        raise_to[mark_field(m.user_id, "read")] = m.read_seq
        raise_to[mark_field(m.user_id, "delivered")] = m.delivered_seq
    return raise_to


def conversation_doc(c: Conversation, direct_key: str | None,
                     key: IdempotencyKey | None = None) -> dict[str, Any]:
    doc = {
        "_id": c.id, "kind": c.kind.value, "direct_key": direct_key or f"group:{c.id}",
        "member_ids": list(c.member_ids), "members": [member_doc(m) for m in c.members],
        "created_by": c.created_by, "created_at": c.created_at, "name": c.name,
        "description": c.description, "avatar_url": c.avatar_url,
    }
    if key is not None:  # absent otherwise, never null: see documents.py `KEY_INDEX`
        doc["idempotency_key"] = creation_key(c.created_by, key)
        doc["idempotency_fingerprint"] = key.fingerprint
    return doc


def creation_key(created_by: int, key: IdempotencyKey) -> str:
    """A group's stored Idempotency-Key: its creator's, prefixed with the creator (keys
    are per user)."""
    return f"{created_by}:{key.key}"


def state_doc(c: Conversation) -> dict[str, Any]:
    return {"_id": c.id, "last_seq": c.last_seq,
            "last_message": message_doc(c.last_message) if c.last_message else None,
            "last_activity": c.last_activity,
            "marks": marks_doc((m.user_id, m.read_seq, m.delivered_seq) for m in c.members)}


def message_doc(m: Message) -> dict[str, Any]:
    return {
        "_id": m.id, "conversation_id": m.conversation_id, "seq": m.seq, "pos": m.pos,
        "sender_id": m.sender_id, "client_id": m.client_id, "kind": m.kind.value,
        "text": m.text, "reply_to": m.reply_to, "created_at": m.created_at,
        "attachments": [{"url": a.url, "kind": a.kind.value, "name": a.name, "size": a.size}
                        for a in m.attachments],
        "audience": list(m.audience), "edited_at": m.edited_at, "deleted": m.deleted,
        "hidden_for": list(m.hidden_for),
        # Search terms are built with the document, so every stored message is findable.
        "terms": [] if m.deleted else terms_of(m.text),
    }


def changed_fields(m: Message) -> dict[str, Any]:
    """The fields an edit, a delete or a reaction changes, as stored."""
    doc = message_doc(m)
    return {"text": doc["text"], "attachments": doc["attachments"],
            "edited_at": m.edited_at, "deleted": m.deleted, "terms": doc["terms"],
            "reactions": [{"emoji": e, "user_id": u} for e, users in m.reactions
                          for u in users]}


def reactions_of(d: dict[str, Any]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Stored as flat {emoji, user_id} pairs (set operations); grouped per emoji here."""
    grouped: dict[str, list[int]] = {}
    for r in d.get("reactions") or ():
        grouped.setdefault(r["emoji"], []).append(r["user_id"])
    return tuple((e, tuple(users)) for e, users in grouped.items())


def message_of(d: dict[str, Any]) -> Message:
    return Message(
        id=d["_id"], conversation_id=d["conversation_id"], seq=d["seq"], pos=d["pos"],
        sender_id=d["sender_id"], client_id=d["client_id"], kind=MessageKind(d["kind"]),
        text=d["text"], reply_to=d.get("reply_to"), created_at=d["created_at"],
        attachments=tuple(Attachment(a["url"], MessageKind(a["kind"]), a.get("name"),
                                     a.get("size")) for a in d.get("attachments", [])),
        audience=tuple(d.get("audience", ())), edited_at=d.get("edited_at"),
        deleted=d.get("deleted", False), reactions=reactions_of(d),
        hidden_for=tuple(d.get("hidden_for", ())),
    )


def conversation_of(d: dict[str, Any], state: dict[str, Any] | None) -> Conversation:
    """A conversation from its document and its state (see `ConversationStateDoc`); a
    conversation whose state is missing (not expected) reads as one without messages."""
    s = state or {}
    marks = s.get("marks") or {}
    members = []
    for m in d["members"]:
        mark = marks.get(str(m["user_id"])) or {}
        members.append(Member(m["user_id"], Role(m["role"]), mark.get("read", 0),
                              mark.get("delivered", 0)))
    return Conversation(
        id=d["_id"], kind=ConversationKind(d["kind"]), members=members,
        created_by=d["created_by"], created_at=d["created_at"],
        last_activity=s.get("last_activity") or d["created_at"], name=d.get("name"),
        description=d.get("description"), avatar_url=d.get("avatar_url"),
        last_seq=s.get("last_seq", 0),
        last_message=message_of(s["last_message"]) if s.get("last_message") else None,
    )


def receipt_doc(r: Receipt, created_at: Any) -> dict[str, Any]:
    return {"pos": r.pos, "conversation_id": r.conversation_id, "type": RECEIPT,
            "user_id": r.user_id, "kind": r.kind.value, "seq": r.seq,
            "audience": list(r.audience), "created_at": created_at}


def receipts_doc(receipts: list[Receipt], created_at: Any) -> dict[str, Any]:
    """The receipts of one conversation and audience committed together, at consecutive
    positions (receipt_commits.py), as one event document: one set of index entries for
    all of them (docs/performance.md, "A run's receipts of a conversation in one
    document"). `pos` is the highest, so the stream's top, pruning's floor and the `(pos)`
    index read a bundle as any event; `first` the lowest. A group of one stays a plain
    receipt document, as older releases wrote."""
    if len(receipts) == 1:
        return receipt_doc(receipts[0], created_at)
    first = receipts[0]
    return {"pos": receipts[-1].pos, "first": first.pos,
            "conversation_id": first.conversation_id, "type": RECEIPTS,
            "audience": list(first.audience), "created_at": created_at,
            "receipts": [{"pos": r.pos, "user_id": r.user_id, "kind": r.kind.value,
                          "seq": r.seq} for r in receipts]}


def receipts_of(d: dict[str, Any]) -> list[Receipt]:
    """The receipts of a receipt document, plain or a bundle, in position order."""
    audience = tuple(d["audience"])
    if d["type"] == RECEIPT:
        return [Receipt(pos=d["pos"], conversation_id=d["conversation_id"],
                        user_id=d["user_id"], kind=ReceiptKind(d["kind"]), seq=d["seq"],
                        audience=audience)]
    return [Receipt(pos=r["pos"], conversation_id=d["conversation_id"], user_id=r["user_id"],
                    kind=ReceiptKind(r["kind"]), seq=r["seq"], audience=audience)
            for r in d["receipts"]]


def event_doc(e: ChatEvent) -> dict[str, Any]:
    # The message as it was then, without its reactions: a resume replays the message as it
    # is now (resume.py `_as_now`) and reads of this copy only its id and seq, so reactions
    # here would only be written and kept, k of them on the k-th reaction's event.
    return {"pos": e.pos, "conversation_id": e.conversation_id, "type": e.type.value,
            "user_id": e.actor_id, "audience": list(e.audience), "created_at": e.created_at,
            "data": dict(e.data),
            "message": message_doc(e.message) if e.message is not None else None}


def event_of(d: dict[str, Any]) -> ChatEvent:
    return ChatEvent(
        pos=d["pos"], type=EventType(d["type"]), conversation_id=d["conversation_id"],
        actor_id=d["user_id"], audience=tuple(d["audience"]), created_at=d["created_at"],
        data=d.get("data") or {},
        message=message_of(d["message"]) if d.get("message") else None)


# An event document read for a resume: whole but for its message copy, of which only the id
# and seq (`stream_refs_of`): the message itself is read as it is now.
STREAM_PROJECTION = {f: 1 for f in ("pos", "first", "conversation_id", "type", "user_id",
                                    "kind", "seq", "audience", "created_at", "data",
                                    "receipts", "message._id", "message.seq")}


def stream_refs_of(d: dict[str, Any]
                   ) -> tuple[list[Receipt] | list[ChatEvent], tuple[str, int] | None]:
    """An event document read with `STREAM_PROJECTION` as what a resume replays (a bundle's
    receipts, or one event), and the id and seq of the message its event carries, if any:
    the event is returned without it."""
    if d["type"] in RECEIPT_TYPES:
        return receipts_of(d), None
    copy = d.get("message")
    return [event_of({**d, "message": None})], (copy["_id"], copy["seq"]) if copy else None

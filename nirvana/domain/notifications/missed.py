"""Missed chat messages by email, as Zulip does: the rules, free of I/O.

A direct message, or a mention in a group, whose recipient has no connected device is
*tracked* for that recipient. After a delay (`MISSED_MESSAGE_DELAY`), what is still unread
of it is mailed, one mail per conversation gathering every tracked message still unread;
what was read meanwhile is not. The tracker (nirvana/missed_messages.py) records the last
seq each mail covered in the same transaction as the mail, so no message is mailed twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..chat.entities import Conversation, ConversationKind, Message
from .policy import Mention, mentions

MAX_MAILED = 20  # messages quoted in one mail; the rest are counted


@dataclass(frozen=True, slots=True)
class Tracked:
    user_id: int
    conversation_id: str
    seq: int


def candidates(message: Message, conversation: Conversation
               ) -> tuple[list[int], list[Mention]]:
    """Who may miss `message`: every other member of a direct conversation; in a group,
    only the members it mentions, given here as mentions still to resolve among the members
    (policy.resolve)."""
    if message.deleted:
        return [], []
    if conversation.kind is ConversationKind.DIRECT:
        return [m for m in conversation.member_ids if m != message.sender_id], []
    return [], mentions(message.text) if "@" in message.text else []


def still_unread(messages: Sequence[Message], user_id: int, pending: Sequence[int],
                 read_seq: int, mailed_through: int) -> list[Message]:
    """The tracked messages a mail should carry now: not read, not mailed, not deleted, not
    hidden from the recipient, and not the recipient's own."""
    wanted = {s for s in pending if s > max(read_seq, mailed_through)}
    return [m for m in messages if m.seq in wanted and not m.deleted
            and m.visible_to(user_id) and m.sender_id != user_id]


def subject(conversation: Conversation, sender_names: list[str], count: int) -> str:
    if conversation.kind is ConversationKind.DIRECT:
        who = sender_names[0] if sender_names else "Someone"
        return f"{who} sent you {count} message{'s' if count != 1 else ''}"
    name = conversation.name or "a group"
    return f"You were mentioned in {name}"


def quote(message: Message, sender: str) -> str:
    text = message.text.strip() or "(an attachment)"
    if len(text) > 500:
        text = text[:500] + "…"
    return f"{sender} ({message.created_at:%Y-%m-%d %H:%M} UTC): {text}"

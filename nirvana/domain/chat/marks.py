"""A member's read and delivered marks as a cached conversation holds them."""

from __future__ import annotations

from .entities import Conversation, ReceiptKind


def held_mark(conversation: Conversation, user_id: int, kind: ReceiptKind) -> int:
    """The member's mark of `kind` as `conversation` holds it; a read mark covers delivered."""
    member = conversation.member(user_id)
    if member is None:
        return 0
    if kind is ReceiptKind.READ:
        return member.read_seq
    return max(member.read_seq, member.delivered_seq)


def raise_mark(conversation: Conversation, user_id: int, kind: ReceiptKind, seq: int) -> None:
    """Raise the member's mark of `kind` to `seq` (a read raises delivered too)."""
    member = conversation.member(user_id)
    if member is None:
        return
    if kind is ReceiptKind.READ:
        member.read_seq = max(member.read_seq, seq)
    member.delivered_seq = max(member.delivered_seq, seq)

"""Domain entities → protocol models. Shared by the WebSocket events and the HTTP routes, so
a message looks the same on both."""

from __future__ import annotations

from datetime import datetime

from ..domain.chat.entities import ChatEvent, Conversation, Message, Receipt
from . import protocol as p


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def message_out(m: Message) -> p.MessageOut:
    deleted = m.deleted
    return p.MessageOut(
        id=m.id, conversation_id=m.conversation_id, seq=m.seq, pos=m.pos,
        sender_id=m.sender_id, client_id=m.client_id, kind=m.kind.value,
        text="" if deleted else m.text,
        attachments=[] if deleted else [
            p.AttachmentOut(url=a.url, kind=a.kind.value, name=a.name, size=a.size)
            for a in m.attachments],
        reply_to=m.reply_to, created_at=m.created_at.isoformat(),
        edited_at=_iso(m.edited_at), deleted=deleted,
        reactions={e: list(users) for e, users in m.reactions} if m.reactions else None,
    )


def conversation_out(c: Conversation, viewer: int) -> p.ConversationOut:
    return p.ConversationOut(
        id=c.id, kind=c.kind.value, name=c.name, description=c.description,
        avatar_url=c.avatar_url,
        members=[p.MemberOut(user_id=m.user_id, role=m.role.value, read_seq=m.read_seq,
                             delivered_seq=m.delivered_seq) for m in c.members],
        last_seq=c.last_seq,
        last_message=message_out(c.last_message)
        if c.last_message and c.last_message.visible_to(viewer) else None,
        last_activity=c.last_activity.isoformat(), unread=c.unread_for(viewer),
    )


def stream_event(item: Message | Receipt | ChatEvent) -> p.ServerEvent:
    """A stored stream item as the live event it was (what `resume` replays)."""
    if isinstance(item, ChatEvent):
        from .views_chat import change_event  # the newer events have their own module

        return change_event(item)
    if isinstance(item, Message):
        return p.NewMessage(pos=item.pos, message=message_out(item))
    return p.ReceiptEvent(pos=item.pos, conversation_id=item.conversation_id,
                          user_id=item.user_id, kind=item.kind.value, seq=item.seq)

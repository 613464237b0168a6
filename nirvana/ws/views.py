"""Domain entities → protocol models. Shared by the WebSocket events and the HTTP routes, so
a message looks the same on both."""

from __future__ import annotations

from datetime import datetime

from ..domain.chat.entities import ChatEvent, Conversation, EventType, Message, Peer, Receipt
from . import events as ev
from .frames import (
    AttachmentOut,
    ConversationOut,
    MemberOut,
    MessageOut,
    PresenceOut,
    ProfileOut,
)
from .times import chat_time


def _iso(t: datetime | None) -> str | None:
    return chat_time(t) if t is not None else None


def message_out(m: Message) -> MessageOut:
    deleted = m.deleted
    return MessageOut(
        id=m.id, conversation_id=m.conversation_id, seq=m.seq, pos=m.pos,
        sender_id=m.sender_id, client_id=m.client_id, kind=m.kind.value,
        text="" if deleted else m.text,
        attachments=[] if deleted else [
            AttachmentOut(url=a.url, kind=a.kind.value, name=a.name, size=a.size)
            for a in m.attachments],
        reply_to=m.reply_to, created_at=chat_time(m.created_at),
        edited_at=_iso(m.edited_at), deleted=deleted,
        reactions={e: list(users) for e, users in m.reactions} if m.reactions else None,
    )


def conversation_out(c: Conversation, viewer: int) -> ConversationOut:
    return ConversationOut(
        id=c.id, kind=c.kind.value, name=c.name, description=c.description,
        avatar_url=c.avatar_url,
        members=[MemberOut(user_id=m.user_id, role=m.role.value, read_seq=m.read_seq,
                           delivered_seq=m.delivered_seq) for m in c.members],
        last_seq=c.last_seq,
        last_message=message_out(c.last_message)
        if c.last_message and c.last_message.visible_to(viewer) else None,
        last_activity=chat_time(c.last_activity), unread=c.unread_for(viewer),
    )


def stream_event(item: Message | Receipt | ChatEvent) -> ev.ServerEvent:
    """A stored stream item as the live event it was (what `resume` replays)."""
    if isinstance(item, ChatEvent):
        return change_event(item)
    if isinstance(item, Message):
        return ev.NewMessage(pos=item.pos, message=message_out(item))
    return ev.ReceiptEvent(pos=item.pos, conversation_id=item.conversation_id,
                           user_id=item.user_id, kind=item.kind.value, seq=item.seq)


def change_event(e: ChatEvent) -> ev.ServerEvent:
    common = {"pos": e.pos, "conversation_id": e.conversation_id, "actor_id": e.actor_id}
    d = e.data
    message = message_out(e.message) if e.message is not None else None
    match e.type:
        case EventType.MESSAGE_EDITED:
            return ev.MessageEdited(**common, message=message)
        case EventType.MESSAGE_DELETED:
            return ev.MessageDeleted(**common, seq=d["seq"], scope=d["scope"], message=message)
        case EventType.REACTION:
            return ev.ReactionEvent(**common, seq=d["seq"], emoji=d["emoji"],
                                    user_id=d["user_id"], added=d["added"], message=message)
        case EventType.MEMBER_ADDED:
            return ev.MemberAdded(**common, user_ids=d["user_ids"])
        case EventType.MEMBER_REMOVED:
            return ev.MemberRemoved(**common, user_ids=d["user_ids"], left=d["left"])
        case EventType.MEMBER_ROLE:
            return ev.MemberRole(**common, changes=d["changes"])
        case EventType.GROUP_UPDATED:
            return ev.GroupUpdated(**common, changes=d["changes"])
    raise ValueError(f"no frame for event type {e.type}")


def presence_out(user_id: int, state: str, last_seen: datetime | None) -> PresenceOut:
    return PresenceOut(user_id=user_id, state=state, last_seen=_iso(last_seen))


def profile_out(peer: Peer) -> ProfileOut:
    return ProfileOut(id=peer.id, name=peer.name, username=peer.username,
                      avatar_url=peer.avatar_url, status=peer.status)

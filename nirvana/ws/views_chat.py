"""Change events, presence and profiles → protocol models (WebSocket and HTTP alike)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..domain.chat.entities import ChatEvent, EventType, Peer
from . import frames_chat as fc
from .views import message_out


def change_event(e: ChatEvent) -> Any:
    common = {"pos": e.pos, "conversation_id": e.conversation_id, "actor_id": e.actor_id}
    d = e.data
    message = message_out(e.message) if e.message is not None else None
    match e.type:
        case EventType.MESSAGE_EDITED:
            return fc.MessageEdited(**common, message=message)
        case EventType.MESSAGE_DELETED:
            return fc.MessageDeleted(**common, seq=d["seq"], scope=d["scope"], message=message)
        case EventType.REACTION:
            return fc.ReactionEvent(**common, seq=d["seq"], emoji=d["emoji"],
                                    user_id=d["user_id"], added=d["added"], message=message)
        case EventType.MEMBER_ADDED:
            return fc.MemberAdded(**common, user_ids=d["user_ids"])
        case EventType.MEMBER_REMOVED:
            return fc.MemberRemoved(**common, user_ids=d["user_ids"], left=d["left"])
        case EventType.MEMBER_ROLE:
            return fc.MemberRole(**common, changes=d["changes"])
        case EventType.GROUP_UPDATED:
            return fc.GroupUpdated(**common, changes=d["changes"])
    raise ValueError(f"no frame for event type {e.type}")


def presence_out(user_id: int, state: str, last_seen: datetime | None) -> fc.PresenceOut:
    return fc.PresenceOut(user_id=user_id, state=state,
                          last_seen=last_seen.isoformat() if last_seen else None)


def profile_out(peer: Peer) -> fc.ProfileOut:
    return fc.ProfileOut(id=peer.id, name=peer.name, username=peer.username,
                         avatar_url=peer.avatar_url, status=peer.status)

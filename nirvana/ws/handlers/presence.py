"""Presence: set your own state, ask for others' (as far as you may see them)."""

from __future__ import annotations

from ...domain.chat.service import ChatService
from ...domain.presence import PresenceState
from .. import commands as c
from ..connection import Connection
from ..events import Ack, encode


async def presence(chat: ChatService, conn: Connection, cmd: c.SetPresence) -> None:
    fanout = conn.hub_presence
    if fanout is not None:
        await fanout.set_state(conn.user_id, PresenceState(cmd.state))
    conn.push(encode(Ack(id=cmd.id)))


async def presence_of(chat: ChatService, conn: Connection, cmd: c.PresenceOf) -> None:
    fanout = conn.hub_presence
    states = await fanout.query(conn.user_id, cmd.user_ids) if fanout is not None else []
    conn.push(encode(Ack(id=cmd.id, presence=states)))

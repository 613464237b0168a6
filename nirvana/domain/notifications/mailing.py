"""Notifications by email: to a recipient with no connected device, per their switches, and
the one-click unsubscribe that turns a switch off (see mail.py for the mail itself)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ..errors import field_error
from .entities import Actor, Draft, Kind, Notification
from .mail import (
    Contact,
    Mail,
    Outbox,
    Signer,
    compose,
    read_unsubscribe_token,
    unsubscribe_token,
)
from .policy import link, summary
from .preferences import DEFAULTS, Channel, Preferences

WHY = {
    Kind.FRIEND_REQUEST: "You get this email because someone asked to be your friend "
                         "while you were away.",
    Kind.MENTIONED: "You get this email because you were mentioned while you were away.",
}


class Devices(Protocol):
    def online(self, user_id: int) -> bool:
        """Whether the user has a connected device (an open WebSocket) now."""
        ...


class Contacts(Protocol):
    async def contacts(self, user_ids: list[int]) -> dict[int, Contact]: ...

    async def blog_title(self, blog_id: int) -> str | None: ...


class NotificationMail:
    def __init__(self, *, outbox: Outbox, signer: Signer, contacts: Contacts,
                 devices: Devices, preferences: Preferences, base_url: str) -> None:
        self._outbox = outbox
        self._signer = signer
        self.contacts = contacts
        self._devices = devices
        self._preferences = preferences
        self.base_url = base_url

    def online(self, user_id: int) -> bool:
        return self._devices.online(user_id)

    async def offline(self, draft: Draft, now: datetime) -> bool:
        """Mail `draft` if its kind is mailed, its recipient wants it and has no connected
        device. Whether a mail was queued."""
        if draft.kind not in WHY or draft.actor_id is None:
            return False
        if draft.conversation_id is not None:
            return False  # a chat mention is mailed with the missed messages, once
        if self._devices.online(draft.recipient_id):
            return False
        if not await self._preferences.wants(draft.recipient_id, draft.kind, Channel.EMAIL):
            return False
        found = await self.contacts.contacts([draft.recipient_id, draft.actor_id])
        to, actor = found.get(draft.recipient_id), found.get(draft.actor_id)
        if to is None or actor is None:
            return False
        title = await self.contacts.blog_title(draft.blog_id) if draft.blog_id else None
        n = Notification(0, draft.recipient_id, draft.kind,
                         (Actor(actor.user_id, actor.username, actor.name),), 1,
                         draft.blog_id, title, draft.comment_id, None, now, now, None)
        what = summary(n)
        await self.send(to, kind=draft.kind, subject=what, lines=[what + "."],
                        link=link(n), link_text="Open it on Nirvana")
        return True

    def compose(self, to: Contact, *, kind: str, subject: str, lines: list[str],
                link: str, link_text: str, why: str | None = None) -> Mail:
        return compose(contact=to, subject=subject, lines=lines, link=link,
                       link_text=link_text, base_url=self.base_url,
                       unsubscribe=unsubscribe_token(self._signer, to.user_id, kind),
                       why=why or WHY.get(kind, "You get this email from Nirvana."))

    async def send(self, to: Contact, *, kind: str, subject: str, lines: list[str],
                   link: str, link_text: str, why: str | None = None) -> None:
        mail = self.compose(to, kind=kind, subject=subject, lines=lines, link=link,
                            link_text=link_text, why=why)
        await self._outbox.send(mail.to, mail.subject, mail.text, html=mail.html,
                                headers=mail.headers)

    def check_token(self, token: str) -> tuple[int, str]:
        parsed = read_unsubscribe_token(self._signer, token)
        if parsed is None or parsed[1] not in DEFAULTS:
            raise field_error("token", "is not an unsubscribe link of this server",
                              "invalid_token")
        return parsed

    async def unsubscribe(self, token: str) -> str:
        """Turn off the email switch a mailed link names; the kind. Idempotent."""
        user_id, kind = self.check_token(token)
        await self._preferences.turn_off(user_id, kind, Channel.EMAIL)
        return kind

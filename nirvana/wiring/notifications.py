"""Notifications: in the app (live on the recipient's sockets) and by mail, with the
preferences and mutes they obey; missed chat messages by mail; and what the chat publisher
tells them (mentions, group notices)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from ..domain.clock import Clock
from ..domain.notifications.mailing import NotificationMail
from ..domain.notifications.preferences import Preferences
from ..domain.notifications.service import Notifications
from ..missed_messages import MissedMessages
from ..security import HmacSigner
from ..settings import Settings
from ..storage.postgres.mail_outbox import PgMailOutbox
from ..storage.postgres.missed_messages import PgMissedMessages
from ..storage.postgres.notification_preferences import PgMuteStore, PgPreferenceStore
from ..storage.postgres.notifications import (
    PgContacts,
    PgNotificationAudience,
    PgNotificationStore,
)
from ..ws.notifications import NotificationsToSockets
from .chat import ChatParts
from .chat_notices import ChatGroupNotices, ChatMentions


@dataclass(frozen=True)
class NotificationParts:
    notifications: Notifications
    missed_messages: MissedMessages


def build_notifications(settings: Settings, pool: asyncpg.Pool, secret: str, clock: Clock,
                        chat: ChatParts, outbox: PgMailOutbox) -> NotificationParts:
    preferences = Preferences(PgPreferenceStore(pool), PgMuteStore(pool))
    mail = NotificationMail(
        outbox=outbox, signer=HmacSigner(secret, purpose="unsubscribe"),
        contacts=PgContacts(pool), devices=chat.hub, preferences=preferences,
        base_url=settings.base_url)
    missed = MissedMessages(
        store=PgMissedMessages(pool), chat=chat.store, mail=mail, outbox=outbox,
        preferences=preferences, audience=PgNotificationAudience(pool), blocks=chat.peers,
        clock=clock, delay=timedelta(seconds=settings.missed_message_delay))
    if settings.missed_message_emails:
        chat.publishers.watch(missed)
    notifications = Notifications(store=PgNotificationStore(pool),
                                  audience=PgNotificationAudience(pool), clock=clock,
                                  live=NotificationsToSockets(chat.hub), preferences=preferences,
                                  mail=mail)
    chat.publishers.watch(ChatMentions(notifications))
    chat.publishers.watch(ChatGroupNotices(notifications))
    return NotificationParts(notifications, missed)

"""Notification changes on the recipient's sockets: the `notification` event with the unread
count, or `notifications.unread` alone (read, deleted, withdrawn)."""

from __future__ import annotations

from ..domain.notifications.entities import Change
from .events import NotificationEvent, NotificationsUnread, encode
from .hub import Hub
from .notification_frames import NotificationOut


class NotificationsToSockets:
    """Notification changes -> every connected device of the recipient: the notification
    with the unread count, or the count alone (read, deleted, withdrawn)."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    async def changed(self, change: Change) -> None:
        if not self._hub.online(change.recipient_id):
            return
        if change.notification is not None:
            event: NotificationEvent | NotificationsUnread = NotificationEvent(
                notification=NotificationOut.of(change.notification), unread=change.unread)
        else:
            event = NotificationsUnread(unread=change.unread)
        self._hub.send_to_user(change.recipient_id, encode(event))

"""Request and response models of the notification routes (the notification itself is
`ws/notification_frames.py`, shared with the WebSocket event)."""

from __future__ import annotations

from pydantic import Field

from ...ws.notification_frames import NotificationOut
from ..api import In, Out

MAX_PAGE = 100


class NotificationPageIn(In):
    limit: int = Field(default=20, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, max_length=200,
                               description="next_cursor of the previous page")


class NotificationsOut(Out):
    items: list[NotificationOut] = Field(description="Latest activity first")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; "
                                                "null on the last page")
    unread: int


class UnreadOut(Out):
    unread: int = Field(description="How many notifications are unread")

"""Request and response models of the notification routes (the notification itself is
`ws/notification_frames.py`, shared with the WebSocket event)."""

from __future__ import annotations

from pydantic import Field

from ...domain.notifications.preferences import DEFAULTS, KINDS, Channel

from ...ws.notification_frames import UNREAD_DESCRIPTION, NotificationOut
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
    unread: int = Field(description=UNREAD_DESCRIPTION)


class UnreadOut(Out):
    unread: int = Field(description=UNREAD_DESCRIPTION)


class PreferenceOut(Out):
    kind: str = Field(description="A notification kind, or missed_messages (chat, by email)")
    app: bool | None = Field(description="Told in the app (the list, the bell, the "
                                         "`notification` frame); null: no such channel")
    email: bool | None = Field(description="Mailed when you have no connected device; "
                                           "null: this kind is never mailed")


class PreferencesOut(Out):
    preferences: list[PreferenceOut]
    muted_conversations: list[str] = Field(description="Ids of the conversations you muted")


class PreferenceIn(In):
    # The enum is for clients reading the schema; the domain checks it (422 unknown_kind).
    kind: str = Field(max_length=40, json_schema_extra={"enum": list(KINDS)},
                      description="Email exists for " + ", ".join(
                          k for k, channels in DEFAULTS.items() if Channel.EMAIL in channels)
                      + "; every other kind is in the app only")
    app: bool | None = None
    email: bool | None = None


class PreferencesIn(In):
    preferences: list[PreferenceIn] = Field(min_length=1, max_length=40)


class UnsubscribeIn(In):
    token: str = Field(min_length=1, max_length=300, description="The token of a mailed "
                                                                 "unsubscribe link")


class UnsubscribedOut(Out):
    kind: str = Field(description="The kind whose email is now off")


class MutedOut(Out):
    conversation_id: str
    muted: bool

"""The signed-in user's notifications: /api/v1/notifications.

Nobody sees another's notifications: an id that is not the caller's is 404, as one that
does not exist.
"""

from __future__ import annotations

from ...domain.notifications.cursors import decode_cursor, encode_cursor
from ...ws.notification_frames import NotificationOut
from ..api import Api, Call
from ..schemas.notifications import NotificationPageIn, NotificationsOut, UnreadOut

api = Api()
TAGS = ["notifications"]
# Named notification_id: an id past bigint is refused before the handler as
# notification_not_found (http/api.py check_path).
ONE = "/api/v1/notifications/{notification_id:int}"


def notification_id(call: Call) -> int:
    return call.path("notification_id")


@api.route("GET", "/api/v1/notifications", tags=TAGS, query=NotificationPageIn,
           response=NotificationsOut, summary="Your notifications, latest activity first")
async def list_notifications(call: Call[None, NotificationPageIn]) -> NotificationsOut:
    q = call.query
    notifications = call.services.notifications
    after = decode_cursor(q.cursor) if q.cursor else None
    page = await notifications.page(call.user_id, after, q.limit)
    return NotificationsOut(items=[NotificationOut.of(n) for n in page.items],
                            next_cursor=encode_cursor(page.next) if page.next else None,
                            unread=await notifications.unread_count(call.user_id))


@api.route("GET", "/api/v1/notifications/unread", tags=TAGS, response=UnreadOut,
           summary="How many of your notifications are unread")
async def unread_count(call: Call[None, None]) -> UnreadOut:
    return UnreadOut(unread=await call.services.notifications.unread_count(call.user_id))


@api.route("POST", ONE + "/read", tags=TAGS, response=UnreadOut, errors=(404,),
           summary="Mark one notification read (idempotent); the unread count after it")
async def mark_read(call: Call[None, None]) -> UnreadOut:
    unread = await call.services.notifications.mark_read(call.user_id, notification_id(call))
    return UnreadOut(unread=unread)


@api.route("POST", "/api/v1/notifications/read", tags=TAGS, response=UnreadOut,
           summary="Mark all your notifications read; the unread count after it")
async def mark_all_read(call: Call[None, None]) -> UnreadOut:
    return UnreadOut(unread=await call.services.notifications.mark_all_read(call.user_id))


@api.route("DELETE", ONE, tags=TAGS, response=UnreadOut, errors=(404,),
           summary="Delete one of your notifications; the unread count after it")
async def delete_notification(call: Call[None, None]) -> UnreadOut:
    unread = await call.services.notifications.delete(call.user_id, notification_id(call))
    return UnreadOut(unread=unread)

"""The signed-in user's notifications: /api/v1/notifications.

Nobody sees another's notifications: an id that is not the caller's is 404, as one that
does not exist.
"""

from __future__ import annotations

from ...domain.notifications.cursors import decode_cursor, encode_cursor
from ...domain.notifications.preferences import Channel, Preference
from ...ws.notification_frames import NotificationOut
from ..api import Api, Call
from ..schemas.notifications import (
    MutedOut,
    NotificationPageIn,
    NotificationsOut,
    PreferenceOut,
    PreferencesIn,
    PreferencesOut,
    UnreadOut,
    UnsubscribedOut,
    UnsubscribeIn,
)

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
async def mark_notification_read(call: Call[None, None]) -> UnreadOut:
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


def _preferences_out(matrix: dict, muted: list[str]) -> PreferencesOut:
    return PreferencesOut(
        preferences=[PreferenceOut(kind=kind, app=channels.get(Channel.APP),
                                   email=channels.get(Channel.EMAIL))
                     for kind, channels in matrix.items()],
        muted_conversations=muted)


@api.route("GET", "/api/v1/notifications/preferences", tags=TAGS, response=PreferencesOut,
           summary="What you are told, in the app and by email, and the conversations you "
                   "muted")
async def get_preferences(call: Call[None, None]) -> PreferencesOut:
    prefs = call.services.notifications.preferences
    assert prefs is not None
    return _preferences_out(await prefs.of(call.user_id), await prefs.muted(call.user_id))


@api.route("PATCH", "/api/v1/notifications/preferences", tags=TAGS, body=PreferencesIn,
           response=PreferencesOut, errors=(422,),
           summary="Turn switches on or off (a field left out stays as it is)")
async def patch_preferences(call: Call[PreferencesIn, None]) -> PreferencesOut:
    prefs = call.services.notifications.preferences
    assert prefs is not None
    changes = [Preference(p.kind, channel, on) for p in call.body.preferences
               for channel, on in ((Channel.APP, p.app), (Channel.EMAIL, p.email))
               if on is not None]
    matrix = await prefs.change(call.user_id, changes)
    return _preferences_out(matrix, await prefs.muted(call.user_id))


@api.route("POST", "/api/v1/notifications/unsubscribe", tags=TAGS, body=UnsubscribeIn,
           response=UnsubscribedOut, auth=False, errors=(422,),
           summary="Turn off the email a mailed unsubscribe link names (no sign-in: the "
                   "token is the credential)")
async def unsubscribe(call: Call[UnsubscribeIn, None]) -> UnsubscribedOut:
    mail = call.services.notifications.mail
    assert mail is not None
    return UnsubscribedOut(kind=await mail.unsubscribe(call.body.token))


async def _mute(call: Call[None, None], muted: bool) -> MutedOut:
    conversation_id = call.path("id")
    # Only a member may mute: 403 not_member otherwise, also for no such conversation (as
    # every conversation route answers, so as not to tell which ids exist).
    await call.services.chat.conversation_for(call.user_id, conversation_id)
    prefs = call.services.notifications.preferences
    assert prefs is not None
    await prefs.mute(call.user_id, conversation_id, muted)
    return MutedOut(conversation_id=conversation_id, muted=muted)


@api.route("PUT", "/api/v1/conversations/{id}/mute", tags=TAGS, response=MutedOut,
           errors=(403,), summary="Mute a conversation: no badge, no mention, no mail")
async def mute(call: Call[None, None]) -> MutedOut:
    return await _mute(call, True)


@api.route("DELETE", "/api/v1/conversations/{id}/mute", tags=TAGS, response=MutedOut,
           errors=(403,), summary="Unmute a conversation")
async def unmute(call: Call[None, None]) -> MutedOut:
    return await _mute(call, False)

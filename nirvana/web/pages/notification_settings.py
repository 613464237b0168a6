"""The notification preferences page (a switch per kind x channel, and the conversations
muted), and the unsubscribe page a mailed link opens, through the same services as the API.

`/unsubscribe` takes the signed token of the link, not a session: it works signed out and
from a mail client's one-click POST (RFC 8058), which carries no Origin and no cookie, so
it is not Origin-checked. A GET only shows a button: link scanners open links.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...http.api import read_limited
from .. import domain
from ..forms import read_form, redirect
from ..session import signed_in_user
from ..templating import pages_of

LABELS = {
    "friend_request": "Friend requests",
    "friend_accepted": "Friend requests accepted",
    "new_follower": "New followers",
    "blog_liked": "Likes and reactions on your blogs",
    "blog_commented": "Comments on your blogs",
    "mentioned": "Mentions of you (@username)",
    "new_blog": "New blogs by people you follow",
    "added_to_group": "Being added to a group chat",
    "group_role": "Being made admin or owner of a group chat",
    "missed_messages": "Chat messages you missed",
}


# The page lists the conversations muted last, and says how many more there are. Leaving a
# group keeps its mute (someone re-added to a group they muted is still not pinged by it),
# so their number has no bound.
MUTED_LISTED = 200


def _services(request: Request):
    return request.app.state.services


async def _muted_titles(request: Request, me: int, ids: list[str]) -> list[tuple[str, str]]:
    """Each muted conversation with what the chat's list calls it: the group's name, or the
    other person's. The conversations are read together, as are the names: a page's reads
    stay the same however many are muted."""
    services = _services(request)
    mine = await services.chat.member_conversations(me, ids)  # absent: left, or never in
    found = [mine.get(i) for i in ids]
    peer = {c.id: next((m.user_id for m in c.members if m.user_id != me), None)
            for c in found if c is not None and not c.name}
    wanted = {p for p in peer.values() if p is not None}
    users = await services.accounts.users.many(wanted)
    for hidden in await services.social.hidden_from(me, wanted):
        users.pop(hidden, None)

    def title(i: str, c) -> str:
        if c is None:
            return "A conversation you are no longer in"
        if c.name:
            return c.name
        if peer[c.id] is None:
            return "Just you"
        user = users.get(peer[c.id])  # None: a deleted account, or one that blocked you
        return user.name if user is not None else "A direct chat"

    return [(i, title(i, c)) for i, c in zip(ids, found)]


async def settings_page(request: Request) -> Response:
    me = (await signed_in_user(request)).id
    prefs = _services(request).notifications.preferences
    matrix = await prefs.of(me)
    muted, muted_count = await prefs.newest_muted(me, MUTED_LISTED)
    rows = [{"kind": kind, "label": LABELS.get(kind, kind),
             "app": channels.get(domain.Channel.APP),
             "email": channels.get(domain.Channel.EMAIL)} for kind, channels in matrix.items()]
    return await pages_of(request).render(request, "notification_settings.html", {
        "rows": rows,
        "muted": await _muted_titles(request, me, muted),
        "muted_unlisted": muted_count - len(muted),
        "saved": request.query_params.get("saved") == "1"})


async def save(request: Request) -> Response:
    form = await read_form(request)
    me = (await signed_in_user(request)).id
    prefs = _services(request).notifications.preferences
    # A checkbox sends its name only when ticked: every channel shown is set from the form.
    changes = [domain.Preference(kind, channel, f"{kind}.{channel.value}" in form)
               for kind, channels in (await prefs.of(me)).items() for channel in channels]
    await prefs.change(me, changes)
    return await redirect(request, "/settings/notifications?saved=1")


async def unmute(request: Request) -> Response:
    form = await read_form(request)
    me = (await signed_in_user(request)).id
    await _services(request).notifications.preferences.mute(
        me, form.get("conversation_id", ""), False)
    return await redirect(request, "/settings/notifications")


async def unsubscribe(request: Request) -> Response:
    token = request.query_params.get("token", "")
    mail = _services(request).notifications.mail
    try:
        if request.method == "POST":
            await read_limited(request, 4096)  # "List-Unsubscribe=One-Click", or the form
            kind = await mail.unsubscribe(token)
            done = True
        else:
            _, kind = mail.check_token(token)
            done = False
    except domain.InvalidInputError:
        # A link cut short or mangled by a mail program: the page says so and where to go
        # instead, not the API's words for a bad query parameter.
        return await pages_of(request).render(request, "unsubscribe.html", {"broken": True},
                                              status=422)
    return await pages_of(request).render(request, "unsubscribe.html", {
        "label": LABELS.get(kind, kind), "token": token, "done": done, "broken": False})


routes = [
    Route("/settings/notifications", settings_page, methods=["GET", "HEAD"]),
    Route("/settings/notifications", save, methods=["POST"]),
    Route("/settings/notifications/unmute", unmute, methods=["POST"]),
    Route("/unsubscribe", unsubscribe, methods=["GET", "HEAD", "POST"]),
]

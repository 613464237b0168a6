"""People: search, profiles with their blogs and counts, lists of followers, following and
friends, pending friend requests, and the buttons that change how two people stand."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...domain.social.graph import SocialGraph
from .. import domain
from ..forms import FormErrors, read_form, redirect, safe_next
from ..session import reader_of, signed_in
from ..templating import pages_of
from .files import FILES_ON_PROFILE, files_of
from ...domain.ids import MAX_ID

PEOPLE_PAGE = 20
BLOGS_ON_PROFILE = 10
DRAFTS_SHOWN = 50


def social(request: Request):
    return request.app.state.services.social


def person_id(request: Request) -> int:
    value = request.path_params["id"]
    if value > MAX_ID:
        raise domain.NotFoundError("No such user.", code="user_not_found")
    return value


async def people(request: Request) -> Response:
    reader = await reader_of(request)
    q = request.query_params.get("q", "").strip()
    raw_offset = request.query_params.get("offset", "0")
    offset = min(int(raw_offset), 10_000) if raw_offset.isdigit() else 0
    found, errors = [], FormErrors()
    if q:
        try:
            found = await social(request).search(reader.id, q, PEOPLE_PAGE + 1, offset)
        except domain.InvalidInputError as exc:
            errors = FormErrors.of(exc, ("q",))
    more = len(found) > PEOPLE_PAGE
    return await pages_of(request).render(request, "people/search.html", {
        "q": q, "found": found[:PEOPLE_PAGE], "errors": errors,
        "next_url": "/people?" + urlencode({"q": q, "offset": offset + PEOPLE_PAGE})
        if more else None,
    }, status=errors.status if errors else 200)


async def profile(request: Request) -> Response:
    reader = await reader_of(request)
    uid = person_id(request)
    shown = await social(request).profile(reader.id, uid)
    blogs, more = await request.app.state.services.blogs.search(
        reader.id, domain.BlogFilter(author_id=uid), 1, BLOGS_ON_PROFILE)
    drafts, storage, files, more_files = [], None, [], None
    if reader.id == uid:
        drafts = await request.app.state.services.blogs.drafts(uid, DRAFTS_SHOWN)
        storage = await request.app.state.services.uploads.usage(uid)
        files, more_files = await files_of(request, uid, None, FILES_ON_PROFILE)
    # The admin's role form starts at the person's role, so it shows who moderates already.
    role = (await request.app.state.services.moderation.role_of(uid)
            if reader.user is not None and reader.user.role == "admin" and reader.id != uid
            else None)
    return await pages_of(request).render(request, "people/profile.html", {
        "profile": shown, "person": shown.user.person, "blogs": blogs, "drafts": drafts,
        "more_blogs_url": (f"/search?author=@{shown.user.person.username}&page=2"
                           if more else None),
        "is_me": reader.id == uid, "storage": storage, "files": files,
        "more_files_url": more_files, "role": role,
        "notice": "Your blog is deleted." if reader.id == uid
        and request.query_params.get("done") == "deleted" else None,
    })


async def _listing(request: Request, kind: str) -> Response:
    reader = await reader_of(request)
    uid = person_id(request)
    shown = await social(request).profile(reader.id, uid)
    page = domain.page_request(PEOPLE_PAGE, request.query_params.get("after") or None)
    if kind == "followers":
        listing = await social(request).followers(reader.id, uid, page)
    elif kind == "following":
        listing = await social(request).following(reader.id, uid, page)
    else:
        if reader.id != uid:
            raise domain.PermissionDeniedError("Only they can see their list of friends.",
                                               code="friends_private")
        listing = await social(request).friends(uid, page)
    titles = {"followers": "Followers", "following": "Following", "friends": "Friends"}
    return await pages_of(request).render(request, "people/listing.html", {
        "person": shown.user.person, "title": titles[kind], "items": listing.items,
        "next_url": f"{request.url.path}?after={listing.next_cursor}"
        if listing.next_cursor else None,
    })


async def followers(request: Request) -> Response:
    return await _listing(request, "followers")


async def following(request: Request) -> Response:
    return await _listing(request, "following")


async def friends(request: Request) -> Response:
    return await _listing(request, "friends")


async def requests(request: Request) -> Response:
    reader = await signed_in(request)
    page = domain.page_request(PEOPLE_PAGE, None)
    incoming = await social(request).friend_requests(reader.id, domain.Direction.INCOMING,
                                                     page)
    outgoing = await social(request).friend_requests(reader.id, domain.Direction.OUTGOING,
                                                     page)
    return await pages_of(request).render(request, "people/requests.html", {
        "incoming": incoming.items, "outgoing": outgoing.items})


# The buttons of a profile's relation forms (`action`), each the SocialGraph call it makes.
RELATION_CHANGES = {
    "follow": SocialGraph.follow,
    "unfollow": SocialGraph.unfollow,
    "friend": SocialGraph.send_friend_request,
    "cancel": SocialGraph.cancel_friend_request,
    "accept": SocialGraph.accept_friend_request,
    "decline": SocialGraph.decline_friend_request,
    "unfriend": SocialGraph.remove_friend,
    "block": SocialGraph.block,
    "unblock": SocialGraph.unblock,
}


async def change_relation(request: Request) -> Response:
    """One form per button on a profile: `action` says which change; the same SocialGraph
    calls as the API routes (which announce a friendship's start or end themselves)."""
    form = await read_form(request)
    reader = await signed_in(request)
    me, other = reader.id, person_id(request)
    change = RELATION_CHANGES.get(form.get("action", ""))
    if change is None:
        raise domain.InvalidInputError(f"Unknown action {form.get('action', '')!r}.")
    await change(social(request), me, other)
    # A block hides their profile from them, not from us: back to it, now with "Unblock".
    back = f"/people/{other}"
    return await redirect(request, safe_next(form.get("next"), back))


routes = [
    Route("/people", people, methods=["GET", "HEAD"]),
    Route("/people/requests", requests, methods=["GET", "HEAD"]),
    Route("/people/{id:int}", profile, methods=["GET", "HEAD"]),
    Route("/people/{id:int}/followers", followers, methods=["GET", "HEAD"]),
    Route("/people/{id:int}/following", following, methods=["GET", "HEAD"]),
    Route("/people/{id:int}/friends", friends, methods=["GET", "HEAD"]),
    Route("/people/{id:int}/relation", change_relation, methods=["POST"]),
]

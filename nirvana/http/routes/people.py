"""Public profiles, user search, and who follows whom: /api/v1/users/*."""

from __future__ import annotations

from ...domain.errors import NotFoundError
from ...domain.social.cursors import page_request
from ..api import Api, Call
from ..schemas.social import (ListingOut, PageIn, PersonOut, ProfileOut, SearchIn, StorageOut,
                              UserSearchOut)
from ...domain.ids import MAX_ID

api = Api()
TAGS = ["people"]


def target_id(call: Call) -> int:
    """The {user_id} of the path; a number no bigint can hold is simply nobody."""
    user_id = call.path("user_id")
    if user_id > MAX_ID:
        raise NotFoundError("No such user.", code="user_not_found")
    return user_id


def viewer(call: Call) -> int | None:
    return call.claims.user_id if call.claims else None


@api.route("GET", "/api/v1/users/search",
           summary="Find people by name or username: exact and prefix matches first, then "
                   "substring and fuzzy ones", tags=TAGS, query=SearchIn, response=UserSearchOut,
           auth="optional")
async def search_users(call: Call[None, SearchIn]) -> UserSearchOut:
    q = call.query
    people = await call.services.social.search(viewer(call), q.q, q.limit, q.offset)
    return UserSearchOut(items=[PersonOut.of(p) for p in people], limit=q.limit,
                         offset=q.offset)


@api.route("GET", "/api/v1/users/{user_id:int}",
           summary="A public profile with counts of blogs, followers, following and friends",
           tags=TAGS, response=ProfileOut, auth="optional", errors=(404,))
async def get_profile(call: Call[None, None]) -> ProfileOut:
    shown = ProfileOut.of(await call.services.social.profile(viewer(call), target_id(call)))
    if viewer(call) == shown.id:
        usage = await call.services.uploads.usage(shown.id)
        shown.storage = StorageOut(used_bytes=usage.used_bytes, quota_bytes=usage.quota_bytes,
                                   files=usage.files)
    return shown


@api.route("GET", "/api/v1/users/{user_id:int}/followers",
           summary="Who follows this user, newest first", tags=TAGS, query=PageIn,
           response=ListingOut, auth="optional", errors=(404,))
async def list_followers(call: Call[None, PageIn]) -> ListingOut:
    page = page_request(call.query.limit, call.query.cursor)
    return ListingOut.of(await call.services.social.followers(viewer(call), target_id(call), page))


@api.route("GET", "/api/v1/users/{user_id:int}/following",
           summary="Whom this user follows, newest first", tags=TAGS, query=PageIn,
           response=ListingOut, auth="optional", errors=(404,))
async def list_following(call: Call[None, PageIn]) -> ListingOut:
    page = page_request(call.query.limit, call.query.cursor)
    return ListingOut.of(await call.services.social.following(viewer(call), target_id(call), page))

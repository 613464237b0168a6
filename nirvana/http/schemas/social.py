"""Request and response models of the people, social-graph and image routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from ...domain.social.entities import Linked, Listing, PairState, Person, Profile
from ..api import In, Out

MAX_PAGE = 100


class PageIn(In):
    limit: int = Field(default=20, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, max_length=200, pattern=r"^[A-Za-z0-9_-]+$",
                               description="next_cursor of the previous page")


class RequestsIn(PageIn):
    direction: Literal["incoming", "outgoing"] = "incoming"


class SearchIn(In):
    q: str = Field(min_length=1, max_length=100, description="Part of a name or username")
    limit: int = Field(default=20, ge=1, le=50)
    offset: int = Field(default=0, ge=0, le=1000)


class PersonOut(Out):
    id: int
    username: str
    name: str
    avatar: str | None

    @classmethod
    def of(cls, p: Person) -> "PersonOut":
        return cls(id=p.id, username=p.username, name=p.name, avatar=p.avatar_url)


class LinkedOut(Out):
    user: PersonOut
    since: datetime = Field(description="When the friendship, follow, request or block began")


class ListingOut(Out):
    items: list[LinkedOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; "
                                                "null on the last page")

    @classmethod
    def of(cls, listing: Listing) -> "ListingOut":
        return cls(items=[_linked(i) for i in listing.items], next_cursor=listing.next_cursor)


def _linked(item: Linked) -> LinkedOut:
    return LinkedOut(user=PersonOut.of(item.person), since=item.since)


class RelationOut(Out):
    """How the signed-in user stands with another. Whether they blocked you is not shown."""

    user_id: int
    friend: bool
    request: Literal["incoming", "outgoing"] | None
    following: bool = Field(description="You follow them")
    followed_by: bool = Field(description="They follow you")
    blocked: bool = Field(description="You blocked them")

    @classmethod
    def of(cls, user_id: int, s: PairState) -> "RelationOut":
        request = "outgoing" if s.requested else "incoming" if s.requested_by else None
        return cls(user_id=user_id, friend=s.friends, request=request, following=s.follows,
                   followed_by=s.followed_by, blocked=s.blocks)


class FriendRequestOut(Out):
    outcome: Literal["requested", "already_requested", "became_friends", "already_friends"]
    relation: RelationOut


class CountsOut(Out):
    blogs: int = Field(description="Published blogs of theirs that you may read (audience, "
                                   "blocks): never a hint of the others")
    followers: int
    following: int
    friends: int


class StorageOut(Out):
    used_bytes: int = Field(description="Bytes your uploads take")
    quota_bytes: int = Field(description="Bytes you may keep (STORAGE_QUOTA_BYTES)")
    files: int


class ProfileOut(Out):
    id: int
    username: str
    name: str
    about: str
    avatar: str | None
    status: str
    created_at: datetime
    counts: CountsOut
    relation: RelationOut | None = Field(
        description="Null when signed out or on your own profile")
    storage: StorageOut | None = Field(
        default=None, description="Your uploads' storage and quota: on your own profile only")

    @classmethod
    def of(cls, p: Profile) -> "ProfileOut":
        u = p.user
        return cls(
            id=u.person.id, username=u.person.username, name=u.person.name, about=u.about,
            avatar=u.person.avatar_url, status=u.status, created_at=u.created_at,
            counts=CountsOut(blogs=p.counts.blogs, followers=p.counts.followers,
                             following=p.counts.following, friends=p.counts.friends),
            relation=RelationOut.of(u.person.id, p.relation) if p.relation else None,
        )


class UserSearchOut(Out):
    items: list[PersonOut]
    limit: int
    offset: int


class UploadOut(Out):
    url: str = Field(description="Where the image is served: /media/... or a Cloudinary URL")

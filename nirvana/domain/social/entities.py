"""What the social graph returns: people, profiles, a pair's state, pages."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Person:
    """What anyone may see of a user in a list: never the email, role or credentials."""

    id: int
    username: str
    name: str
    avatar_url: str | None


@dataclass(frozen=True, slots=True)
class PublicUser:
    person: Person
    about: str
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Counts:
    blogs: int
    followers: int
    following: int
    friends: int


@dataclass(frozen=True, slots=True)
class PairState:
    """How user `a` stands with user `b`, seen from `a`."""

    friends: bool = False
    requested: bool = False  # a asked b to be friends
    requested_by: bool = False  # b asked a
    follows: bool = False  # a follows b
    followed_by: bool = False
    blocks: bool = False  # a blocked b
    blocked_by: bool = False


@dataclass(frozen=True, slots=True)
class Profile:
    user: PublicUser
    counts: Counts
    relation: PairState | None  # None for anonymous viewers and for one's own profile


@dataclass(frozen=True, slots=True)
class Linked:
    """A person in a list, with when the link (friendship, follow, request, block) was made."""

    person: Person
    since: datetime


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    after: tuple[datetime, int] | None = None  # (since, user id) of the last item seen


@dataclass(frozen=True, slots=True)
class Listing:
    items: list[Linked]
    next_cursor: str | None


class Direction(enum.StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"


class FriendRequestOutcome(enum.StrEnum):
    REQUESTED = "requested"
    ALREADY_REQUESTED = "already_requested"
    BECAME_FRIENDS = "became_friends"  # the other had already asked: that is a yes
    ALREADY_FRIENDS = "already_friends"


@dataclass(frozen=True, slots=True)
class Change:
    """The result of a change: whether it created something, and the pair's state after."""

    created: bool
    state: PairState


@dataclass(frozen=True, slots=True)
class FriendRequestResult:
    outcome: FriendRequestOutcome
    state: PairState

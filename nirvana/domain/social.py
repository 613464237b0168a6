"""The social graph: friends (mutual), follows (one-way), blocks, and the rules between them.

`SocialGraph` holds the rules and receives its `SocialRepository`; it never sees a driver, so
`tests/unit/test_social.py` runs it on an in-memory fake. Every change to how two users stand
runs inside `SocialRepository.pair(a, b)`, which serialises changes to that pair: the rule
"look at the state, then change it" cannot race a concurrent request, accept or block.

Other features read the graph through `are_friends`, `is_blocked_either_way`, `friend_ids`
and `followee_ids` (chat: "only friends can message"; feed: "blogs of people I follow").
"""

from __future__ import annotations

import base64
import binascii
import enum
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

from .errors import ConflictError, InvalidInputError, NotFoundError, field_error

MAX_SEARCH_QUERY = 100
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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


class PairTransaction(Protocol):
    """Changes to the relations of one pair, applied together or not at all."""

    async def state(self) -> PairState:
        """The pair's state seen from the `a` given to `SocialRepository.pair(a, b)`."""
        ...

    async def add_request(self, from_user: int, to_user: int) -> None: ...

    async def remove_request(self, from_user: int, to_user: int) -> None: ...

    async def befriend(self) -> None:
        """Make the pair friends (both directions at once)."""
        ...

    async def unfriend(self) -> None: ...

    async def add_follow(self, follower: int, followee: int) -> None: ...

    async def remove_follow(self, follower: int, followee: int) -> None: ...

    async def add_block(self, blocker: int, blocked: int) -> None: ...

    async def remove_block(self, blocker: int, blocked: int) -> None: ...


class SocialRepository(Protocol):
    def pair(self, a: int, b: int) -> AbstractAsyncContextManager[PairTransaction]:
        """A transaction during which no other `pair` transaction on {a, b} runs.

        Commits when the block exits normally, rolls back when it raises. A write naming a
        user that no longer exists raises NotFoundError.
        """
        ...

    async def pair_state(self, a: int, b: int) -> PairState: ...

    async def public_user(self, user_id: int) -> PublicUser | None: ...

    async def user_exists(self, user_id: int) -> bool: ...

    async def counts(self, user_id: int) -> Counts:
        """Followers, following and friends; `blogs` is filled by the BlogCounter."""
        ...

    async def friends(self, user_id: int, page: PageRequest) -> list[Linked]:
        """Newest first by (since, id), strictly after `page.after`, at most `page.limit`."""
        ...

    async def followers(self, user_id: int, page: PageRequest) -> list[Linked]: ...

    async def following(self, user_id: int, page: PageRequest) -> list[Linked]: ...

    async def requests(
        self, user_id: int, direction: Direction, page: PageRequest
    ) -> list[Linked]: ...

    async def blocked(self, user_id: int, page: PageRequest) -> list[Linked]: ...

    async def search(
        self, query: str, viewer: int | None, limit: int, offset: int
    ) -> list[Person]:
        """Users whose username or name matches: exact, then prefix, then contains, then
        fuzzy; never anyone blocked by or blocking `viewer`."""
        ...

    async def are_friends(self, a: int, b: int) -> bool: ...

    async def is_blocked_either_way(self, a: int, b: int) -> bool: ...

    async def friend_ids(self, user_id: int) -> list[int]: ...

    async def followee_ids(self, user_id: int) -> list[int]: ...


class BlogCounter(Protocol):
    """Kept apart from the graph so the blogs feature owns how its posts are counted."""

    async def published_blog_count(self, user_id: int) -> int: ...


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


# -- cursors ------------------------------------------------------------------------------


def encode_cursor(item: Linked) -> str:
    # Integer microseconds: a float timestamp can be off by one and skip or repeat an item.
    micros = (item.since - EPOCH) // timedelta(microseconds=1)
    raw = f"{micros}:{item.person.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, user_id = (int(part) for part in raw.split(":"))
        since = EPOCH + timedelta(microseconds=micros)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError):
        raise field_error("cursor", "is not a cursor this API gave out", "invalid_cursor")
    return since, user_id


def page_request(limit: int, cursor: str | None) -> PageRequest:
    return PageRequest(limit, decode_cursor(cursor) if cursor else None)


def _listing(items: list[Linked], page: PageRequest) -> Listing:
    # The repository returns one more than asked: its presence says another page exists.
    more = len(items) > page.limit
    items = items[: page.limit]
    return Listing(items, encode_cursor(items[-1]) if more and items else None)


def _more(page: PageRequest) -> PageRequest:
    return PageRequest(page.limit + 1, page.after)


# -- the rules ----------------------------------------------------------------------------


def _no_such_user() -> NotFoundError:
    return NotFoundError("No such user.", code="user_not_found")


class SocialGraph:
    def __init__(self, repo: SocialRepository, blog_counter: BlogCounter) -> None:
        self._repo = repo
        self._blogs = blog_counter

    # Reads other features rely on.

    async def are_friends(self, a: int, b: int) -> bool:
        return a != b and await self._repo.are_friends(a, b)

    async def is_blocked_either_way(self, a: int, b: int) -> bool:
        return a != b and await self._repo.is_blocked_either_way(a, b)

    async def friend_ids(self, user_id: int) -> list[int]:
        return await self._repo.friend_ids(user_id)

    async def followee_ids(self, user_id: int) -> list[int]:
        return await self._repo.followee_ids(user_id)

    # Profiles and search.

    async def profile(self, viewer: int | None, user_id: int) -> Profile:
        """A user's public profile; NotFoundError when unknown or when they blocked `viewer`."""
        user = await self._repo.public_user(user_id)
        if user is None:
            raise _no_such_user()
        relation = None
        if viewer is not None and viewer != user_id:
            relation = await self._repo.pair_state(viewer, user_id)
            if relation.blocked_by:
                raise _no_such_user()  # indistinguishable from an unknown id, on purpose
        counts = await self._repo.counts(user_id)
        blogs = await self._blogs.published_blog_count(user_id)
        return Profile(
            user,
            Counts(blogs, counts.followers, counts.following, counts.friends),
            relation,
        )

    async def search(
        self, viewer: int | None, query: str, limit: int, offset: int = 0
    ) -> list[Person]:
        query = " ".join(query.split())
        if not query:
            raise field_error("q", "must not be empty", "empty")
        if len(query) > MAX_SEARCH_QUERY:
            raise field_error("q", f"must be at most {MAX_SEARCH_QUERY} characters", "too_long")
        return await self._repo.search(query, viewer, limit, offset)

    # Friends.

    async def send_friend_request(self, me: int, other: int) -> FriendRequestResult:
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            state = await tx.state()
            self._check_not_blocked(state)
            if state.friends:
                return FriendRequestResult(FriendRequestOutcome.ALREADY_FRIENDS, state)
            if state.requested:
                return FriendRequestResult(FriendRequestOutcome.ALREADY_REQUESTED, state)
            if state.requested_by:
                await tx.remove_request(other, me)
                await tx.befriend()
                outcome = FriendRequestOutcome.BECAME_FRIENDS
            else:
                await tx.add_request(me, other)
                outcome = FriendRequestOutcome.REQUESTED
            return FriendRequestResult(outcome, await tx.state())

    async def relation(self, me: int, other: int) -> PairState:
        """How `me` stands with `other` (no checks: for features that already know both)."""
        return await self._repo.pair_state(me, other)

    async def accept_friend_request(self, me: int, other: int) -> Change:
        """Accepting twice is fine; accepting a request that was never sent is NotFoundError."""
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            state = await tx.state()
            if state.friends:
                return Change(False, state)
            if not state.requested_by:
                raise NotFoundError(
                    "This user has not asked to be your friend.", code="no_friend_request"
                )
            await tx.remove_request(other, me)
            await tx.remove_request(me, other)
            await tx.befriend()
            return Change(True, await tx.state())

    async def decline_friend_request(self, me: int, other: int) -> None:
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            await tx.remove_request(other, me)

    async def cancel_friend_request(self, me: int, other: int) -> None:
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            await tx.remove_request(me, other)

    async def remove_friend(self, me: int, other: int) -> None:
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            await tx.unfriend()

    async def friends(self, user_id: int, page: PageRequest) -> Listing:
        return _listing(await self._repo.friends(user_id, _more(page)), page)

    async def friend_requests(
        self, user_id: int, direction: Direction, page: PageRequest
    ) -> Listing:
        return _listing(await self._repo.requests(user_id, direction, _more(page)), page)

    # Follows.

    async def follow(self, me: int, other: int) -> Change:
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            state = await tx.state()
            self._check_not_blocked(state)
            if state.follows:
                return Change(False, state)
            await tx.add_follow(me, other)
            return Change(True, await tx.state())

    async def unfollow(self, me: int, other: int) -> None:
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            await tx.remove_follow(me, other)

    async def followers(self, viewer: int | None, user_id: int, page: PageRequest) -> Listing:
        await self._check_visible(viewer, user_id)
        return _listing(await self._repo.followers(user_id, _more(page)), page)

    async def following(self, viewer: int | None, user_id: int, page: PageRequest) -> Listing:
        await self._check_visible(viewer, user_id)
        return _listing(await self._repo.following(user_id, _more(page)), page)

    # Blocks.

    async def block(self, me: int, other: int) -> Change:
        """Block `other`, ending in the same transaction the friendship, both requests and
        both follows, so no half-blocked state is ever visible."""
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            state = await tx.state()
            if state.blocks:
                return Change(False, state)
            await tx.unfriend()
            await tx.remove_request(me, other)
            await tx.remove_request(other, me)
            await tx.remove_follow(me, other)
            await tx.remove_follow(other, me)
            await tx.add_block(me, other)
            return Change(True, await tx.state())

    async def unblock(self, me: int, other: int) -> None:
        """Lifts the block only; nothing that the block ended comes back."""
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            await tx.remove_block(me, other)

    async def blocked(self, me: int, page: PageRequest) -> Listing:
        return _listing(await self._repo.blocked(me, _more(page)), page)

    # Checks.

    async def _check_target(self, me: int, other: int) -> None:
        if me == other:
            raise InvalidInputError(
                "You cannot do this to yourself.",
                code="self_target",
                details=[{"field": "user_id", "code": "self_target",
                          "message": "must be another user"}],
            )
        if not await self._repo.user_exists(other):
            raise _no_such_user()

    async def _check_visible(self, viewer: int | None, user_id: int) -> None:
        if not await self._repo.user_exists(user_id):
            raise _no_such_user()
        if viewer is not None and viewer != user_id:
            if (await self._repo.pair_state(viewer, user_id)).blocked_by:
                raise _no_such_user()

    @staticmethod
    def _check_not_blocked(state: PairState) -> None:
        if state.blocked_by:
            # Answered like an unknown user: a blocked person is not told they are blocked.
            raise _no_such_user()
        if state.blocks:
            raise ConflictError("You blocked this user; unblock them first.",
                                code="blocked_by_you")

"""The social graph: friends (mutual), follows (one-way), blocks, and the rules between them.

`SocialGraph` holds the rules and receives its `SocialRepository`; it never sees a driver, so
`tests/unit/test_social.py` runs it on an in-memory fake. Every change to how two users stand
runs inside `SocialRepository.pair(a, b)`, which serialises changes to that pair: the rule
"look at the state, then change it" cannot race a concurrent request, accept or block.

Other features read the graph through `are_friends`, `is_blocked_either_way`, `friend_ids`
and `followee_ids` (chat: "only friends can message"; feed: "blogs of people I follow"), and
hear of friendships that begin or end through its events (events.py).
"""

from __future__ import annotations

import re
from collections.abc import Collection

from ..errors import ConflictError, InvalidInputError, NotFoundError, field_error
from .cursors import listing_of, one_more
from .events import (
    Blocked,
    Followed,
    FriendRequestAccepted,
    FriendRequestSent,
    FriendRequestWithdrawn,
    FriendshipChanged,
    NoListeners,
    SocialEvents,
    Unfollowed,
)
from .entities import (
    Change,
    Counts,
    Direction,
    FriendRequestOutcome,
    FriendRequestResult,
    Listing,
    PageRequest,
    PairState,
    Person,
    Profile,
)
from .ports import BlogCounter, SocialRepository

MAX_SEARCH_QUERY = 100
# Wider than the rule a username is made by (accounts/users.py): only what no username can be
# (a control character, a space, over 30 characters) is turned away before the store.
USERNAME_SHAPE = re.compile(r"@?[A-Za-z0-9_.]{1,30}")


# -- the rules ----------------------------------------------------------------------------


def _no_such_user() -> NotFoundError:
    return NotFoundError("No such user.", code="user_not_found")


class SocialGraph:
    def __init__(self, repo: SocialRepository, blog_counter: BlogCounter,
                 events: SocialEvents | None = None) -> None:
        self._repo = repo
        self._blogs = blog_counter
        self._events = events if events is not None else NoListeners()

    # Reads other features rely on.

    async def are_friends(self, a: int, b: int) -> bool:
        return a != b and await self._repo.are_friends(a, b)

    async def is_blocked_either_way(self, a: int, b: int) -> bool:
        return a != b and await self._repo.is_blocked_either_way(a, b)

    async def friend_ids(self, user_id: int) -> list[int]:
        return await self._repo.friend_ids(user_id)

    async def hidden_from(self, viewer: int, user_ids: Collection[int]) -> set[int]:
        """Those of `user_ids` whose profile `viewer` may not see (they blocked `viewer`),
        as `profile` hides it."""
        return await self._repo.blockers_among(viewer, user_ids) if user_ids else set()

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
        blogs = await self._blogs.published_blog_count(user_id, viewer)
        return Profile(
            user,
            Counts(blogs, counts.followers, counts.following, counts.friends),
            relation,
        )

    async def profile_by_username(self, viewer: int | None, username: str) -> Profile:
        """As profile, by username (a leading `@` allowed, any case); NotFoundError also for
        anything that cannot be a username, without a query."""
        user_id = (await self._repo.user_id_by_username(username.removeprefix("@"))
                   if USERNAME_SHAPE.fullmatch(username) else None)
        if user_id is None:
            raise _no_such_user()
        return await self.profile(viewer, user_id)

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
            result = FriendRequestResult(outcome, await tx.state())
        if outcome is FriendRequestOutcome.BECAME_FRIENDS:
            # Asking someone who had asked you is accepting their request.
            await self._events.publish(FriendRequestAccepted(me, other))
            await self._events.publish(FriendshipChanged(me, other, True))
        elif outcome is FriendRequestOutcome.REQUESTED:
            await self._events.publish(FriendRequestSent(me, other))
        return result

    async def relation(self, me: int, other: int) -> PairState:
        """How `me` stands with `other` (no checks: for features that already know both)."""
        return await self._repo.pair_state(me, other)

    async def accept_friend_request(self, me: int, other: int) -> Change:
        """Accepting twice is fine; accepting a request that was never sent is NotFoundError."""
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            state = await tx.state()
            if state.friends:
                change = Change(False, state)
            elif not state.requested_by:
                raise NotFoundError(
                    "This user has not asked to be your friend.", code="no_friend_request"
                )
            else:
                await tx.remove_request(other, me)
                await tx.remove_request(me, other)
                await tx.befriend()
                change = Change(True, await tx.state())
        if change.created:
            await self._events.publish(FriendRequestAccepted(me, other))
        await self._events.publish(FriendshipChanged(me, other, True))
        return change

    async def decline_friend_request(self, me: int, other: int) -> None:
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            await tx.remove_request(other, me)
        await self._events.publish(FriendRequestWithdrawn(other, me))

    async def cancel_friend_request(self, me: int, other: int) -> None:
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            await tx.remove_request(me, other)
        await self._events.publish(FriendRequestWithdrawn(me, other))

    async def remove_friend(self, me: int, other: int) -> None:
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            await tx.unfriend()
        await self._events.publish(FriendshipChanged(me, other, False))

    async def friends(self, user_id: int, page: PageRequest) -> Listing:
        return listing_of(await self._repo.friends(user_id, one_more(page)), page)

    async def friend_requests(
        self, user_id: int, direction: Direction, page: PageRequest
    ) -> Listing:
        return listing_of(await self._repo.requests(user_id, direction, one_more(page)), page)

    # Follows.

    async def follow(self, me: int, other: int) -> Change:
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            state = await tx.state()
            self._check_not_blocked(state)
            if state.follows:
                return Change(False, state)
            await tx.add_follow(me, other)
            change = Change(True, await tx.state())
        await self._events.publish(Followed(me, other))
        return change

    async def unfollow(self, me: int, other: int) -> None:
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            await tx.remove_follow(me, other)
        await self._events.publish(Unfollowed(me, other))

    async def followers(self, viewer: int | None, user_id: int, page: PageRequest) -> Listing:
        await self._check_visible(viewer, user_id)
        return listing_of(await self._repo.followers(user_id, one_more(page)), page)

    async def following(self, viewer: int | None, user_id: int, page: PageRequest) -> Listing:
        await self._check_visible(viewer, user_id)
        return listing_of(await self._repo.following(user_id, one_more(page)), page)

    # Blocks.

    async def block(self, me: int, other: int) -> Change:
        """Block `other`, ending in the same transaction the friendship, both requests and
        both follows, so no half-blocked state is ever visible."""
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            state = await tx.state()
            if state.blocks:
                change = Change(False, state)
            else:
                await tx.unfriend()
                await tx.remove_request(me, other)
                await tx.remove_request(other, me)
                await tx.remove_follow(me, other)
                await tx.remove_follow(other, me)
                await tx.add_block(me, other)
                change = Change(True, await tx.state())
        if change.created:
            await self._events.publish(Blocked(me, other))
        await self._events.publish(FriendshipChanged(me, other, False))
        return change

    async def unblock(self, me: int, other: int) -> None:
        """Lifts the block only; nothing that the block ended comes back."""
        await self._check_target(me, other)
        async with self._repo.pair(me, other) as tx:
            await tx.remove_block(me, other)

    async def blocked(self, me: int, page: PageRequest) -> Listing:
        return listing_of(await self._repo.blocked(me, one_more(page)), page)

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

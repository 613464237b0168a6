"""The social graph's repository port (PostgreSQL: `storage/postgres/social.py`)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Collection, Protocol

from .entities import Counts, Direction, Linked, PageRequest, PairState, Person, PublicUser


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

    async def user_id_by_username(self, username: str) -> int | None:
        """The id of the user called `username`, compared without case, or None."""
        ...

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

    async def blockers_among(self, user_id: int, others: Collection[int]) -> set[int]:
        """Those of `others` who blocked `user_id`, in one round trip."""
        ...

    async def friend_ids(self, user_id: int) -> list[int]: ...

    async def followee_ids(self, user_id: int) -> list[int]: ...


class BlogCounter(Protocol):
    """Kept apart from the graph so the blogs feature owns how its posts are counted."""

    async def published_blog_count(self, user_id: int, viewer: int | None) -> int:
        """The user's published blogs that `viewer` may read (audience, blocks, moderation):
        a profile never reveals that followers- or friends-only blogs exist."""
        ...

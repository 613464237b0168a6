"""In-memory fakes of the social-graph ports, for the domain's unit tests."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator, Collection

from nirvana.domain.errors import NotFoundError
from nirvana.domain.social.entities import (
    Counts,
    Direction,
    Linked,
    PageRequest,
    PairState,
    Person,
    PublicUser,
)

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


class FakeSocialRepository:
    def __init__(self) -> None:
        self.users: dict[int, PublicUser] = {}
        # Each relation: (from, to) -> when. Friendships are stored both ways, like in SQL.
        self.friendships: dict[tuple[int, int], datetime] = {}
        self.pending: dict[tuple[int, int], datetime] = {}
        self.follows: dict[tuple[int, int], datetime] = {}
        self.blocks: dict[tuple[int, int], datetime] = {}
        self._ticks = itertools.count(1)
        self._lock = asyncio.Lock()

    def add_user(self, user_id: int, username: str | None = None, name: str = "") -> None:
        username = username or f"user{user_id}"
        self.users[user_id] = PublicUser(
            Person(user_id, username, name or username.title(), None), "", "", START)

    def _now(self) -> datetime:
        return START + timedelta(seconds=next(self._ticks))

    @contextlib.asynccontextmanager
    async def pair(self, a: int, b: int) -> AsyncIterator["FakePairTransaction"]:
        async with self._lock:
            saved = copy.deepcopy(
                (self.friendships, self.pending, self.follows, self.blocks))
            try:
                yield FakePairTransaction(self, a, b)
            except BaseException:
                self.friendships, self.pending, self.follows, self.blocks = saved
                raise

    async def pair_state(self, a: int, b: int) -> PairState:
        return PairState(
            friends=(a, b) in self.friendships,
            requested=(a, b) in self.pending,
            requested_by=(b, a) in self.pending,
            follows=(a, b) in self.follows,
            followed_by=(b, a) in self.follows,
            blocks=(a, b) in self.blocks,
            blocked_by=(b, a) in self.blocks,
        )

    async def public_user(self, user_id: int) -> PublicUser | None:
        return self.users.get(user_id)

    async def user_id_by_username(self, username: str) -> int | None:
        return next((i for i, u in self.users.items()
                     if u.person.username.lower() == username.lower()), None)

    async def user_exists(self, user_id: int) -> bool:
        return user_id in self.users

    async def counts(self, user_id: int) -> Counts:
        return Counts(
            0,
            sum(1 for (_, to) in self.follows if to == user_id),
            sum(1 for (fr, _) in self.follows if fr == user_id),
            sum(1 for (fr, _) in self.friendships if fr == user_id),
        )

    def _list(self, links: dict, user_id: int, mine_first: bool, page: PageRequest):
        items = []
        for (x, y), since in links.items():
            owner, other = (x, y) if mine_first else (y, x)
            if owner == user_id:
                items.append(Linked(self.users[other].person, since))
        items.sort(key=lambda i: (i.since, i.person.id), reverse=True)
        if page.after is not None:
            items = [i for i in items if (i.since, i.person.id) < page.after]
        return items[: page.limit]

    async def friends(self, user_id: int, page: PageRequest) -> list[Linked]:
        return self._list(self.friendships, user_id, True, page)

    async def followers(self, user_id: int, page: PageRequest) -> list[Linked]:
        return self._list(self.follows, user_id, False, page)

    async def following(self, user_id: int, page: PageRequest) -> list[Linked]:
        return self._list(self.follows, user_id, True, page)

    async def requests(self, user_id: int, direction: Direction, page: PageRequest):
        return self._list(self.pending, user_id, direction is Direction.OUTGOING, page)

    async def blocked(self, user_id: int, page: PageRequest) -> list[Linked]:
        return self._list(self.blocks, user_id, True, page)

    async def search(self, query: str, viewer: int | None, limit: int, offset: int):
        q = query.lower()
        hits = [u.person for u in self.users.values()
                if q in u.person.username.lower() or q in u.person.name.lower()]
        return hits[offset: offset + limit]

    async def are_friends(self, a: int, b: int) -> bool:
        return (a, b) in self.friendships

    async def is_blocked_either_way(self, a: int, b: int) -> bool:
        return (a, b) in self.blocks or (b, a) in self.blocks

    async def blockers_among(self, user_id: int, others: Collection[int]) -> set[int]:
        return {o for o in others if (o, user_id) in self.blocks}

    async def friend_ids(self, user_id: int) -> list[int]:
        return sorted(b for (a, b) in self.friendships if a == user_id)

    async def followee_ids(self, user_id: int) -> list[int]:
        return sorted(b for (a, b) in self.follows if a == user_id)


class FakePairTransaction:
    def __init__(self, repo: FakeSocialRepository, a: int, b: int) -> None:
        self._r = repo
        self._a = a
        self._b = b

    def _add(self, links: dict, key: tuple[int, int]) -> None:
        if any(u not in self._r.users for u in key):
            raise NotFoundError("No such user.", code="user_not_found")
        links.setdefault(key, self._r._now())

    async def state(self) -> PairState:
        return await self._r.pair_state(self._a, self._b)

    async def add_request(self, from_user: int, to_user: int) -> None:
        self._add(self._r.pending, (from_user, to_user))

    async def remove_request(self, from_user: int, to_user: int) -> None:
        self._r.pending.pop((from_user, to_user), None)

    async def befriend(self) -> None:
        self._add(self._r.friendships, (self._a, self._b))
        self._add(self._r.friendships, (self._b, self._a))

    async def unfriend(self) -> None:
        self._r.friendships.pop((self._a, self._b), None)
        self._r.friendships.pop((self._b, self._a), None)

    async def add_follow(self, follower: int, followee: int) -> None:
        self._add(self._r.follows, (follower, followee))

    async def remove_follow(self, follower: int, followee: int) -> None:
        self._r.follows.pop((follower, followee), None)

    async def add_block(self, blocker: int, blocked: int) -> None:
        self._add(self._r.blocks, (blocker, blocked))

    async def remove_block(self, blocker: int, blocked: int) -> None:
        self._r.blocks.pop((blocker, blocked), None)


class FakeBlogCounter:
    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    async def published_blog_count(self, user_id: int, viewer: int | None) -> int:
        return self.counts.get(user_id, 0)

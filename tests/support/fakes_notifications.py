"""In-memory fakes of the notifications ports (domain/notifications/ports.py)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from nirvana.domain.notifications.entities import (
    MAX_SHOWN_ACTORS,
    Actor,
    Change,
    Draft,
    Kind,
    Notification,
    Position,
)


@dataclasses.dataclass
class _Row:
    id: int
    draft: Draft
    actors: list[int]  # newest first
    created_at: datetime
    updated_at: datetime
    read_at: datetime | None = None


class FakeNotificationStore:
    def __init__(self) -> None:
        self.rows: list[_Row] = []
        self._next = 1

    def _view(self, row: _Row) -> Notification:
        d = row.draft
        return Notification(
            row.id, d.recipient_id, d.kind,
            tuple(Actor(a, f"user{a}", f"User {a}") for a in row.actors[:MAX_SHOWN_ACTORS]),
            len(row.actors), d.blog_id, None, d.comment_id, d.text, row.created_at,
            row.updated_at, row.read_at, d.conversation_id)

    async def add(self, draft: Draft, now: datetime) -> Notification | None:
        for row in self.rows:
            if (row.read_at is None and row.draft.recipient_id == draft.recipient_id
                    and row.draft.group_key == draft.group_key):
                if row.draft.kind is Kind.BLOG_LIKED and row.draft.text != draft.text:
                    row.draft = dataclasses.replace(row.draft, text="mixed")  # as PostgreSQL
                if draft.actor_id is None or draft.actor_id in row.actors:
                    return None
                row.actors.insert(0, draft.actor_id)
                row.updated_at = now
                return self._view(row)
        row = _Row(self._next, draft, [draft.actor_id] if draft.actor_id else [], now, now)
        self._next += 1
        self.rows.append(row)
        return self._view(row)

    async def add_actors(self, draft: Draft, actor_ids: list[int],
                         now: datetime) -> Notification | None:
        stored = None
        for a in actor_ids:
            stored = await self.add(dataclasses.replace(draft, actor_id=a), now) or stored
        return stored

    async def add_for_each(self, recipient_ids: list[int], draft: Draft,
                           now: datetime) -> list[Notification]:
        added = []
        for r in recipient_ids:
            n = await self.add(dataclasses.replace(draft, recipient_id=r), now)
            if n is not None:
                added.append(n)
        return added

    async def unread_counts(self, recipient_ids: list[int]) -> dict[int, int]:
        return {r: await self.unread_count(r) for r in recipient_ids}

    async def withdraw(self, kind: Kind, subject: str, *, recipient_id: int | None = None,
                       actor_id: int | None = None) -> list[int]:
        changed: list[int] = []
        for row in list(self.rows):
            d = row.draft
            if (row.read_at is not None or d.kind is not kind or d.subject != subject
                    or (recipient_id is not None and d.recipient_id != recipient_id)):
                continue
            if actor_id is not None:
                if actor_id not in row.actors:
                    continue
                row.actors.remove(actor_id)
            if actor_id is None or not row.actors:
                self.rows.remove(row)
            changed.append(d.recipient_id)
        return sorted(set(changed))

    async def withdraw_between(self, a: int, b: int) -> list[int]:
        changed = set()
        for row in list(self.rows):
            d = row.draft
            if row.read_at is None and {d.recipient_id, d.actor_id} == {a, b}:
                self.rows.remove(row)
                changed.add(d.recipient_id)
        return sorted(changed)

    async def unread_about_blog(self, blog_id: int) -> list[int]:
        # The fake knows no blogs, so it shows everything: the reading rule is PostgreSQL's
        # and tested there (tests/integration/test_notification_visibility.py).
        return sorted({r.draft.recipient_id for r in self.rows
                       if r.read_at is None and r.draft.blog_id == blog_id})

    async def page(self, recipient_id: int, after: Position | None,
                   limit: int) -> list[Notification]:
        mine = sorted((r for r in self.rows if r.draft.recipient_id == recipient_id),
                      key=lambda r: (r.updated_at, r.id), reverse=True)
        if after is not None:
            mine = [r for r in mine if (r.updated_at, r.id) < (after.updated_at, after.id)]
        return [self._view(r) for r in mine[:limit]]

    async def unread_count(self, recipient_id: int) -> int:
        return sum(1 for r in self.rows
                   if r.draft.recipient_id == recipient_id and r.read_at is None)

    async def mark_read(self, recipient_id: int, notification_id: int, now: datetime) -> bool:
        for r in self.rows:
            if r.id == notification_id and r.draft.recipient_id == recipient_id:
                r.read_at = r.read_at or now
                return True
        return False

    async def mark_all_read(self, recipient_id: int, now: datetime) -> int:
        n = 0
        for r in self.rows:
            if r.draft.recipient_id == recipient_id and r.read_at is None:
                r.read_at = now
                n += 1
        return n

    async def delete(self, recipient_id: int, notification_id: int) -> bool:
        for r in self.rows:
            if r.id == notification_id and r.draft.recipient_id == recipient_id:
                self.rows.remove(r)
                return True
        return False


class FakeAudience:
    def __init__(self) -> None:
        self.blocks: set[frozenset[int]] = set()
        self.follows: set[tuple[int, int]] = set()  # (follower, followee)
        self.friends: set[frozenset[int]] = set()
        self.usernames: dict[str, int] = {}
        self.unreadable: set[tuple[int, int]] = set()  # (user, blog) outside its audience
        self.authors: dict[int, int] = {}  # blog -> author: a block with them hides it

    async def blocked_either_way(self, a: int, b: int) -> bool:
        return frozenset((a, b)) in self.blocks

    async def blocked_among(self, user_id: int, others: list[int]) -> set[int]:
        return {o for o in others if frozenset((user_id, o)) in self.blocks}

    async def followers(self, user_id: int) -> list[int]:
        return sorted(f for f, e in self.follows if e == user_id)

    async def may_read(self, author_id: int, audience: str, user_ids: list[int]) -> list[int]:
        return [u for u in user_ids if frozenset((u, author_id)) in self.friends
                or (audience == "followers" and (u, author_id) in self.follows)]

    async def can_read_blog(self, user_id: int, blog_id: int) -> bool:
        author = self.authors.get(blog_id)
        if author is not None and frozenset((author, user_id)) in self.blocks:
            return False
        return (user_id, blog_id) not in self.unreadable

    async def user_ids(self, usernames: list[str]) -> dict[str, int]:
        return {n: self.usernames[n] for n in usernames if n in self.usernames}


class HeardLive:
    def __init__(self) -> None:
        self.changes: list[Change] = []

    async def changed(self, change: Change) -> None:
        self.changes.append(change)


class FakePreferenceStore:
    def __init__(self) -> None:
        self.rows: dict[tuple[int, str, str], bool] = {}

    async def overrides(self, user_id: int):
        from nirvana.domain.notifications.preferences import Channel
        return {(k, Channel(c)): on for (u, k, c), on in self.rows.items() if u == user_id}

    async def save(self, user_id: int, changes) -> None:
        for c in changes:
            self.rows[(user_id, c.kind, c.channel.value)] = c.enabled

    async def set_off(self, user_id: int, kind: str, channel) -> None:
        self.rows[(user_id, kind, channel.value)] = False

    async def refusing(self, kind: str, channel, user_ids: list[int],
                       default_on: bool) -> set[int]:
        return {u for u in user_ids
                if not self.rows.get((u, kind, channel.value), default_on)}


class FakeMuteStore:
    def __init__(self) -> None:
        self.mutes: set[tuple[int, str]] = set()

    async def mute(self, user_id: int, conversation_id: str) -> None:
        self.mutes.add((user_id, conversation_id))

    async def unmute(self, user_id: int, conversation_id: str) -> None:
        self.mutes.discard((user_id, conversation_id))

    async def muted(self, user_id: int) -> list[str]:
        return sorted(c for u, c in self.mutes if u == user_id)

    async def newest_muted(self, user_id: int, limit: int) -> tuple[list[str], int]:
        mine = await self.muted(user_id)  # no time kept: by id
        return mine[:limit], len(mine)

    async def muted_among(self, conversation_id: str, user_ids: list[int]) -> set[int]:
        return {u for u in user_ids if (u, conversation_id) in self.mutes}

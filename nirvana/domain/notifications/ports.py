"""The ports of the notifications domain. PostgreSQL: `storage/postgres/notifications.py`;
in-memory fakes for unit tests: `tests/fakes_notifications.py`."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from .entities import Change, Draft, Kind, Notification, Position


class NotificationStore(Protocol):
    """Every read (page, counts, the notification an add hands back) and every change by
    the recipient (read, delete) sees only what its recipient may be shown now: one about a
    blog while they may read that blog (its author always), a friend request, a follow or
    a reaction while one of its senders' accounts exists. The others stay stored, out of
    sight."""

    async def add(self, draft: Draft, now: datetime) -> Notification | None:
        """Store `draft`, or add its actor to the unread notification with the same
        (recipient, group_key). None when that changed nothing (the actor was already
        there), or when the draft's blog or comment is gone (deleted meanwhile). Safe under
        concurrency: two adds of one group make one notification."""
        ...

    async def add_for_each(self, recipient_ids: list[int], draft: Draft,
                           now: datetime) -> list[Notification]:
        """`draft` (its recipient aside) for each of `recipient_ids` at once, as new
        notifications (a fan-out: a new blog to its author's followers); a recipient who
        still has the same one unread gets nothing new. The ones stored (none when the
        draft's blog or comment is gone)."""
        ...

    async def add_actors(self, draft: Draft, actor_ids: list[int],
                         now: datetime) -> Notification | None:
        """`add` for several actors at once (a batch of likes), in one transaction."""
        ...

    async def unread_counts(self, recipient_ids: list[int]) -> dict[int, int]: ...

    async def withdraw(self, kind: Kind, subject: str, *, recipient_id: int | None = None,
                       actor_id: int | None = None) -> list[int]:
        """Take `actor_id` off the unread notifications of `kind` about `subject` (of one
        recipient, or anyone's); one left with no actor is deleted (with `actor_id` None,
        they all are). The recipients whose list changed."""
        ...

    async def withdraw_between(self, a: int, b: int) -> list[int]:
        """Delete the unread notifications `a` caused for `b` and `b` for `a`; the
        recipients whose list changed."""
        ...

    async def unread_about_blog(self, blog_id: int) -> list[int]:
        """Who holds an unread notification naming the blog, whether shown now or not."""
        ...

    async def page(self, recipient_id: int, after: Position | None,
                   limit: int) -> list[Notification]:
        """The newest first by (updated_at, id), strictly after `after`."""
        ...

    async def unread_count(self, recipient_id: int) -> int: ...

    async def mark_read(self, recipient_id: int, notification_id: int, now: datetime) -> bool:
        """False when the recipient has no such notification."""
        ...

    async def mark_all_read(self, recipient_id: int, now: datetime) -> int: ...

    async def delete(self, recipient_id: int, notification_id: int) -> bool: ...


class Audience(Protocol):
    """What the rules read of the social graph and the accounts."""

    async def blocked_either_way(self, a: int, b: int) -> bool: ...

    async def blocked_among(self, user_id: int, others: list[int]) -> set[int]:
        """Those of `others` on either side of a block with `user_id`."""
        ...

    async def followers(self, user_id: int) -> list[int]:
        """Everyone who follows `user_id` (blocks end follows, so none of them is blocked)."""
        ...

    async def can_read_blog(self, user_id: int, blog_id: int) -> bool:
        """Whether `user_id` may read the blog now (published, in its audience, no block
        with its author): a mention of someone who may not notifies nobody."""
        ...

    async def user_ids(self, usernames: list[str]) -> dict[str, int]:
        """Ids of the existing users among `usernames` (lowercase keys)."""
        ...

    async def may_read(self, author_id: int, audience: str, user_ids: list[int]) -> list[int]:
        """Those of `user_ids` that a blog of this audience of the author's admits:
        'followers' the author's followers and friends, 'friends' their friends (blocks
        are checked apart). Only asked for those two."""
        ...


class LiveNotifications(Protocol):
    """Where a change goes once stored: every connected device of its recipient."""

    async def changed(self, change: Change) -> None:
        """Never raises: the change is stored, whoever missed it refetches."""
        ...

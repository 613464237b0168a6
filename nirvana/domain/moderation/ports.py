"""The ports of moderation: its own store, and what it needs of the other features."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from .entities import (
    Action,
    AuditEntry,
    Case,
    CaseStatus,
    Named,
    Preview,
    Role,
    Suspension,
    Target,
)


class ModerationStore(Protocol):
    async def role_of(self, user_id: int) -> Role | None:
        """The user's role, read from the store of record (never a cache: a role changed by
        the command line counts at once); None when there is no such user."""
        ...

    async def set_role(self, user_id: int, role: Role) -> None: ...

    async def add_report(self, target: Target, reporter_id: int, reason: str,
                         now: datetime) -> int:
        """Add the report to the target's open case (opened if there is none) and return the
        case id. A reporter's second report of one case changes nothing."""
        ...

    async def cases(self, status: CaseStatus, before: tuple[datetime, int] | None,
                    limit: int) -> list[Case]:
        """Cases with this status, most recently reported first."""
        ...

    async def case(self, case_id: int) -> Case | None: ...

    async def close_cases(self, target_key: str | None, case_id: int | None,
                          status: CaseStatus, by: int, outcome: str,
                          now: datetime) -> dict[int, list[int]]:
        """Close the open cases of a target (or the one case, if open): case id -> its
        reporters."""
        ...

    async def suspend(self, user_id: int, until: datetime | None) -> None: ...

    async def restore(self, user_id: int) -> bool:
        """Lift a suspension; False when there was none."""
        ...

    async def suspension(self, user_id: int, now: datetime) -> Suspension | None:
        """The account's suspension if it is still in force at `now`."""
        ...

    async def audit(self, actor_id: int, action: Action, target: str, reason: str,
                    detail: str, case_id: int | None, now: datetime) -> AuditEntry: ...

    async def audit_log(self, before_id: int | None, limit: int) -> list[AuditEntry]:
        """Newest first."""
        ...


class Content(Protocol):
    """What moderation asks of blogs, chat and the social graph."""

    async def owner_seen_by(self, viewer_id: int, target: Target) -> int:
        """The id of the target's author (or the user itself) if `viewer_id` can see it now:
        its audience, blocks and conversation membership all apply. NotFoundError otherwise,
        exactly as reading it would answer."""
        ...

    async def describe(self, target: Target) -> Preview | None:
        """What a moderator reviews: the blog's title, the comment's or message's text, the
        user's name (cut to a few hundred characters), with its author; None when it is
        gone."""
        ...

    async def names(self, user_ids: Iterable[int]) -> dict[int, Named]:
        """The names of these users; a deleted account is left out."""
        ...

    # Each of these raises NotFoundError when there is no such thing.
    async def set_blog_hidden(self, blog_id: int, hidden: bool) -> None: ...

    async def remove_blog(self, blog_id: int) -> None: ...

    async def set_comment_hidden(self, blog_id: int, comment_id: int, hidden: bool) -> None: ...

    async def remove_comment(self, blog_id: int, comment_id: int) -> None: ...

    async def remove_message(self, moderator_id: int, conversation_id: str, seq: int) -> None:
        """The chat's delete-for-everyone: a tombstone every member sees, live."""
        ...


class AccountSessions(Protocol):
    async def end_all_sessions(self, user_id: int) -> None:
        """Refuse every token of the account at once and close its sockets."""
        ...


class ReporterNotices(Protocol):
    async def report_handled(self, recipient_id: int, case_id: int, text: str) -> None: ...

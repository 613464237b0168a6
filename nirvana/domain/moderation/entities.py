"""What moderation deals in: roles, report targets, cases, actions and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

MAX_REASON = 1000  # characters of a report's or an action's reason


class Role(StrEnum):
    USER = "user"
    MODERATOR = "moderator"
    ADMIN = "admin"

    @property
    def moderates(self) -> bool:
        return self is not Role.USER


class TargetKind(StrEnum):
    BLOG = "blog"
    COMMENT = "comment"
    MESSAGE = "message"
    USER = "user"


@dataclass(frozen=True, slots=True)
class Target:
    """One reportable thing. A comment is named with its blog, a message with its
    conversation and seq: that is how every other route reaches them."""

    kind: TargetKind
    id: int | None = None  # blog, comment or user id
    blog_id: int | None = None  # a comment's blog
    conversation_id: str | None = None  # a message's conversation
    seq: int | None = None  # a message's seq

    @property
    def key(self) -> str:
        """The case key: reports of one thing gather under it."""
        if self.kind is TargetKind.MESSAGE:
            return f"message:{self.conversation_id}:{self.seq}"
        if self.kind is TargetKind.COMMENT:
            return f"comment:{self.blog_id}:{self.id}"
        return f"{self.kind.value}:{self.id}"

    @classmethod
    def parse(cls, key: str) -> "Target":
        kind, _, rest = key.partition(":")
        match TargetKind(kind):
            case TargetKind.MESSAGE:
                conversation_id, _, seq = rest.rpartition(":")
                return cls(TargetKind.MESSAGE, conversation_id=conversation_id, seq=int(seq))
            case TargetKind.COMMENT:
                blog_id, _, comment_id = rest.partition(":")
                return cls(TargetKind.COMMENT, id=int(comment_id), blog_id=int(blog_id))
            case other:
                return cls(other, id=int(rest))


class CaseStatus(StrEnum):
    OPEN = "open"
    ACTIONED = "actioned"  # a moderator acted on the target
    DISMISSED = "dismissed"  # reviewed, nothing done


@dataclass(frozen=True, slots=True)
class Report:
    reporter_id: int
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    target: Target
    status: CaseStatus
    count: int  # how many people reported it
    reports: tuple[Report, ...]  # newest first
    created_at: datetime
    updated_at: datetime
    handled_at: datetime | None = None
    handled_by: int | None = None
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class Preview:
    """What a target shows now, and who wrote it (the user itself for a user)."""

    text: str
    author_id: int


@dataclass(frozen=True, slots=True)
class Named:
    """How a moderator sees someone named: never the email."""

    id: int
    name: str
    username: str


@dataclass(frozen=True, slots=True)
class CaseInReview:
    """A case with what its target shows now and its author (None: gone, e.g. removed or
    deleted)."""

    case: Case
    preview: str | None
    author_id: int | None = None


class Action(StrEnum):
    HIDE_BLOG = "hide_blog"
    SHOW_BLOG = "show_blog"
    REMOVE_BLOG = "remove_blog"
    HIDE_COMMENT = "hide_comment"
    SHOW_COMMENT = "show_comment"
    REMOVE_COMMENT = "remove_comment"
    REMOVE_MESSAGE = "remove_message"
    SUSPEND = "suspend"
    RESTORE = "restore"
    DISMISS = "dismiss"  # a case closed with no action
    SET_ROLE = "set_role"  # admins only

    @property
    def target_kind(self) -> TargetKind | None:
        """The kind of target the action takes; None for DISMISS (it takes a case)."""
        match self:
            case Action.HIDE_BLOG | Action.SHOW_BLOG | Action.REMOVE_BLOG:
                return TargetKind.BLOG
            case Action.HIDE_COMMENT | Action.SHOW_COMMENT | Action.REMOVE_COMMENT:
                return TargetKind.COMMENT
            case Action.REMOVE_MESSAGE:
                return TargetKind.MESSAGE
            case Action.SUSPEND | Action.RESTORE | Action.SET_ROLE:
                return TargetKind.USER
            case _:
                return None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    actor_id: int
    action: Action
    target: str
    reason: str
    detail: str
    case_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Suspension:
    user_id: int
    until: datetime | None  # None: for good

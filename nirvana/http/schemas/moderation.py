"""Request and response models of reports, the moderators' queue and actions, roles and the
audit log (docs/moderation.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from ...domain.errors import field_error
from ...domain.moderation.entities import (
    MAX_REASON,
    Action,
    AuditEntry,
    CaseInReview,
    CaseStatus,
    Role,
    Target,
    TargetKind,
)
from ...domain.moderation.service import MAX_PAGE
from ..api import In, Out
from ...schema_text import Lines

REASON_DOC = f"Why, in the reporter's or moderator's words (1-{MAX_REASON} characters)"


class TargetIn(In):
    """One thing: a blog (`id`), a comment (`blog_id` and `id`), a chat message
    (`conversation_id` and `seq`) or a user (`id`)."""

    kind: Literal["blog", "comment", "message", "user"]
    id: int | None = Field(default=None, ge=1, description="The blog, comment or user id")
    blog_id: int | None = Field(default=None, ge=1, description="A comment's blog")
    conversation_id: str | None = Field(default=None, min_length=1, max_length=64,
                                        description="A message's conversation")
    seq: int | None = Field(default=None, ge=1, description="A message's seq")

    def target(self) -> Target:
        kind = TargetKind(self.kind)
        need = {TargetKind.BLOG: ("id",), TargetKind.USER: ("id",),
                TargetKind.COMMENT: ("blog_id", "id"),
                TargetKind.MESSAGE: ("conversation_id", "seq")}[kind]
        for name in need:
            if getattr(self, name) is None:
                raise field_error(f"target.{name}", f"a {kind.value} target needs {name}",
                                  "missing")
        if kind is TargetKind.MESSAGE:
            return Target(kind, conversation_id=self.conversation_id, seq=self.seq)
        return Target(kind, id=self.id, blog_id=self.blog_id if kind is TargetKind.COMMENT
                      else None)


class TargetOut(Out):
    kind: TargetKind
    key: str = Field(description='The case key: "blog:12", "comment:3:5", '
                                 '"message:<conversation>:<seq>", "user:7"')
    id: int | None
    blog_id: int | None
    conversation_id: str | None
    seq: int | None

    @classmethod
    def of(cls, t: Target) -> "TargetOut":
        return cls(kind=t.kind, key=t.key, id=t.id, blog_id=t.blog_id,
                   conversation_id=t.conversation_id, seq=t.seq)


class ReportIn(In):
    target: TargetIn
    reason: Lines = Field(min_length=1, max_length=MAX_REASON, description=REASON_DOC)


class ReportedOut(Out):
    case_id: int = Field(description="The case the report joined (one per reported thing)")


class ReportOut(Out):
    reporter_id: int
    reason: str
    created_at: datetime


class CaseOut(Out):
    id: int
    target: TargetOut
    status: CaseStatus
    count: int = Field(description="How many people reported it")
    reports: list[ReportOut] = Field(description="Newest first, at most 20")
    created_at: datetime
    updated_at: datetime = Field(description="The latest report")
    handled_at: datetime | None
    handled_by: int | None
    outcome: str | None = Field(description="The action that closed it")
    preview: str | None = Field(
        description="What the target shows now, whatever its audience (a blog's title and "
                    "body, a comment's or message's text, a user's name; 500 characters at "
                    "most); null when it is gone")

    @classmethod
    def of(cls, review: CaseInReview) -> "CaseOut":
        c = review.case
        return cls(preview=review.preview, id=c.id, target=TargetOut.of(c.target), status=c.status, count=c.count,
                   reports=[ReportOut(reporter_id=r.reporter_id, reason=r.reason,
                                      created_at=r.created_at) for r in c.reports],
                   created_at=c.created_at, updated_at=c.updated_at,
                   handled_at=c.handled_at, handled_by=c.handled_by, outcome=c.outcome)


class CasesIn(In):
    # A Literal, not the enum: query parameters are documented inline (no $ref).
    status: Literal["open", "actioned", "dismissed"] = "open"
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)


class CasesOut(Out):
    cases: list[CaseOut] = Field(description="Most recently reported first")


class ActionIn(In):
    action: Literal["hide_blog", "show_blog", "remove_blog", "hide_comment", "show_comment",
                    "remove_comment", "remove_message", "suspend", "restore", "dismiss"]
    target: TargetIn | None = Field(default=None, description="What it acts on (not dismiss)")
    case_id: int | None = Field(default=None, ge=1, description="dismiss: the case")
    reason: Lines = Field(min_length=1, max_length=MAX_REASON, description=REASON_DOC)
    until: AwareDatetime | None = Field(
        default=None, description="suspend: when it ends (with a time zone); absent: for good")


class UserRoleIn(In):
    role: Literal["user", "moderator", "admin"]
    reason: Lines = Field(min_length=1, max_length=MAX_REASON, description=REASON_DOC)

    @property
    def as_role(self) -> Role:
        return Role(self.role)


class AuditEntryOut(Out):
    id: int
    actor_id: int = Field(description="The moderator or admin who acted")
    action: Action
    target: str = Field(description="What it acted on, as a case key")
    reason: str
    detail: str = Field(description='More: "until <time>" or "for good" (suspend), the new '
                                    "role (set_role)")
    case_id: int | None = Field(description="The (first) case it closed")
    created_at: datetime

    @classmethod
    def of(cls, e: AuditEntry) -> "AuditEntryOut":
        return cls(id=e.id, actor_id=e.actor_id, action=e.action, target=e.target,
                   reason=e.reason, detail=e.detail, case_id=e.case_id,
                   created_at=e.created_at)


class AuditIn(In):
    before: int | None = Field(default=None, ge=1, description="next_before of the last page")
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)


class AuditOut(Out):
    entries: list[AuditEntryOut] = Field(description="Newest first")
    next_before: int | None = Field(description="Pass as ?before= for older entries")

"""Moderation use cases: report, the moderators' queue and actions, roles, the audit log.

Who may do what:
- anyone signed in reports what they can see (a blog, a comment, a chat message, a user);
- moderators and admins read the queue, act on content and accounts, and dismiss cases;
  nobody acts on themselves, and only an admin acts on a moderator's account; an admin's
  account is out of reach of suspension (demote first);
- admins change roles and read the audit log.
Every action is written to the audit log (append-only in PostgreSQL), and every open case
on its target is closed with it, its reporters told.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..clock import Clock
from ..errors import ConflictError, InvalidInputError, NotFoundError, field_error
from ..text import check_text, is_blank
from .entities import (
    MAX_REASON,
    Action,
    AuditEntry,
    CaseInReview,
    CaseStatus,
    Named,
    Role,
    Target,
    TargetKind,
)
from .errors import NotAdminError, NotModeratorError
from .ports import AccountSessions, Content, ModerationStore, ReporterNotices

MAX_PAGE = 100

# What a reporter is told when their case is closed.
OUTCOME_TEXT = {
    Action.HIDE_BLOG: "a moderator hid the blog",
    Action.REMOVE_BLOG: "a moderator removed the blog",
    Action.HIDE_COMMENT: "a moderator hid the comment",
    Action.REMOVE_COMMENT: "a moderator removed the comment",
    Action.REMOVE_MESSAGE: "a moderator removed the message",
    Action.SUSPEND: "a moderator suspended the account",
    Action.DISMISS: "a moderator reviewed it and took no action",
}
# Undoing actions close no case: they answer nobody's report.
CLOSES_CASES = frozenset(OUTCOME_TEXT) - {Action.DISMISS}


def clean_reason(raw: str) -> str:
    reason = check_text(raw, "reason", MAX_REASON, multiline=True)
    if is_blank(reason):
        raise field_error("reason", "say why, in a few words", "empty")
    return reason.strip()


@dataclass(frozen=True, slots=True)
class ActionRequest:
    action: Action
    target: Target | None  # None for DISMISS
    reason: str
    until: datetime | None = None  # SUSPEND: None is for good
    role: Role | None = None  # SET_ROLE
    case_id: int | None = None  # DISMISS


class Moderation:
    def __init__(self, *, store: ModerationStore, content: Content,
                 sessions: AccountSessions, notices: ReporterNotices, clock: Clock) -> None:
        self._store = store
        self._content = content
        self._sessions = sessions
        self._notices = notices
        self._clock = clock

    # -- roles --------------------------------------------------------------------------

    async def role_of(self, user_id: int) -> Role:
        return await self._store.role_of(user_id) or Role.USER

    async def _moderator(self, user_id: int) -> Role:
        role = await self.role_of(user_id)
        if not role.moderates:
            raise NotModeratorError()
        return role

    async def _admin(self, user_id: int) -> None:
        if await self.role_of(user_id) is not Role.ADMIN:
            raise NotAdminError()

    # -- reports ------------------------------------------------------------------------

    async def check_reportable(self, reporter_id: int, target: Target) -> None:
        """NotFoundError (as reading it would answer) when the reporter cannot see it."""
        await self._content.owner_seen_by(reporter_id, target)

    async def report(self, reporter_id: int, target: Target, reason: str) -> int:
        """Report something the reporter can see; the id of the case it joined. What the
        reporter cannot see is NotFoundError, as reading it would be."""
        reason = clean_reason(reason)
        owner = await self._content.owner_seen_by(reporter_id, target)
        if target.kind is TargetKind.USER and owner == reporter_id:
            raise InvalidInputError("You cannot report yourself.", code="report_self")
        return await self._store.add_report(target, reporter_id, reason, self._clock.now())

    async def queue(self, moderator_id: int, status: CaseStatus,
                    before: tuple[datetime, int] | None, limit: int) -> list[CaseInReview]:
        """Cases with this status, most recently reported first, each with what its target
        shows now (read whatever its audience: moderators review what was reported)."""
        await self._moderator(moderator_id)
        cases = await self._store.cases(status, before, max(1, min(limit, MAX_PAGE)))
        reviews = []
        for c in cases:
            shown = await self._content.describe(c.target)
            reviews.append(CaseInReview(c, shown.text, shown.author_id) if shown
                           else CaseInReview(c, None))
        return reviews

    async def names(self, moderator_id: int, user_ids: Iterable[int]) -> dict[int, Named]:
        """Who the queue and the audit log name (reporters, authors, moderators), for the
        moderators who read them."""
        await self._moderator(moderator_id)
        return await self._content.names(set(user_ids))

    # -- actions ------------------------------------------------------------------------

    async def act(self, actor_id: int, request: ActionRequest) -> AuditEntry:
        """Carry out one action and write it to the audit log; close the cases it answers
        and tell their reporters."""
        role = await self._moderator(actor_id)
        reason = clean_reason(request.reason)
        action = request.action
        if action is Action.DISMISS:
            return await self._dismiss(actor_id, request.case_id, reason)
        target = request.target
        if target is None or target.kind is not action.target_kind:
            raise field_error("target", f"{action.value} takes a {action.target_kind} target",
                              "wrong_kind")
        detail = await self._carry_out(actor_id, role, request, target)
        now = self._clock.now()
        case_id = None
        closed: dict[int, list[int]] = {}
        if action in CLOSES_CASES:
            closed = await self._store.close_cases(target.key, None, CaseStatus.ACTIONED,
                                                   actor_id, action.value, now)
            case_id = min(closed) if closed else None
        entry = await self._store.audit(actor_id, action, target.key, reason, detail,
                                        case_id, now)
        await self._tell_reporters(closed, action)
        return entry

    async def _carry_out(self, actor_id: int, role: Role, request: ActionRequest,
                         target: Target) -> str:
        action = request.action
        match action:
            case Action.HIDE_BLOG | Action.SHOW_BLOG:
                await self._content.set_blog_hidden(target.id, action is Action.HIDE_BLOG)
            case Action.REMOVE_BLOG:
                await self._content.remove_blog(target.id)
            case Action.HIDE_COMMENT | Action.SHOW_COMMENT:
                await self._content.set_comment_hidden(target.blog_id, target.id,
                                                       action is Action.HIDE_COMMENT)
            case Action.REMOVE_COMMENT:
                await self._content.remove_comment(target.blog_id, target.id)
            case Action.REMOVE_MESSAGE:
                await self._content.remove_message(actor_id, target.conversation_id,
                                                   target.seq)
            case Action.SUSPEND | Action.RESTORE:
                await self._check_account_action(actor_id, role, target.id)
                if action is Action.SUSPEND:
                    until = request.until
                    if until is not None and until <= self._clock.now():
                        raise field_error("until", "must be in the future", "in_the_past")
                    await self._store.suspend(target.id, until)
                    await self._sessions.end_all_sessions(target.id)
                    return f"until {until.isoformat()}" if until else "for good"
                if not await self._store.restore(target.id):
                    raise ConflictError("This account is not suspended.", code="not_suspended")
            case Action.SET_ROLE:
                if role is not Role.ADMIN:
                    raise NotAdminError()
                if request.role is None:
                    raise field_error("role", "name the new role", "missing")
                if target.id == actor_id:
                    raise ConflictError("Admins cannot change their own role; another admin "
                                        "can.", code="own_role")
                if await self._store.role_of(target.id) is None:
                    raise NotFoundError("No such user.", code="user_not_found")
                await self._store.set_role(target.id, request.role)
                return request.role.value
        return ""

    async def _check_account_action(self, actor_id: int, actor_role: Role,
                                    user_id: int) -> None:
        if user_id == actor_id:
            raise ConflictError("You cannot suspend or restore yourself.", code="own_account")
        target_role = await self._store.role_of(user_id)
        if target_role is None:
            raise NotFoundError("No such user.", code="user_not_found")
        if target_role is Role.ADMIN:
            raise ConflictError("An admin cannot be suspended; an admin can demote them first.",
                                code="target_is_admin")
        if target_role is Role.MODERATOR and actor_role is not Role.ADMIN:
            raise NotAdminError("Only an admin can suspend or restore a moderator.")

    async def _dismiss(self, actor_id: int, case_id: int | None, reason: str) -> AuditEntry:
        if case_id is None:
            raise field_error("case_id", "name the case to dismiss", "missing")
        case = await self._store.case(case_id)
        if case is None:
            raise NotFoundError("No such case.", code="case_not_found")
        now = self._clock.now()
        closed = await self._store.close_cases(None, case_id, CaseStatus.DISMISSED, actor_id,
                                               Action.DISMISS.value, now)
        if not closed:
            raise ConflictError("This case is already closed.", code="case_closed")
        entry = await self._store.audit(actor_id, Action.DISMISS, case.target.key, reason, "",
                                        case_id, now)
        await self._tell_reporters(closed, Action.DISMISS)
        return entry

    async def _tell_reporters(self, closed: dict[int, list[int]], action: Action) -> None:
        outcome = OUTCOME_TEXT.get(action, "a moderator handled it")
        for case_id, reporters in closed.items():
            for reporter_id in reporters:
                await self._notices.report_handled(
                    reporter_id, case_id, f"Your report was handled: {outcome}. Thank you.")

    # -- the audit log ------------------------------------------------------------------

    async def audit_log(self, admin_id: int, before_id: int | None,
                        limit: int) -> list[AuditEntry]:
        await self._admin(admin_id)
        return await self._store.audit_log(before_id, max(1, min(limit, MAX_PAGE)))

"""In-memory fakes of the moderation ports, for the rules' unit tests."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime

from nirvana.domain.errors import NotFoundError
from nirvana.domain.moderation.entities import (
    Action,
    AuditEntry,
    Case,
    CaseStatus,
    Named,
    Preview,
    Report,
    Role,
    Suspension,
    Target,
)


class FakeModerationStore:
    def __init__(self) -> None:
        self.roles: dict[int, Role] = {}
        self.by_id: dict[int, Case] = {}
        self.suspensions: dict[int, datetime | None] = {}
        self.log: list[AuditEntry] = []
        self._ids = itertools.count(1)

    async def role_of(self, user_id: int) -> Role | None:
        return self.roles.get(user_id)

    async def set_role(self, user_id: int, role: Role) -> None:
        self.roles[user_id] = role

    async def add_report(self, target: Target, reporter_id: int, reason: str,
                         now: datetime) -> int:
        case = next((c for c in self.by_id.values()
                     if c.target == target and c.status is CaseStatus.OPEN), None)
        if case is None:
            case = Case(next(self._ids), target, CaseStatus.OPEN, 0, (), now, now)
        if all(r.reporter_id != reporter_id for r in case.reports):
            case = replace(case, count=case.count + 1, updated_at=now,
                           reports=(Report(reporter_id, reason, now), *case.reports))
        self.by_id[case.id] = case
        return case.id

    async def cases(self, status: CaseStatus, before, limit: int) -> list[Case]:
        found = [c for c in self.by_id.values() if c.status is status]
        return sorted(found, key=lambda c: (c.updated_at, c.id), reverse=True)[:limit]

    async def case(self, case_id: int) -> Case | None:
        return self.by_id.get(case_id)

    async def close_cases(self, target_key, case_id, status, by, outcome, now):
        closed = {}
        for c in list(self.by_id.values()):
            if c.status is CaseStatus.OPEN and (c.target.key == target_key or c.id == case_id):
                self.by_id[c.id] = replace(c, status=status, handled_by=by, handled_at=now,
                                           outcome=outcome)
                closed[c.id] = [r.reporter_id for r in reversed(c.reports)]
        return closed

    async def suspend(self, user_id: int, until: datetime | None) -> None:
        self.suspensions[user_id] = until

    async def restore(self, user_id: int) -> bool:
        return self.suspensions.pop(user_id, "none") != "none"

    async def suspension(self, user_id: int, now: datetime) -> Suspension | None:
        if user_id not in self.suspensions:
            return None
        until = self.suspensions[user_id]
        return Suspension(user_id, until) if until is None or until > now else None

    async def audit(self, actor_id, action: Action, target, reason, detail, case_id, now):
        entry = AuditEntry(len(self.log) + 1, actor_id, action, target, reason, detail,
                           case_id, now)
        self.log.append(entry)
        return entry

    async def audit_log(self, before_id, limit):
        return [e for e in reversed(self.log) if before_id is None or e.id < before_id][:limit]


class FakeContent:
    """Things by case key, with their owner and who may see them."""

    def __init__(self) -> None:
        self.owners: dict[str, int] = {}
        self.hidden_from: dict[str, set[int]] = {}
        self.done: list[tuple[str, str]] = []

    def add(self, target: Target, owner: int, hidden_from: set[int] = frozenset()) -> Target:
        self.owners[target.key] = owner
        self.hidden_from[target.key] = set(hidden_from)
        return target

    def _must(self, key: str) -> None:
        if key not in self.owners:
            raise NotFoundError("No such thing.", code="not_found")

    async def owner_seen_by(self, viewer_id: int, target: Target) -> int:
        self._must(target.key)
        if viewer_id in self.hidden_from[target.key]:
            raise NotFoundError("No such thing.", code="not_found")
        return self.owners[target.key]

    async def describe(self, target: Target) -> Preview | None:
        if target.key not in self.owners:
            return None
        return Preview(target.key, self.owners[target.key])

    async def names(self, user_ids) -> dict[int, Named]:
        return {i: Named(i, f"User {i}", f"user{i}") for i in user_ids}

    async def set_blog_hidden(self, blog_id: int, hidden: bool) -> None:
        self._must(f"blog:{blog_id}")
        self.done.append(("hide" if hidden else "show", f"blog:{blog_id}"))

    async def remove_blog(self, blog_id: int) -> None:
        self._must(f"blog:{blog_id}")
        self.owners.pop(f"blog:{blog_id}")
        self.done.append(("remove", f"blog:{blog_id}"))

    async def set_comment_hidden(self, blog_id, comment_id, hidden) -> None:
        self._must(f"comment:{blog_id}:{comment_id}")

    async def remove_comment(self, blog_id, comment_id) -> None:
        self._must(f"comment:{blog_id}:{comment_id}")

    async def remove_message(self, moderator_id, conversation_id, seq) -> None:
        self._must(f"message:{conversation_id}:{seq}")
        self.done.append(("remove", f"message:{conversation_id}:{seq}"))


class FakeAccountSessions:
    def __init__(self) -> None:
        self.ended: list[int] = []

    async def end_all_sessions(self, user_id: int) -> None:
        self.ended.append(user_id)


class FakeNotices:
    def __init__(self) -> None:
        self.told: list[tuple[int, int, str]] = []

    async def report_handled(self, recipient_id: int, case_id: int, text: str) -> None:
        self.told.append((recipient_id, case_id, text))

"""Reports (/api/v1/reports), the moderators' queue and actions (/api/v1/moderation/...),
roles and the audit log (/api/v1/admin/...). Who may call what is decided in
domain/moderation/service.py; docs/moderation.md describes it."""

from __future__ import annotations

from ...domain.moderation.entities import Action, CaseStatus, Target, TargetKind
from ...domain.moderation.service import ActionRequest, Moderation
from ..api import Api, Call
from ..schemas.moderation import (
    ActionIn,
    AuditEntryOut,
    AuditIn,
    AuditOut,
    CaseOut,
    CasesIn,
    CasesOut,
    ReportedOut,
    ReportIn,
    UserRoleIn,
)

api = Api()
TAGS = ["moderation"]


def _moderation(call: Call) -> Moderation:
    moderation = call.services.moderation
    assert moderation is not None  # wired by bootstrap
    return moderation


@api.route("POST", "/api/v1/reports",
           summary="Report a blog, comment, chat message or user you can see; reports of "
                   "one thing gather into one case", tags=TAGS, body=ReportIn,
           response=ReportedOut, status=201, errors=(404, 422, 429))
async def report(call: Call[ReportIn, None]) -> ReportedOut:
    case_id = await _moderation(call).report(call.user_id, call.body.target.target(),
                                             call.body.reason)
    return ReportedOut(case_id=case_id)


@api.route("GET", "/api/v1/moderation/cases",
           summary="The moderators' queue: cases by status, most recently reported first",
           tags=TAGS, query=CasesIn, response=CasesOut, errors=(403,))
async def cases(call: Call[None, CasesIn]) -> CasesOut:
    found = await _moderation(call).queue(call.user_id, CaseStatus(call.query.status), None,
                                          call.query.limit)
    return CasesOut(cases=[CaseOut.of(c) for c in found])


@api.route("POST", "/api/v1/moderation/actions",
           summary="Act as a moderator (hide, show or remove a blog or comment, remove a chat "
                   "message, suspend or restore an account, dismiss a case); written to the "
                   "audit log", tags=TAGS, body=ActionIn, response=AuditEntryOut,
           status=201, errors=(403, 404, 409, 422, 429))
async def act(call: Call[ActionIn, None]) -> AuditEntryOut:
    body = call.body
    target = body.target.target() if body.target is not None else None
    entry = await _moderation(call).act(call.user_id, ActionRequest(
        Action(body.action), target, body.reason, until=body.until, case_id=body.case_id))
    return AuditEntryOut.of(entry)


@api.route("PUT", "/api/v1/admin/users/{user_id:int}/role",
           summary="Change a user's role (admins only; not your own); written to the audit "
                   "log", tags=TAGS, body=UserRoleIn, response=AuditEntryOut,
           errors=(403, 404, 409, 422, 429))
async def set_user_role(call: Call[UserRoleIn, None]) -> AuditEntryOut:
    entry = await _moderation(call).act(call.user_id, ActionRequest(
        Action.SET_ROLE, Target(TargetKind.USER, id=call.path("user_id")), call.body.reason,
        role=call.body.as_role))
    return AuditEntryOut.of(entry)


@api.route("GET", "/api/v1/admin/audit",
           summary="The moderation audit log, newest first (admins only; nobody can edit it)",
           tags=TAGS, query=AuditIn, response=AuditOut, errors=(403,))
async def audit(call: Call[None, AuditIn]) -> AuditOut:
    entries = await _moderation(call).audit_log(call.user_id, call.query.before,
                                                call.query.limit)
    full = len(entries) == call.query.limit
    return AuditOut(entries=[AuditEntryOut.of(e) for e in entries],
                    next_before=entries[-1].id if entries and full else None)

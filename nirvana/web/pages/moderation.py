"""Moderation in the web client: the report form (reached from a blog, a comment, a profile
or a chat message), the moderators' queue with its actions, and the admins' audit log and
role form — plain forms through the same `Moderation` service as the API."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...domain.moderation.entities import Action, CaseStatus, Role, Target, TargetKind
from ...domain.moderation.service import ActionRequest, Moderation
from .. import domain
from ..forms import FormErrors, read_form, redirect, safe_next
from ..session import signed_in_user
from ..templating import pages_of
from ...domain.ids import MAX_ID

# A suspension's length, as the queue's form offers it.
SUSPEND_FOR = {"1": timedelta(days=1), "7": timedelta(days=7), "30": timedelta(days=30),
               "forever": None}
TARGET_FIELDS = ("kind", "id", "blog_id", "conversation_id", "seq")
DONE = {"reported": "Thank you. A moderator will look at it, and your notifications will "
                    "tell you when it is handled.",
        "acted": "Done, and written to the audit log.",
        "role": "The role is changed, and written to the audit log."}
# What an action did, in the words the queue's outcomes and the audit log use.
ACTION_WORDS = {
    Action.HIDE_BLOG: "hid the blog", Action.SHOW_BLOG: "showed the blog again",
    Action.REMOVE_BLOG: "removed the blog", Action.HIDE_COMMENT: "hid the comment",
    Action.SHOW_COMMENT: "showed the comment again", Action.REMOVE_COMMENT: "removed the comment",
    Action.REMOVE_MESSAGE: "removed the message", Action.SUSPEND: "suspended the account",
    Action.RESTORE: "lifted the suspension", Action.DISMISS: "dismissed the report",
    Action.SET_ROLE: "changed the role",
}
KIND_WORDS = {TargetKind.BLOG: "Blog", TargetKind.COMMENT: "Comment",
              TargetKind.MESSAGE: "Chat message", TargetKind.USER: "Account"}
NAMING = {"ACTION_WORDS": {a.value: w for a, w in ACTION_WORDS.items()},
          "KIND_WORDS": {k.value: w for k, w in KIND_WORDS.items()},
          "parse_target": Target.parse}


def moderation(request: Request) -> Moderation:
    found = request.app.state.services.moderation
    assert found is not None
    return found


def _number(raw: str | None, field: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) > MAX_ID or int(raw) < 1:
        raise domain.NotFoundError(f"No such {field}.", code="not_found")
    return int(raw)


def target_of(fields) -> Target:
    """The target named by a query string or form (the report links, the queue's forms)."""
    try:
        kind = TargetKind(fields.get("kind", ""))
    except ValueError:
        raise domain.NotFoundError("Nothing to report here.", code="not_found") from None
    number = {name: _number(fields.get(name), name) for name in ("id", "blog_id", "seq")}
    conversation = fields.get("conversation_id") or None
    if kind is TargetKind.MESSAGE and (conversation is None or number["seq"] is None):
        raise domain.NotFoundError("No such message.", code="message_not_found")
    if kind is not TargetKind.MESSAGE and number["id"] is None or (
            kind is TargetKind.COMMENT and number["blog_id"] is None):
        raise domain.NotFoundError("Nothing to report here.", code="not_found")
    if kind is TargetKind.MESSAGE:
        return Target(kind, conversation_id=conversation, seq=number["seq"])
    return Target(kind, id=number["id"],
                  blog_id=number["blog_id"] if kind is TargetKind.COMMENT else None)


def where_to_see(target: Target) -> str | None:
    """The page a target is on, for links back (a chat message's is the chat)."""
    match target.kind:
        case TargetKind.BLOG:
            return f"/blogs/{target.id}"
        case TargetKind.COMMENT:
            return f"/blogs/{target.blog_id}#comment-{target.id}"
        case TargetKind.USER:
            return f"/people/{target.id}"
        case _:
            return None


async def report_form(request: Request) -> Response:
    me = (await signed_in_user(request)).id
    target = target_of(request.query_params)
    await moderation(request).check_reportable(me, target)  # what they cannot see: 404
    return await _report_page(request, target, FormErrors(), {})


async def _report_page(request: Request, target: Target, errors: FormErrors, form: dict,
                       status: int = 200) -> Response:
    back = where_to_see(target) or ("/chat" if target.kind is TargetKind.MESSAGE else "/")
    return await pages_of(request).render(request, "moderation/report.html", {
        "target": target, "fields": {k: getattr(target, k, None) for k in TARGET_FIELDS[1:]},
        "back": back, "errors": errors, "form": form,
        "notice": DONE.get(request.query_params.get("done", "")),
    }, status=status)


async def report(request: Request) -> Response:
    form = await read_form(request)
    me = (await signed_in_user(request)).id
    target = target_of(form)
    try:
        await moderation(request).report(me, target, form.get("reason", ""))
    except domain.InvalidInputError as exc:
        errors = FormErrors.of(exc)
        return await _report_page(request, target, errors, form, status=errors.status)
    query = urlencode([(k, v) for k in TARGET_FIELDS if (v := form.get(k)) not in (None, "")])
    return await redirect(request, f"/report?{query}&done=reported")


async def queue(request: Request) -> Response:
    me = (await signed_in_user(request)).id
    try:
        status = CaseStatus(request.query_params.get("status", "open"))
    except ValueError:
        status = CaseStatus.OPEN
    cases = await moderation(request).queue(me, status, None, 100)
    role = await moderation(request).role_of(me)
    named = {r.reporter_id for review in cases for r in review.case.reports}
    named |= {i for review in cases for i in (review.author_id, review.case.handled_by) if i}
    return await pages_of(request).render(request, "moderation/queue.html", {
        "cases": cases, "status": status.value, "statuses": [s.value for s in CaseStatus],
        "is_admin": role is Role.ADMIN, "where_to_see": where_to_see,
        "names": await moderation(request).names(me, named), **NAMING,
        "notice": DONE.get(request.query_params.get("done", "")),
    })


async def act(request: Request) -> Response:
    form = await read_form(request)
    me = (await signed_in_user(request)).id
    try:
        action = Action(form.get("action", ""))
    except ValueError:
        raise domain.InvalidInputError("Choose an action.", code="unknown_action") from None
    target = None if action is Action.DISMISS else target_of(form)
    until = None
    if action is Action.SUSPEND:
        length = SUSPEND_FOR.get(form.get("for", "forever"))
        until = request.app.state.services.clock.now() + length if length else None
    await moderation(request).act(me, ActionRequest(
        action, target, form.get("reason", ""), until=until,
        case_id=_number(form.get("case_id"), "case")))
    return await redirect(request, safe_next(form.get("next"), "/moderation") + "?done=acted")


async def audit(request: Request) -> Response:
    me = (await signed_in_user(request)).id
    before = _number(request.query_params.get("before"), "entry")
    entries = await moderation(request).audit_log(me, before, 50)
    named = {e.actor_id for e in entries if e.actor_id}
    named |= {t.id for e in entries if (t := Target.parse(e.target)).kind is TargetKind.USER
              and t.id}
    return await pages_of(request).render(request, "moderation/audit.html", {
        "entries": entries, "names": await moderation(request).names(me, named), **NAMING,
        "next_url": f"/moderation/audit?before={entries[-1].id}" if len(entries) == 50
        else None,
        "notice": DONE.get(request.query_params.get("done", "")),
    })


async def set_role(request: Request) -> Response:
    form = await read_form(request)
    me = (await signed_in_user(request)).id
    user_id = request.path_params["id"]
    if user_id > MAX_ID:
        raise domain.NotFoundError("No such user.", code="user_not_found")
    try:
        role = Role(form.get("role", ""))
    except ValueError:
        raise domain.InvalidInputError("Choose a role.", code="unknown_role") from None
    await moderation(request).act(me, ActionRequest(
        Action.SET_ROLE, Target(TargetKind.USER, id=user_id), form.get("reason", ""),
        role=role))
    return await redirect(request, "/moderation/audit?done=role")


routes = [
    Route("/report", report_form, methods=["GET", "HEAD"]),
    Route("/report", report, methods=["POST"]),
    Route("/moderation", queue, methods=["GET", "HEAD"]),
    Route("/moderation/actions", act, methods=["POST"]),
    Route("/moderation/audit", audit, methods=["GET", "HEAD"]),
    Route("/people/{id:int}/role", set_role, methods=["POST"]),
]

"""The authorization matrix of every moderation route, API and web page: who gets what, for
the owner of the thing acted on, another user, a moderator, an admin, a suspended moderator,
a deleted account and an anonymous caller."""

from __future__ import annotations

import pytest

from nirvana.domain.moderation.entities import Role
from tests.support.http import PASSWORD, bearer, sign_up
from tests.support.moderation import act, publish, signed_up_with_role
from tests.support.servers import TEST_ORIGIN

CALLERS = ("owner", "other", "moderator", "admin", "suspended", "deleted", "anonymous")
SIGNED_OUT = {"suspended": 401, "deleted": 401, "anonymous": 401}

# Route -> the status each caller gets.
MATRIX = {
    "report": {"owner": 201, "other": 201, "moderator": 201, "admin": 201, **SIGNED_OUT},
    "queue": {"owner": 403, "other": 403, "moderator": 200, "admin": 200, **SIGNED_OUT},
    "act": {"owner": 403, "other": 403, "moderator": 201, "admin": 201, **SIGNED_OUT},
    "set_role": {"owner": 403, "other": 403, "moderator": 403, "admin": 200, **SIGNED_OUT},
    "audit": {"owner": 403, "other": 403, "moderator": 403, "admin": 200, **SIGNED_OUT},
}


async def world(client, database_url) -> tuple[dict, dict]:
    """Sessions by caller (None: anonymous) and the owner's blog."""
    sessions = {
        "owner": await sign_up(client),
        "other": await sign_up(client),
        "moderator": await signed_up_with_role(client, database_url, Role.MODERATOR),
        "admin": await signed_up_with_role(client, database_url, Role.ADMIN),
        "suspended": await signed_up_with_role(client, database_url, Role.MODERATOR),
        "deleted": await sign_up(client),
        "anonymous": None,
    }
    blog = await publish(client, sessions["owner"])
    r = await act(client, sessions["admin"], "suspend",
                  {"kind": "user", "id": sessions["suspended"]["user"]["id"]})
    assert r.status_code == 201, r.text
    r = await client.request("DELETE", "/api/v1/user/me", headers=bearer(sessions["deleted"]),
                             json={"password": PASSWORD})
    assert r.status_code == 204, r.text
    return sessions, blog


async def call(client, route: str, session: dict | None, owner: dict, blog: dict):
    headers = bearer(session) if session else {}
    blog_target = {"kind": "blog", "id": blog["id"]}
    match route:
        case "report":
            return await client.post("/api/v1/reports", headers=headers,
                                     json={"target": blog_target, "reason": "spam"})
        case "queue":
            return await client.get("/api/v1/moderation/cases", headers=headers)
        case "act":
            return await client.post("/api/v1/moderation/actions", headers=headers, json={
                "action": "hide_blog", "target": blog_target, "reason": "spam"})
        case "set_role":
            return await client.put(f"/api/v1/admin/users/{owner['user']['id']}/role",
                                    headers=headers, json={"role": "user", "reason": "x"})
        case _:
            return await client.get("/api/v1/admin/audit", headers=headers)


@pytest.mark.parametrize("route", list(MATRIX))
async def test_who_may_call_each_moderation_route(client, server_urls, route):
    sessions, blog = await world(client, server_urls[0])
    got = {}
    for caller in CALLERS:
        r = await call(client, route, sessions[caller], sessions["owner"], blog)
        got[caller] = r.status_code
        if r.status_code >= 400:
            assert set(r.json()["error"]) >= {"code", "message"}
    assert got == MATRIX[route]


# The web client's pages, asked for as a browser does: signed out (suspended, deleted,
# anonymous) is sent to sign in, as on every signed-in page.
TO_SIGN_IN = {"suspended": 303, "deleted": 303, "anonymous": 303}
PAGE_MATRIX = {
    "report_form": {"owner": 200, "other": 200, "moderator": 200, "admin": 200, **TO_SIGN_IN},
    "report": {"owner": 303, "other": 303, "moderator": 303, "admin": 303, **TO_SIGN_IN},
    "queue_page": {"owner": 403, "other": 403, "moderator": 200, "admin": 200, **TO_SIGN_IN},
    "act_form": {"owner": 403, "other": 403, "moderator": 303, "admin": 303, **TO_SIGN_IN},
    "audit_page": {"owner": 403, "other": 403, "moderator": 403, "admin": 200, **TO_SIGN_IN},
    "role_form": {"owner": 403, "other": 403, "moderator": 403, "admin": 303, **TO_SIGN_IN},
}


async def page_call(client, route: str, session: dict | None, owner: dict, blog: dict):
    client.cookies.clear()
    if session is not None:
        client.cookies.set("jwt", session["jwt"])
    client.headers["Accept"] = "text/html"  # as a browser asks: errors come as pages
    origin = {"Origin": TEST_ORIGIN}
    blog_form = {"kind": "blog", "id": str(blog["id"]), "reason": "spam"}
    match route:
        case "report_form":
            return await client.get(f"/report?kind=blog&id={blog['id']}")
        case "report":
            return await client.post("/report", headers=origin, data=blog_form)
        case "queue_page":
            return await client.get("/moderation")
        case "act_form":
            return await client.post("/moderation/actions", headers=origin,
                                     data={"action": "hide_blog", **blog_form})
        case "audit_page":
            return await client.get("/moderation/audit")
        case _:
            return await client.post(f"/people/{owner['user']['id']}/role", headers=origin,
                                     data={"role": "user", "reason": "x"})


@pytest.mark.parametrize("route", list(PAGE_MATRIX))
async def test_who_may_use_each_moderation_page(client, server_urls, route):
    sessions, blog = await world(client, server_urls[0])
    got = {}
    for caller in CALLERS:
        r = await page_call(client, route, sessions[caller], sessions["owner"], blog)
        got[caller] = r.status_code
        if caller in TO_SIGN_IN:
            assert r.headers["location"].startswith("/signin")
    assert got == PAGE_MATRIX[route]


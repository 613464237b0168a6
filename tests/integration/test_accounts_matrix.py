"""The authorization matrix of the two-factor and export routes: what the owner of the
thing acted on, another user, a moderator, an admin, a suspended account, a deleted account
and an anonymous caller each get. A role gives no power over anyone else's account here.

Every one of these routes acts on the caller's own account, named by the token, never by
a client-supplied id: another user reaches only their own state, and an export or a
challenge of someone else is as unknown as a made-up one."""

from __future__ import annotations

import pytest

from nirvana.domain.moderation.entities import Role
from tests.support.http import PASSWORD, bearer, sign_up
from tests.support.moderation import act, signed_up_with_role
from tests.support.two_factor import code_of, turn_on

CALLERS = ("owner", "other", "moderator", "admin", "suspended", "deleted", "anonymous")
SIGNED_OUT = {"suspended": 401, "deleted": 401, "anonymous": 401}
# Moderators and admins, with neither two-factor sign-in nor an export, are any other user.
ROLES_AS_OTHER = ("moderator", "admin")

# The owner has two-factor sign-in on and a ready export; the other user has neither.
MATRIX = {
    "two_factor_status": {"owner": 200, "other": 200, **SIGNED_OUT},
    "two_factor_setup": {"owner": 409, "other": 201, **SIGNED_OUT},
    "two_factor_confirm": {"owner": 409, "other": 409, **SIGNED_OUT},
    "two_factor_disable": {"owner": 204, "other": 409, **SIGNED_OUT},
    "recovery_codes": {"owner": 200, "other": 409, **SIGNED_OUT},
    # The caller's challenge: the owner's own; the other (and the roles) forge one for the
    # owner's id; the suspended and the deleted account's were made before the suspension or
    # the deletion; anonymous sends none that is valid.
    "sign_in_code": {"owner": 200, "other": 401, "suspended": 403, "deleted": 401,
                     "anonymous": 401},
    "export_request": {"owner": 202, "other": 202, **SIGNED_OUT},
    "export_list": {"owner": 200, "other": 200, **SIGNED_OUT},
    "export_download": {"owner": 200, "other": 404, **SIGNED_OUT},
}
for _row in MATRIX.values():
    _row.update({role: _row["other"] for role in ROLES_AS_OTHER})


async def world(client, services, database_url) -> dict:
    owner, other, deleted = await sign_up(client), await sign_up(client), await sign_up(client)
    roles = {"moderator": await signed_up_with_role(client, database_url, Role.MODERATOR),
             "admin": await signed_up_with_role(client, database_url, Role.ADMIN)}
    suspended = await sign_up(client)
    secrets = {"owner": (await turn_on(client, owner))[0],
               "deleted": (await turn_on(client, deleted))[0],
               "suspended": (await turn_on(client, suspended))[0]}
    challenges = {}
    for name, session in (("owner", owner), ("deleted", deleted), ("suspended", suspended)):
        r = await client.post("/api/v1/user/signin", json={
            "email": session["user"]["email"], "password": PASSWORD})
        challenges[name] = r.json()["challenge"]
    _, *rest = challenges["owner"].split(".")
    for name, session in (("other", other), *roles.items()):
        challenges[name] = ".".join([str(session["user"]["id"]), *rest])
    challenges["anonymous"] = "1.2.3.4"
    exports = {}
    for name, session in (("owner", owner), ("deleted", deleted)):
        await client.post("/api/v1/user/exports", headers=bearer(session))
        await services.exports.build_next()
        [exports[name]] = (await client.get("/api/v1/user/exports",
                                            headers=bearer(session))).json()["exports"]
    r = await client.request("DELETE", "/api/v1/user/me", headers=bearer(deleted), json={
        "password": PASSWORD, "code": code_of(secrets["deleted"], 1)})
    assert r.status_code == 204, r.text
    r = await act(client, roles["admin"], "suspend",
                  {"kind": "user", "id": suspended["user"]["id"]})
    assert r.status_code == 201, r.text
    return {"sessions": {"owner": owner, "other": other, **roles, "suspended": suspended,
                         "deleted": deleted, "anonymous": None},
            "secrets": secrets, "challenges": challenges, "export": exports["owner"]}


async def call(client, route: str, caller: str, w: dict):
    session = w["sessions"][caller]
    headers = bearer(session) if session else {}
    # Codes a step ahead, so that one the setup used is not taken for a replay.
    code = code_of(w["secrets"].get(caller, w["secrets"]["owner"]), 1)
    match route:
        case "two_factor_status":
            return await client.get("/api/v1/user/two-factor", headers=headers)
        case "two_factor_setup":
            return await client.post("/api/v1/user/two-factor/setup", headers=headers,
                                     json={"password": PASSWORD})
        case "two_factor_confirm":
            return await client.post("/api/v1/user/two-factor/confirm", headers=headers,
                                     json={"code": code})
        case "two_factor_disable":
            return await client.post("/api/v1/user/two-factor/disable", headers=headers,
                                      json={"password": PASSWORD, "code": code})
        case "recovery_codes":
            return await client.post("/api/v1/user/two-factor/recovery-codes",
                                     headers=headers, json={"password": PASSWORD, "code": code})
        case "sign_in_code":
            return await client.post("/api/v1/user/signin/two-factor", json={
                "challenge": w["challenges"][caller], "code": code})
        case "export_request":
            return await client.post("/api/v1/user/exports", headers=headers)
        case "export_list":
            return await client.get("/api/v1/user/exports", headers=headers)
        case _:
            return await client.get(w["export"]["download_url"], headers=headers)


@pytest.mark.parametrize("route", list(MATRIX))
async def test_who_may_call_each_two_factor_and_export_route(client, services, server_urls,
                                                            route):
    w = await world(client, services, server_urls[0])
    got = {}
    for caller in CALLERS:
        r = await call(client, route, caller, w)
        got[caller] = r.status_code
        if r.status_code >= 400:
            assert set(r.json()["error"]) >= {"code", "message"}
    assert got == MATRIX[route]


PAGES = [("GET", "/settings/security"), ("POST", "/settings/security/setup"),
         ("POST", "/settings/security/confirm"), ("POST", "/settings/security/disable"),
         ("POST", "/settings/security/recovery-codes"), ("GET", "/settings/export"),
         ("POST", "/settings/export")]


@pytest.mark.parametrize("method,path", PAGES)
async def test_the_security_and_data_pages_send_a_signed_out_reader_to_sign_in(
        client, method, path):
    r = await client.request(method, path, headers={
        "Accept": "text/html", "Origin": "http://testserver",
        "Referer": f"http://testserver{path}"})
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=")

"""Helpers for the moderation tests: roles given the way an operator gives them."""

from __future__ import annotations

import httpx

from nirvana.admin import set_role
from nirvana.domain.moderation.entities import Role
from tests.support.http import PASSWORD, bearer, sign_up


async def signed_up_with_role(client: httpx.AsyncClient, database_url: str,
                              role: Role) -> dict:
    """A new account with `role`, given by the command line's code path (the audit log gets
    a command-line entry), then signed in again as the README tells the operator to (the
    server's user cache, and so the header's Moderation link, learn the role at sign-in);
    that session, shaped as sign_up's."""
    session = await sign_up(client)
    if role is Role.USER:
        return session
    await set_role(database_url, session["user"]["email"], role)
    r = await client.post("/api/v1/user/signin", json={"email": session["user"]["email"],
                                                       "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return r.json()


async def publish(client: httpx.AsyncClient, session: dict, title: str = "A blog",
                  **extra) -> dict:
    r = await client.post("/api/v1/blog", headers=bearer(session),
                          json={"title": title, "body": "words", **extra})
    assert r.status_code == 201, r.text
    return r.json()


async def act(client: httpx.AsyncClient, session: dict, action: str, target: dict | None,
              reason: str = "breaks the rules", **extra) -> httpx.Response:
    body = {"action": action, "reason": reason, **extra}
    if target is not None:
        body["target"] = target
    return await client.post("/api/v1/moderation/actions", headers=bearer(session), json=body)

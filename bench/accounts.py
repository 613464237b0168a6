"""Bench users on Nirvana's account API: sign one up, or in when an earlier repetition left
it there, and keep its token. One home for every measurement that needs a signed-in user."""

from __future__ import annotations

import json

from .probe import request

PASSWORD = "correct horse battery staple"


async def session(url: str, email: str, source: str | None = None,
                  name: str = "Bench User") -> tuple[int, str, str]:
    """(user id, access token, refresh token) of a new account, or of the same one from an
    earlier repetition."""
    body = json.dumps({"email": email, "password": PASSWORD, "name": name}).encode()
    status, answer = await request(url, "POST", "/api/v1/user/signup", body,
                                   {"Content-Type": "application/json"}, source=source)
    if status == 409:  # already there from an earlier repetition: sign in instead
        status, answer = await request(
            url, "POST", "/api/v1/user/signin",
            json.dumps({"email": email, "password": PASSWORD}).encode(),
            {"Content-Type": "application/json"}, source=source)
    if status not in (200, 201):
        raise RuntimeError(f"sign-up of {email} answered {status}: {answer[:200]!r}")
    answered = json.loads(answer)
    return answered["user"]["id"], answered["jwt"], answered["refresh_token"]


async def sign_up(url: str, email: str, source: str | None = None) -> str:
    """The access token of `session`'s user."""
    return (await session(url, email, source))[1]

"""Two-factor helpers for the HTTP and browser tests: codes are computed with pyotp, as an
authenticator app would."""

from __future__ import annotations

import time

import pyotp

from tests.support.http import PASSWORD, bearer


def code_of(secret: str, steps_ahead: int = 0) -> str:
    """The code of the current 30-second step (or of a later one, to use a second code
    without waiting: the server accepts one step either side of its own)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


async def turn_on(client, session: dict) -> tuple[str, list[str]]:
    """Set up and confirm two-factor sign-in; the secret and the recovery codes."""
    r = await client.post("/api/v1/user/two-factor/setup", headers=bearer(session),
                          json={"password": PASSWORD})
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    r = await client.post("/api/v1/user/two-factor/confirm", headers=bearer(session),
                          json={"code": code_of(secret)})
    assert r.status_code == 200, r.text
    return secret, r.json()["recovery_codes"]

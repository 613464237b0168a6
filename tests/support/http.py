"""Small helpers shared by the HTTP tests."""

from __future__ import annotations

import itertools

import httpx

_counter = itertools.count(1)
PASSWORD = "correct horse battery"


async def sign_up(client: httpx.AsyncClient, name: str | None = None, **extra) -> dict:
    n = next(_counter)
    body = {
        "email": extra.pop("email", f"user{n}@example.com"),
        "password": extra.pop("password", PASSWORD),
        "name": name or f"User {n}",
        **extra,
    }
    r = await client.post("/api/v1/user/signup", json=body)
    assert r.status_code == 201, r.text
    data = r.json()
    client.cookies.clear()  # tests authenticate explicitly, not through a leftover cookie
    return data


def bearer(session: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['jwt']}"}


def mails(outbox) -> list[tuple[str, str]]:
    """(to, plain-text body) of every mail in an outbox directory, oldest first."""
    from email import message_from_bytes
    from email.policy import default as default_policy

    found = []
    for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        message = message_from_bytes(path.read_bytes(), policy=default_policy)
        found.append((message["To"], message.get_body(("plain",)).get_content()))
    return found


async def mails_when(outbox, count: int, seconds: float = 10.0) -> list[tuple[str, str]]:
    """`mails(outbox)` once it holds `count` mails: mail goes through the outbox table and
    the sender task (docs/mail.md), so it lands a moment after the request answered."""
    import asyncio

    for _ in range(int(seconds / 0.02)):
        found = mails(outbox)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} mails in {outbox}")


def verify_token_in(body: str) -> str:
    import re

    found = re.search(r"verify-email\?token=(\S+)", body)
    assert found, body
    return found.group(1)


def as_user(client: httpx.AsyncClient, session: dict | None) -> None:
    """Pages read the access cookie: make `client` that user (None: signed out)."""
    client.cookies.clear()
    if session is not None:
        client.cookies.set("jwt", session["jwt"])

"""The users and relations most tests start from, written straight to PostgreSQL where the
test is about something else than how a friendship begins."""

from __future__ import annotations

import httpx

from tests.support.http import sign_up


async def befriend(services, a: int, b: int) -> None:
    await services.pool.execute(
        "INSERT INTO friendships (user_id, friend_id) VALUES ($1, $2), ($2, $1)", a, b)


async def block(services, blocker: int, blocked: int) -> None:
    await services.pool.execute(
        "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)", blocker, blocked)


async def user(http: httpx.AsyncClient) -> dict:
    """A new user as the chat client needs it: id and access token."""
    session = await sign_up(http)
    return {"id": session["user"]["id"], "jwt": session["jwt"]}


async def friends(client: httpx.AsyncClient, services) -> tuple[int, int]:
    """Two new users who are friends."""
    a, b = (await sign_up(client))["user"]["id"], (await sign_up(client))["user"]["id"]
    await befriend(services, a, b)
    return a, b


async def a_with_two_friends(client: httpx.AsyncClient, services) -> tuple[int, int, int]:
    """Users a, b, c; a is friends with both (c's own other friend is unused)."""
    a, b = await friends(client, services)
    c, _ = await friends(client, services)
    await befriend(services, a, c)
    return a, b, c


async def two_chats(client, services):
    """a's direct conversations with b and with d: (a, b, with b, with d)."""
    a, b = await friends(client, services)
    d = (await sign_up(client))["user"]["id"]
    await befriend(services, a, d)
    return a, b, await services.chat.open_direct(a, b), await services.chat.open_direct(a, d)

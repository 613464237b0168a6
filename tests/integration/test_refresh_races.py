"""A refresh racing the end of its session, on the real PostgreSQL: whichever comes second
sees the other, so no live refresh token is left in an ended session."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from nirvana.domain.accounts.policy import AccountPolicy
from nirvana.domain.accounts.ports import RefreshRecord
from nirvana.domain.accounts.sessions import Sessions, hash_token
from nirvana.domain.errors import AuthenticationError
from nirvana.security import JwtAccessTokens, SystemClock
from nirvana.storage.postgres.accounts import PgRefreshTokenStore, PgUserRepository
from nirvana.storage.postgres.sessions import PgSessionStore
from tests.support.http import PASSWORD, bearer, sign_up
from tests.support.pg_races import behind_uncommitted

pytestmark = pytest.mark.anyio
WAIT = 10.0


class HeldAfterClaim(PgRefreshTokenStore):
    """The real store, with a refresh held between its claim and the storing of its next
    token: the window a concurrent revocation must not slip through."""

    def __init__(self, pool) -> None:
        super().__init__(pool)
        self.claimed = asyncio.Event()
        self.release = asyncio.Event()

    async def claim(self, token_hash: bytes, now: datetime) -> RefreshRecord | None:
        record = await super().claim(token_hash, now)
        self.claimed.set()
        await self.release.wait()
        return record


def sessions_over(pool, refresh: PgRefreshTokenStore) -> Sessions:
    """Another instance's sessions on the same database (the app's secret: its tokens are
    accepted by the app)."""
    clock = SystemClock()
    return Sessions(users=PgUserRepository(pool), refresh_tokens=refresh,
                    sessions=PgSessionStore(pool), clock=clock, policy=AccountPolicy(),
                    tokens=JwtAccessTokens("t" * 48, clock, ttl=timedelta(minutes=15)))


async def open_tokens(pool, family: str) -> int:
    return await pool.fetchval("SELECT count(*) FROM refresh_tokens WHERE family_id = $1 "
                               "AND revoked_at IS NULL", uuid.UUID(family))


async def signed_in_twice(client) -> tuple[dict, dict]:
    owner = await sign_up(client)
    r = await client.post("/api/v1/user/signin", json={
        "email": owner["user"]["email"], "password": PASSWORD})
    client.cookies.clear()
    return owner, r.json()


async def password_changed(client, owner: dict, other: dict) -> dict:
    r = await client.post("/api/v1/user/password", headers=bearer(owner), json={
        "current_password": PASSWORD, "new_password": "a new password"})
    assert r.status_code == 200, r.text
    return r.json()


async def logged_out(client, owner: dict, other: dict) -> dict:
    # The other device signs out (its access token names the session) while refreshing.
    r = await client.post("/api/v1/user/logout", headers=bearer(other), json={})
    assert r.status_code == 204, r.text
    client.cookies.clear()
    return owner


@pytest.mark.parametrize("end", [password_changed, logged_out])
async def test_a_refresh_held_after_its_claim_while_its_session_ends_gets_nothing(
        client, stores, end):
    pool, _ = stores
    owner, other = await signed_in_twice(client)
    family = next(s["id"] for s in (await client.get(
        "/api/v1/user/sessions", headers=bearer(owner))).json()["sessions"] if not s["current"])
    held = HeldAfterClaim(pool)
    refreshing = asyncio.create_task(sessions_over(pool, held).refresh(other["refresh_token"]))
    await asyncio.wait_for(held.claimed.wait(), WAIT)
    survivor = await end(client, owner, other)
    held.release.set()
    with pytest.raises(AuthenticationError) as refused:
        await asyncio.wait_for(refreshing, WAIT)
    assert refused.value.code == "invalid_refresh_token"
    assert await open_tokens(pool, family) == 0
    listed = (await client.get("/api/v1/user/sessions", headers=bearer(survivor))).json()
    assert family not in {s["id"] for s in listed["sessions"]}


async def one_session(client) -> tuple[int, str]:
    """A new user's id and the id of their one session."""
    owner = await sign_up(client)
    listed = (await client.get("/api/v1/user/sessions", headers=bearer(owner))).json()
    return owner["user"]["id"], listed["sessions"][0]["id"]


async def test_a_revocation_waits_for_a_rotation_under_way_and_revokes_its_token(
        client, stores):
    pool, _ = stores
    uid, family = await one_session(client)
    later = datetime.now(timezone.utc) + timedelta(days=1)
    rotation = [  # a rotation's own statements
        ("UPDATE sessions SET last_used_at = now() WHERE id = $1", uuid.UUID(family)),
        ("INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) "
         "VALUES ($1, $2, $3, $4)", hash_token("next"), uuid.UUID(family), uid, later)]
    revoked = await behind_uncommitted(pool, rotation, PgRefreshTokenStore(pool).revoke_user(
        uid, datetime.now(timezone.utc)))
    assert revoked == {family}
    assert await open_tokens(pool, family) == 0


async def test_a_rotation_after_an_uncommitted_revocation_stores_nothing(client, stores):
    pool, _ = stores
    uid, family = await one_session(client)
    now = datetime.now(timezone.utc)
    revocation = [  # a revocation's own statements
        ("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", uuid.UUID(family)),
        ("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1",
         uuid.UUID(family), now)]
    rotated = await behind_uncommitted(pool, revocation, PgSessionStore(pool).rotate(
        family, uid, hash_token("next"), now + timedelta(days=1), now))
    assert rotated is False
    assert await open_tokens(pool, family) == 0

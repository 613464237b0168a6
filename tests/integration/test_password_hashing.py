"""Password hashing as deployed: this module's services use the app's own argon2id hasher
(the other tests' hash at argon2's cheapest parameters, tests/conftest.py)."""

from __future__ import annotations

import time

import pytest

from nirvana.security import Argon2Hasher
from tests.support.http import PASSWORD, sign_up
from tests.support.password_hashes import assert_at_least_the_minimum


@pytest.fixture
def password_hasher() -> None:
    return None  # the app's own


async def stored_hash(services, user_id: int) -> str:
    return await services.pool.fetchval(
        "SELECT password_hash FROM credentials WHERE user_id = $1", user_id)


async def test_a_sign_up_stores_an_argon2id_hash_at_the_minimum_parameters_or_above(
        client, services):
    user = await sign_up(client)
    assert_at_least_the_minimum(await stored_hash(services, user["user"]["id"]))


async def test_a_hash_made_with_weaker_parameters_is_replaced_at_sign_in(client, services):
    user = await sign_up(client, email="weak@example.com")
    uid = user["user"]["id"]
    # As stored before the parameters were raised.
    weak = await Argon2Hasher(time_cost=1, memory_cost=8, concurrency=1).hash(PASSWORD)
    await services.pool.execute(
        "UPDATE credentials SET password_hash = $1 WHERE user_id = $2", weak, uid)
    r = await client.post("/api/v1/user/signin",
                          json={"email": "weak@example.com", "password": PASSWORD})
    assert r.status_code == 200, r.text
    stored = await stored_hash(services, uid)
    assert stored != weak
    assert_at_least_the_minimum(stored)
    r = await client.post("/api/v1/user/signin",
                          json={"email": "weak@example.com", "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert await stored_hash(services, uid) == stored  # rehashed once, not at every sign-in


async def test_unknown_email_costs_about_as_much_as_a_wrong_password(client):
    await sign_up(client, email="dora@example.com")

    async def cpu(email: str) -> float:
        # CPU time of this process (argon2 runs in a thread of it), not wall-clock time: what
        # other processes do to the machine does not change it.
        start = time.process_time()
        r = await client.post("/api/v1/user/signin", json={"email": email, "password": "x" * 12})
        assert r.status_code == 401
        return time.process_time() - start

    await cpu("warmup@example.com")
    known = min([await cpu("dora@example.com") for _ in range(3)])
    unknown = min([await cpu("ghost@example.com") for _ in range(3)])
    # Both run one argon2 verification (counted in tests/unit/test_accounts.py); this checks
    # the dummy hash costs what a real one does. Without it "unknown" would be ~100x cheaper.
    assert unknown > known * 0.5

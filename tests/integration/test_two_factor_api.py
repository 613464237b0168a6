"""Two-factor sign-in over HTTP, against the real PostgreSQL: set up, confirm, sign in with
a code or a recovery code, replays refused, disable, and deletion asking for the code."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

from tests.support.http import PASSWORD, bearer, sign_up
from tests.support.two_factor import code_of, turn_on


async def password_step(client, session: dict) -> dict:
    r = await client.post("/api/v1/user/signin", json={
        "email": session["user"]["email"], "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()


async def code_step(client, challenge: str, code: str):
    r = await client.post("/api/v1/user/signin/two-factor",
                          json={"challenge": challenge, "code": code})
    return r


async def test_setup_gives_a_secret_and_it_is_off_until_a_code_confirms_it(client):
    ann = await sign_up(client)
    r = await client.post("/api/v1/user/two-factor/setup", headers=bearer(ann),
                          json={"password": PASSWORD})
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    setup = r.json()
    uri = urlsplit(setup["otpauth_uri"])
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert parse_qs(uri.query)["secret"] == [setup["secret"]]
    assert parse_qs(uri.query)["issuer"] == ["Nirvana"]
    status = (await client.get("/api/v1/user/two-factor", headers=bearer(ann))).json()
    assert status["enabled"] is False and status["pending"] is True
    # Not on yet: the password alone still signs in.
    assert "jwt" in await password_step(client, ann)
    r = await client.post("/api/v1/user/two-factor/confirm", headers=bearer(ann),
                          json={"code": "000000" if code_of(setup["secret"]) != "000000"
                                else "111111"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "code"
    r = await client.post("/api/v1/user/two-factor/confirm", headers=bearer(ann),
                          json={"code": code_of(setup["secret"])})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    codes = r.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    status = (await client.get("/api/v1/user/two-factor", headers=bearer(ann))).json()
    assert status["enabled"] is True and status["recovery_codes_left"] == 10


async def test_setup_needs_the_password(client):
    ann = await sign_up(client)
    r = await client.post("/api/v1/user/two-factor/setup", headers=bearer(ann),
                          json={"password": "not my password"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_password"


async def test_sign_in_asks_for_the_code_only_after_the_right_password(client):
    ann = await sign_up(client)
    secret, _ = await turn_on(client, ann)
    r = await client.post("/api/v1/user/signin", json={
        "email": ann["user"]["email"], "password": "wrong password"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"
    answer = await password_step(client, ann)
    assert answer["two_factor_required"] is True and "jwt" not in answer
    assert "jwt" not in client.cookies and "refresh_token" not in client.cookies
    # The challenge is no session.
    r = await client.get("/api/v1/user/me",
                         headers={"Authorization": f"Bearer {answer['challenge']}"})
    assert r.status_code == 401
    r = await code_step(client, answer["challenge"], code_of(secret, 1))
    assert r.status_code == 200, r.text
    session = r.json()
    assert (await client.get("/api/v1/user/me", headers=bearer(session))).status_code == 200


async def test_a_used_code_is_refused_the_second_time(client):
    ann = await sign_up(client)
    secret, _ = await turn_on(client, ann)
    first = await password_step(client, ann)
    code = code_of(secret, 1)
    assert (await code_step(client, first["challenge"], code)).status_code == 200
    second = await password_step(client, ann)
    r = await code_step(client, second["challenge"], code)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_code"


async def test_a_recovery_code_signs_in_once(client):
    ann = await sign_up(client)
    _, codes = await turn_on(client, ann)
    first = await password_step(client, ann)
    # Typed in capitals without its dashes: still the code.
    r = await code_step(client, first["challenge"], codes[3].replace("-", "").upper())
    assert r.status_code == 200, r.text
    second = await password_step(client, ann)
    r = await code_step(client, second["challenge"], codes[3])
    assert r.status_code == 401
    session = (await code_step(client, second["challenge"], codes[4])).json()
    status = (await client.get("/api/v1/user/two-factor", headers=bearer(session))).json()
    assert status["recovery_codes_left"] == 8


async def test_a_forged_or_expired_challenge_is_refused(client, services):
    ann = await sign_up(client)
    secret, _ = await turn_on(client, ann)
    answer = await password_step(client, ann)
    user_id, expires, nonce, fingerprint, mac = answer["challenge"].split(".")
    forged = f"{int(user_id) + 1}.{expires}.{nonce}.{fingerprint}.{mac}"
    stale = f"{user_id}.{int(expires) - 3600}.{nonce}.{fingerprint}.{mac}"
    other_password = f"{user_id}.{expires}.{nonce}.{'0' * len(fingerprint)}.{mac}"
    for challenge in (forged, stale, other_password):
        r = await code_step(client, challenge, code_of(secret, 1))
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_challenge"


async def test_wrong_codes_are_rate_limited_like_sign_in(client):
    ann = await sign_up(client)
    secret, _ = await turn_on(client, ann)
    answer = await password_step(client, ann)
    right = code_of(secret, 1)
    wrong = next(c for c in ("123456", "654321", "111111") if c != right)
    statuses = [(await code_step(client, answer["challenge"], wrong)).status_code
                for _ in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    # Even the right code waits now: guessing stops here.
    assert (await code_step(client, answer["challenge"], right)).status_code == 429


async def test_disable_needs_password_and_code(client):
    ann = await sign_up(client)
    secret, codes = await turn_on(client, ann)
    url = "/api/v1/user/two-factor/disable"
    r = await client.post(url, headers=bearer(ann), json={"password": "nope nope nope",
                                                         "code": code_of(secret, 1)})
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_password"
    r = await client.post(url, headers=bearer(ann), json={"password": PASSWORD,
                                                         "code": "000000"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_code"
    r = await client.post(url, headers=bearer(ann), json={"password": PASSWORD,
                                                         "code": codes[0]})
    assert r.status_code == 204
    assert "jwt" in await password_step(client, ann)
    r = await client.post(url, headers=bearer(ann), json={"password": PASSWORD,
                                                         "code": codes[1]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "two_factor_off"


async def test_new_recovery_codes_replace_the_old_ones(client):
    ann = await sign_up(client)
    secret, old = await turn_on(client, ann)
    r = await client.post("/api/v1/user/two-factor/recovery-codes", headers=bearer(ann),
                          json={"password": PASSWORD, "code": code_of(secret, 1)})
    assert r.status_code == 200
    new = r.json()["recovery_codes"]
    assert not set(new) & set(old)
    answer = await password_step(client, ann)
    assert (await code_step(client, answer["challenge"], old[0])).status_code == 401
    assert (await code_step(client, answer["challenge"], new[0])).status_code == 200


async def test_deleting_the_account_asks_for_the_code_when_it_is_on(client):
    ann = await sign_up(client)
    secret, _ = await turn_on(client, ann)
    r = await client.request("DELETE", "/api/v1/user/me", headers=bearer(ann),
                             json={"password": PASSWORD})
    assert r.status_code == 403 and r.json()["error"]["code"] == "two_factor_required"
    r = await client.request("DELETE", "/api/v1/user/me", headers=bearer(ann),
                             json={"password": PASSWORD, "code": "000000"
                                   if code_of(secret, 1) != "000000" else "111111"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_code"
    assert (await client.get("/api/v1/user/me", headers=bearer(ann))).status_code == 200
    r = await client.request("DELETE", "/api/v1/user/me", headers=bearer(ann),
                             json={"password": PASSWORD, "code": code_of(secret, 1)})
    assert r.status_code == 204
    assert (await client.get("/api/v1/user/me", headers=bearer(ann))).status_code == 401


async def test_a_challenge_signs_in_once(client):
    ann = await sign_up(client)
    secret, codes = await turn_on(client, ann)
    answer = await password_step(client, ann)
    assert (await code_step(client, answer["challenge"], code_of(secret, 1))).status_code == 200
    # Refused before the code is looked at: the recovery code sent with it is not spent.
    r = await code_step(client, answer["challenge"], codes[0])
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_challenge"
    session = (await code_step(client, (await password_step(client, ann))["challenge"],
                               codes[0])).json()
    status = (await client.get("/api/v1/user/two-factor", headers=bearer(session))).json()
    assert status["recovery_codes_left"] == 9


async def test_a_wrong_code_leaves_the_challenge_usable_until_a_right_one(client):
    ann = await sign_up(client)
    secret, codes = await turn_on(client, ann)
    answer = await password_step(client, ann)
    right = code_of(secret, 1)
    wrong = next(c for c in ("123456", "654321") if c != right)
    r = await code_step(client, answer["challenge"], wrong)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_code"
    assert (await code_step(client, answer["challenge"], right)).status_code == 200
    r = await code_step(client, answer["challenge"], codes[0])
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_challenge"


async def test_two_completions_of_one_challenge_at_once_start_one_session(client):
    ann = await sign_up(client)
    secret, codes = await turn_on(client, ann)
    answer = await password_step(client, ann)
    # Two different right codes, so that the codes' own once-only check refuses neither.
    first, second = await asyncio.gather(code_step(client, answer["challenge"], codes[0]),
                                         code_step(client, answer["challenge"], codes[1]))
    assert sorted([first.status_code, second.status_code]) == [200, 401]
    refused = first if first.status_code == 401 else second
    assert refused.json()["error"]["code"] == "invalid_challenge"
    session = (first if first.status_code == 200 else second).json()
    r = await client.get("/api/v1/user/sessions", headers=bearer(session))
    assert r.status_code == 200, r.text
    assert len(r.json()["sessions"]) == 2  # sign-up's and this one


async def test_purge_forgets_the_used_challenges_long_expired(client, services):
    ann = await sign_up(client)
    secret, codes = await turn_on(client, ann)
    for code in (code_of(secret, 1), codes[0]):
        answer = await password_step(client, ann)
        assert (await code_step(client, answer["challenge"], code)).status_code == 200
    await services.pool.execute(
        "UPDATE used_sign_in_challenges SET expires_at = now() - interval '2 days' "
        "WHERE nonce = (SELECT min(nonce) FROM used_sign_in_challenges)")
    assert await services.accounts.purge_expired() == 1
    assert await services.pool.fetchval("SELECT count(*) FROM used_sign_in_challenges") == 1

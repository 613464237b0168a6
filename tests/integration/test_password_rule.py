"""One rule for a new password, whichever door it comes through: the API and the web forms
both refuse a control character (tab and line breaks too) with `invalid_character` naming the
field, when signing up, changing and resetting. A password set before the rule (straight in
the store, as an older release allowed) still signs in and confirms, through both."""

from __future__ import annotations

import pytest

from nirvana.security import Argon2Hasher
from tests.support.http import PASSWORD, as_user, bearer, sign_up
from tests.support.servers import TEST_ORIGIN

FORM = {"Origin": TEST_ORIGIN}
REFUSED = ["correct\thorse battery", "correct horse\nbattery", "correct horse battery\r",
           "correct\x00horse battery"]
REFUSAL = "must not contain control characters"


def assert_invalid_character(r, field: str) -> None:
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert [(d["field"], d["code"]) for d in details] == [(field, "invalid_character")], details


async def users(services) -> int:
    return await services.pool.fetchval("SELECT count(*) FROM users")


async def signs_in(client, email: str, password: str) -> bool:
    r = await client.post("/api/v1/user/signin", json={"email": email, "password": password})
    client.cookies.clear()
    return r.status_code == 200


@pytest.mark.parametrize("password", REFUSED)
async def test_sign_up_refuses_it_through_the_api_and_the_form(client, services, password):
    body = {"email": "ann@example.com", "password": password, "name": "Ann"}
    assert_invalid_character(await client.post("/api/v1/user/signup", json=body), "password")
    r = await client.post("/signup", data=body, headers=FORM)
    assert r.status_code == 422, r.text
    assert REFUSAL in r.text
    assert await users(services) == 0


@pytest.mark.parametrize("password", REFUSED)
async def test_changing_to_it_is_refused_through_the_api_and_the_form(client, password):
    ann = await sign_up(client, email="ann@example.com")
    r = await client.post("/api/v1/user/password", headers=bearer(ann),
                          json={"current_password": PASSWORD, "new_password": password})
    assert_invalid_character(r, "new_password")
    as_user(client, ann)
    r = await client.post("/settings/password", headers=FORM, data={
        "current_password": PASSWORD, "new_password": password, "confirm_password": password})
    assert r.status_code == 422, r.text
    assert REFUSAL in r.text
    as_user(client, None)
    assert await signs_in(client, "ann@example.com", PASSWORD)


@pytest.mark.parametrize("password", REFUSED)
async def test_resetting_to_it_is_refused_through_the_api_and_the_form(client, password):
    # Judged before the token is: the answer names the password, not the (made up) token.
    r = await client.post("/api/v1/user/password/reset",
                          json={"token": "not-a-token", "new_password": password})
    assert_invalid_character(r, "new_password")
    r = await client.post("/reset-password", headers=FORM, data={
        "token": "not-a-token", "new_password": password, "confirm_password": password})
    assert r.status_code == 422, r.text
    assert REFUSAL in r.text and "reset link is invalid" not in r.text


async def test_a_password_set_before_the_rule_still_signs_in_and_confirms(client, services):
    ann = await sign_up(client, email="ann@example.com")
    old = "set\tbefore the rule\n"
    await services.pool.execute("UPDATE credentials SET password_hash = $1 WHERE user_id = $2",
                                await Argon2Hasher().hash(old), ann["user"]["id"])
    assert await signs_in(client, "ann@example.com", old)
    r = await client.post("/signin", headers=FORM,
                          data={"email": "ann@example.com", "password": old})
    assert r.status_code == 303, r.text
    as_user(client, None)
    # Confirming with it: changing the password away from it, by the API then the form.
    r = await client.post("/api/v1/user/password", headers=bearer(ann),
                          json={"current_password": old, "new_password": "new password 1"})
    assert r.status_code == 200, r.text
    await services.pool.execute("UPDATE credentials SET password_hash = $1 WHERE user_id = $2",
                                await Argon2Hasher().hash(old), ann["user"]["id"])
    as_user(client, r.json())
    r = await client.post("/settings/password", headers=FORM, data={
        "current_password": old, "new_password": "new password 2",
        "confirm_password": "new password 2"})
    assert r.status_code == 303, r.text
    as_user(client, None)
    assert await signs_in(client, "ann@example.com", "new password 2")

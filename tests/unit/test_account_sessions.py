"""The list of a user's sessions: what it shows, and ending one or all the others."""

from __future__ import annotations

import pytest

from nirvana.domain.accounts.devices import coarse_ip, describe_device
from nirvana.domain.errors import AuthenticationError, NotFoundError
from tests.support.accounts_world import accounts_world

PW = "password one"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")


@pytest.fixture
def world():
    w = accounts_world()
    return w.accounts, w.clock


def test_device_names_and_coarse_addresses():
    assert describe_device(FIREFOX) == "Firefox on Linux"
    assert describe_device(IPHONE) == "Safari on iPhone"
    assert describe_device("") == "Unknown device"
    assert coarse_ip("203.0.113.77") == "203.0.113.0/24"
    assert coarse_ip("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert coarse_ip("not an address") == ""


async def test_each_sign_in_is_a_session_with_its_device_and_network(world):
    accounts, clock = world
    first = await accounts.sign_up("a@example.com", None, "Ann", PW, "203.0.113.7", FIREFOX)
    clock.advance(60)
    second = await accounts.sign_in("a@example.com", PW, "198.51.100.9", IPHONE)
    listed = await accounts.list_sessions(first.user.id)
    assert [(s.id, s.device, s.ip) for s in listed] == [
        (second.session_id, "Safari on iPhone", "198.51.100.0/24"),
        (first.session_id, "Firefox on Linux", "203.0.113.0/24"),
    ]


async def test_a_refresh_is_a_use_of_the_same_session(world):
    accounts, clock = world
    session = await accounts.sign_up("a@example.com", None, "Ann", PW, "203.0.113.7", FIREFOX)
    clock.advance(600)
    renewed = await accounts.refresh(session.refresh_token)
    [listed] = await accounts.list_sessions(session.user.id)
    assert listed.id == renewed.session_id == session.session_id
    assert listed.last_used_at == clock.now() and listed.created_at < listed.last_used_at


async def test_ending_a_session_refuses_its_tokens_and_drops_it_from_the_list(world):
    accounts, _ = world
    phone = await accounts.sign_up("a@example.com", None, "Ann", PW, "203.0.113.7", IPHONE)
    laptop = await accounts.sign_in("a@example.com", PW, "203.0.113.7", FIREFOX)
    await accounts.end_session(laptop.user.id, phone.session_id)
    with pytest.raises(AuthenticationError):
        accounts.authenticate(phone.access_token)
    with pytest.raises(AuthenticationError):
        await accounts.refresh(phone.refresh_token)
    assert [s.id for s in await accounts.list_sessions(laptop.user.id)] == [laptop.session_id]
    accounts.authenticate(laptop.access_token)


async def test_nobody_can_end_a_session_of_someone_else(world):
    accounts, _ = world
    ann = await accounts.sign_up("a@example.com", None, "Ann", PW)
    bob = await accounts.sign_up("b@example.com", None, "Bob", PW)
    with pytest.raises(NotFoundError):
        await accounts.end_session(bob.user.id, ann.session_id)
    accounts.authenticate(ann.access_token)


async def test_ending_all_others_keeps_only_the_current_one(world):
    accounts, _ = world
    sessions = [await accounts.sign_up("a@example.com", None, "Ann", PW)]
    sessions += [await accounts.sign_in("a@example.com", PW, "1.2.3.4") for _ in range(2)]
    current = sessions[1]
    assert await accounts.end_other_sessions(current.user.id, current.session_id) == 2
    assert [s.id for s in await accounts.list_sessions(current.user.id)] == [current.session_id]
    for other in (sessions[0], sessions[2]):
        with pytest.raises(AuthenticationError):
            accounts.authenticate(other.access_token)


async def test_logged_out_and_expired_sessions_are_not_listed(world):
    accounts, clock = world
    kept = await accounts.sign_up("a@example.com", None, "Ann", PW)
    gone = await accounts.sign_in("a@example.com", PW, "1.2.3.4")
    await accounts.log_out(accounts.authenticate(gone.access_token), None)
    assert [s.id for s in await accounts.list_sessions(kept.user.id)] == [kept.session_id]
    clock.advance(7 * 24 * 3600 + 1)
    assert await accounts.list_sessions(kept.user.id) == []

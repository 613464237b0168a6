"""Membership that changes while a member pages their conversation list (docs/protocol.md,
"Your conversation list, by page"): a group they are added to keeps its place, listed on a
later page exactly when that place is below their cursor; one they leave is not listed from
then on. Over the real stores."""

from __future__ import annotations

from nirvana.domain.chat.listing import position_of
from tests.support.http import sign_up
from tests.support.people import befriend


async def test_a_group_joined_keeps_its_place_and_one_left_is_not_listed(client, services):
    chat = services.chat
    a = (await sign_up(client))["user"]["id"]
    b = (await sign_up(client))["user"]["id"]
    await befriend(services, a, b)
    left = (await chat.create_group(b, "to leave", [a])).id
    joined = (await chat.create_group(b, "to join", [])).id
    mine = [(await chat.create_group(a, f"g{n}", [])).id for n in range(4)]
    first = await chat.conversations(a, limit=2)
    assert first.next is not None
    await chat.add_members(b, joined, [a])
    await chat.leave_group(a, left)
    rest, page = [], first
    while page.next is not None:
        page = await chat.conversations(a, page.next, limit=2)
        rest += page.items
    listed = [c.id for c in first.items + rest]
    assert len(listed) == len(set(listed)) and left not in listed
    now = next(c for c in (await chat.conversations(a)).items if c.id == joined)
    assert now.last_activity == now.created_at  # being added did not move it
    assert (joined in listed) == (position_of(now) < first.next)
    assert set(mine) <= set(listed)

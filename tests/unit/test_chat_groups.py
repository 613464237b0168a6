"""Group rules on in-memory fakes: roles, membership, ownership, caps, durable events."""

from __future__ import annotations

import pytest

from nirvana.domain.chat.errors import NotMemberError
from nirvana.domain.chat.limits import ChatLimits
from nirvana.domain.chat.entities import Role
from nirvana.domain.chat.errors import LastMemberError, NotAGroupError, NotAllowedError
from nirvana.domain.errors import InvalidInputError
from tests.support.chat_world import build


@pytest.fixture
def world():
    return build()


def roles(conversation) -> dict[int, str]:
    return {m.user_id: m.role.value for m in conversation.members}


async def test_owner_promotes_admin_who_adds_and_removes_members_only(world):
    chat, peers, changes, _ = world
    g = await chat.create_group(1, "Trip", [2, 3])
    await chat.set_role(1, g.id, 2, Role.ADMIN)
    peers.befriend(2, 4)
    g = await chat.add_members(2, g.id, [4])
    assert roles(g) == {1: "owner", 2: "admin", 3: "member", 4: "member"}
    g = await chat.remove_members(2, g.id, [4])
    assert 4 not in g.member_ids
    with pytest.raises(NotAllowedError):
        await chat.remove_members(2, g.id, [1])  # an admin cannot remove the owner
    with pytest.raises(NotAllowedError):
        await chat.set_role(2, g.id, 3, Role.ADMIN)  # promoting is the owner's
    with pytest.raises(NotAllowedError):
        await chat.add_members(3, g.id, [5])  # members cannot add
    assert [e.type.value for e in changes.events] == ["member.role", "member.added",
                                                      "member.removed"]


async def test_changes_are_idempotent_and_emit_one_event(world):
    chat, _, changes, _ = world
    g = await chat.create_group(1, "Trip", [2])
    for _ in range(2):
        await chat.add_members(1, g.id, [3])
        await chat.set_role(1, g.id, 3, Role.ADMIN)
        await chat.update_group(1, g.id, {"name": "Trip 2"})
        await chat.remove_members(1, g.id, [2])
    assert len(changes.events) == 4


async def test_removed_member_gets_the_event_then_cannot_read(world):
    chat, _, changes, pub = world
    g = await chat.create_group(1, "Trip", [2, 3])
    await chat.remove_members(1, g.id, [3])
    removed = changes.events[-1]
    assert removed.type.value == "member.removed" and 3 in removed.audience
    with pytest.raises(NotMemberError):
        await chat.history(3, g.id)
    with pytest.raises(NotMemberError):
        await chat.send_message(3, g.id, client_id="x", text="hi")


async def test_owner_leaving_passes_ownership_to_longest_standing_admin(world):
    chat, _, changes, _ = world
    g = await chat.create_group(1, "Trip", [2, 3, 4])
    await chat.set_role(1, g.id, 4, Role.ADMIN)
    await chat.leave_group(1, g.id)
    g = await chat.conversation_for(2, g.id)
    assert roles(g) == {2: "member", 3: "member", 4: "owner"}
    assert [e.type.value for e in changes.events[-2:]] == ["member.removed", "member.role"]
    await chat.leave_group(1, g.id)  # a retry: no error, no event
    assert len(changes.events) == 3


async def test_without_admins_the_longest_standing_member_inherits(world):
    chat, *_ = world
    g = await chat.create_group(1, "Trip", [3, 2])
    await chat.leave_group(1, g.id)
    assert roles(await chat.conversation_for(2, g.id)) == {2: "owner", 3: "member"}


async def test_last_member_cannot_leave(world):
    chat, *_ = world
    g = await chat.create_group(1, "Solo", [])
    with pytest.raises(LastMemberError):
        await chat.leave_group(1, g.id)


async def test_ownership_transfer_makes_the_old_owner_admin(world):
    chat, *_ = world
    g = await chat.create_group(1, "Trip", [2])
    g = await chat.set_role(1, g.id, 2, Role.OWNER)
    assert roles(g) == {1: "admin", 2: "owner"}
    with pytest.raises(NotAllowedError):
        await chat.set_role(1, g.id, 1, Role.OWNER)


async def test_a_retried_ownership_transfer_that_landed_answers_the_group_unchanged(world):
    # protocol.md: set_role to the current role changes nothing, also for the former owner
    # (an admin now) retrying after `unavailable`.
    chat, _, changes, _ = world
    g = await chat.create_group(1, "Trip", [2, 3])
    await chat.set_role(1, g.id, 2, Role.OWNER)
    events = len(changes.events)
    g = await chat.set_role(1, g.id, 2, Role.OWNER)
    assert roles(g) == {1: "admin", 2: "owner", 3: "member"}
    assert len(changes.events) == events
    with pytest.raises(NotAllowedError):
        await chat.set_role(1, g.id, 3, Role.ADMIN)  # still the owner's to do
    with pytest.raises(NotAllowedError):  # as add_members: no-ops other than a transfer too
        await chat.set_role(3, g.id, 1, Role.ADMIN)


async def test_only_friends_without_blocks_can_be_added_and_cap_holds():
    chat, peers, *_ = build(ChatLimits(max_group_members=3))
    g = await chat.create_group(1, "Trip", [2])
    with pytest.raises(InvalidInputError) as info:
        await chat.add_members(1, g.id, [9])
    assert info.value.details[0]["code"] == "not_friends"
    peers.blocks.add((2, 3))  # 3 is 1's friend but blocked by member 2
    with pytest.raises(InvalidInputError) as info:
        await chat.add_members(1, g.id, [3])
    assert info.value.details[0]["code"] == "blocked"
    await chat.add_members(1, g.id, [4])
    with pytest.raises(InvalidInputError) as info:
        await chat.add_members(1, g.id, [5])
    assert info.value.details[0]["code"] == "too_many"


async def test_new_member_starts_with_nothing_unread(world):
    chat, *_ = world
    g = await chat.create_group(1, "Trip", [2])
    for i in range(3):
        await chat.send_message(1, g.id, client_id=f"m{i}", text="x")
    g = await chat.add_members(1, g.id, [3])
    assert g.unread_for(3) == 0


async def test_info_rules_and_direct_conversations_have_no_group_commands(world):
    chat, *_ = world
    g = await chat.create_group(1, "Trip", [2])
    with pytest.raises(NotAllowedError):
        await chat.update_group(2, g.id, {"name": "Mine"})
    with pytest.raises(InvalidInputError):
        await chat.update_group(1, g.id, {"avatar_url": "javascript:x"})
    g = await chat.update_group(1, g.id, {"description": "Summer", "avatar_url": None})
    assert g.description == "Summer"
    d = await chat.open_direct(1, 2)
    with pytest.raises(NotAGroupError):
        await chat.leave_group(1, d.id)


async def test_a_group_cannot_join_two_people_who_blocked_each_other(world):
    from nirvana.domain.errors import InvalidInputError

    chat, peers, _, _ = world
    peers.blocks.add((2, 3))  # 2 blocked 3; both are friends of the creator
    with pytest.raises(InvalidInputError) as info:
        await chat.create_group(1, "trip", [2, 3])
    assert info.value.details[0]["code"] == "blocked"
    assert (await chat.create_group(1, "trip", [2, 4])).member_ids

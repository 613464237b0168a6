"""Edits, deletes, reactions, search and the resume window, on in-memory fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nirvana.domain.chat.edits import check_emoji
from nirvana.domain.chat.limits import ChatLimits
from nirvana.domain.chat.entities import Role
from nirvana.domain.chat.errors import MessageDeletedError, MessageNotFoundError, NotAllowedError
from nirvana.domain.chat.search import parse_query, terms_of
from nirvana.domain.errors import InvalidInputError
from tests.support.clock import FakeClock
from tests.support.chat_world import build


async def conversation_with_message(text: str = "hello world",
                                    clock: FakeClock | None = None):
    chat, peers, changes, pub = build(ChatLimits(max_reactions=2), clock)
    c = await chat.create_group(1, "G", [2, 3])
    await chat.send_message(1, c.id, client_id="m1", text=text)
    return chat, changes, c


async def test_sender_edits_once_and_a_retry_emits_nothing():
    chat, changes, c = await conversation_with_message()
    edited = await chat.edit_message(1, c.id, 1, "hello there")
    again = await chat.edit_message(1, c.id, 1, "hello there")
    assert edited.text == again.text == "hello there" and edited.edited_at is not None
    assert [e.type.value for e in changes.events] == ["message.edited"]
    with pytest.raises(NotAllowedError):
        await chat.edit_message(2, c.id, 1, "not mine")
    with pytest.raises(MessageNotFoundError):
        await chat.edit_message(1, c.id, 9, "x")


async def test_delete_for_everyone_leaves_a_tombstone_and_blocks_edits():
    chat, changes, c = await conversation_with_message()
    await chat.react(2, c.id, 1, "👍")
    gone = await chat.delete_message(1, c.id, 1, for_everyone=True)
    assert gone.deleted and gone.text == "" and gone.reactions == ()
    await chat.delete_message(1, c.id, 1, for_everyone=True)  # retry: no second event
    assert [e.type.value for e in changes.events] == ["reaction", "message.deleted"]
    with pytest.raises(MessageDeletedError):
        await chat.edit_message(1, c.id, 1, "back")
    assert (await chat.history(2, c.id))[0].deleted


async def test_group_admins_may_delete_others_messages_members_may_not():
    chat, _, c = await conversation_with_message()
    with pytest.raises(NotAllowedError):
        await chat.delete_message(2, c.id, 1, for_everyone=True)
    await chat.set_role(1, c.id, 2, Role.ADMIN)
    await chat.send_message(3, c.id, client_id="m2", text="spam")
    assert (await chat.delete_message(2, c.id, 2, for_everyone=True)).deleted


async def test_delete_for_me_hides_from_my_history_only():
    chat, changes, c = await conversation_with_message()
    await chat.delete_message(2, c.id, 1, for_everyone=False)
    await chat.delete_message(2, c.id, 1, for_everyone=False)
    assert await chat.history(2, c.id) == []
    assert len(await chat.history(1, c.id)) == 1
    assert await chat.search(2, "hello") == [] and len(await chat.search(1, "hello")) == 1
    (event,) = changes.events
    assert event.audience == (2,) and event.data["scope"] == "me"


async def test_reactions_are_a_set_per_user_and_emoji_with_a_bound():
    chat, changes, c = await conversation_with_message()
    await chat.react(2, c.id, 1, "👍")
    await chat.react(2, c.id, 1, "👍")
    m = await chat.react(3, c.id, 1, "👍")
    assert m.reactions == (("👍", (2, 3)),)
    await chat.react(2, c.id, 1, "🎉")
    with pytest.raises(InvalidInputError):
        await chat.react(2, c.id, 1, "🔥")  # a third distinct emoji; the limit is 2
    m = await chat.react(2, c.id, 1, "👍", add=False)
    await chat.react(2, c.id, 1, "👍", add=False)
    assert m.reactions == (("👍", (3,)), ("🎉", (2,)))
    assert len(changes.events) == 4


@pytest.mark.parametrize("emoji", ["👍", "🇫🇷", "👩‍👩‍👧", "❤️", "👍🏽"])
def test_emoji_accepted(emoji):
    assert check_emoji(emoji) == emoji


@pytest.mark.parametrize("emoji", ["", "lol", ":+1:", "a👍", "👍 👍", "x" * 40])
def test_non_emoji_refused(emoji):
    with pytest.raises(InvalidInputError):
        check_emoji(emoji)


def test_terms_are_lowercased_accent_free_and_distinct():
    assert terms_of("Crème Brûlée, crème-BRULEE! 42") == ["creme", "brulee", "42"]
    assert parse_query("creme bru") == (["creme"], "bru")
    assert parse_query("creme bru ") == (["creme", "bru"], None)
    assert parse_query("b") == (["b"], None)  # too short to be a prefix


async def test_search_matches_all_terms_with_prefix_in_my_conversations_only():
    """The query rules (all terms, a prefix, my conversations) over the fake's term index;
    the real store's index after edits and deletes: tests/integration/
    test_rules_on_the_real_stores.py."""
    chat, _, c = await conversation_with_message("Rendez-vous au Café demain")
    await chat.send_message(1, c.id, client_id="m2", text="le café est fermé")
    other = await chat.create_group(4, "Other", [])
    await chat.send_message(4, other.id, client_id="o1", text="café secret")
    found = await chat.search(2, "cafe dem")
    assert [m.seq for m in found] == [1]
    assert [m.seq for m in await chat.search(2, "CAFÉ")] == [2, 1]  # newest first
    with pytest.raises(InvalidInputError):
        await chat.search(2, "  !! ")


async def test_search_looks_in_its_own_number_of_recent_conversations_not_a_page():
    clock = FakeClock()
    chat, _, _, _ = build(ChatLimits(max_conversations=1, max_search_conversations=2), clock)
    groups = []
    for n in range(3):
        groups.append(await chat.create_group(1, f"G{n}", []))
        await chat.send_message(1, groups[-1].id, client_id=f"m{n}", text="word")
        clock.advance(1)
    found = await chat.search(1, "word")
    assert {m.conversation_id for m in found} == {groups[1].id, groups[2].id}


async def test_edit_updates_what_search_finds():
    """That an edit hands the store new terms; the real store's index is checked in
    tests/integration/test_rules_on_the_real_stores.py."""
    chat, _, c = await conversation_with_message("old words")
    await chat.edit_message(1, c.id, 1, "new words")
    assert await chat.search(2, "old") == [] and len(await chat.search(2, "new")) == 1


async def test_resume_past_pruned_events_requires_resync():
    clock = FakeClock()
    chat, changes, c = await conversation_with_message(clock=clock)
    await chat.edit_message(1, c.id, 1, "edited")
    assert not (await chat.resume(2, 0)).truncated
    clock.advance(timedelta(days=8).total_seconds())
    assert await chat.prune_events() == 1
    assert (await chat.resume(2, 0)).truncated
    head = await chat.head()
    assert not (await chat.resume(2, head)).truncated


async def test_a_refused_change_keeps_the_cached_page():
    """A change the planner refuses wrote nothing: the conversation's cached page stays, or
    any member could make a busy room read its history again with each refused reaction."""
    chat, _, c = await conversation_with_message()
    await chat.send_message(1, c.id, client_id="m2", text="second")
    await chat.delete_message(1, c.id, 1, for_everyone=True)
    await chat.history(2, c.id)
    assert chat.cache.latest(c.id, 2, 2) is not None
    refused = [(MessageDeletedError, lambda: chat.react(2, c.id, 1, "👍")),
               (MessageNotFoundError, lambda: chat.react(2, c.id, 9, "👍")),
               (NotAllowedError, lambda: chat.edit_message(2, c.id, 2, "not mine"))]
    for error, change in refused:
        with pytest.raises(error):
            await change()
        assert [m.seq for m in chat.cache.latest(c.id, 2, 2)] == [1, 2]

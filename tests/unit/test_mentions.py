"""@mentions: who is told of a mention in a blog, a comment or a group chat message, and
who is not (someone who cannot read it, across a block, in a muted conversation)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from nirvana.domain.blogs.events import BlogPublished, CommentAdded
from nirvana.domain.blogs.model import Audience as BlogAudience
from nirvana.domain.notifications.entities import Kind
from nirvana.domain.notifications.policy import link, mentions, resolve, summary, usernames
from nirvana.domain.notifications.preferences import Channel, Preference, Preferences
from nirvana.domain.notifications.service import Notifications
from tests.support.clock import FakeClock
from tests.support.fakes_notifications import (
    FakeAudience,
    FakeMuteStore,
    FakeNotificationStore,
    FakePreferenceStore,
    HeardLive,
)

pytestmark = pytest.mark.anyio

ANN, BOB, CAT, DAN = 1, 2, 3, 4
GROUP = "c0ffee"


@pytest.fixture
def world():
    audience = FakeAudience()
    audience.usernames = {"ann": ANN, "bob": BOB, "cat": CAT, "dan": DAN}
    prefs = Preferences(FakePreferenceStore(), FakeMuteStore())
    store = FakeNotificationStore()
    n = Notifications(store=store, audience=audience, clock=FakeClock(), live=HeardLive(),
                      preferences=prefs)
    return n, audience, prefs


async def told(n: Notifications, user_id: int):
    return (await n.page(user_id, None, 50)).items


def published(text: str) -> BlogPublished:
    return BlogPublished(7, ANN, "Trip", "trip", datetime(2026, 1, 1, tzinfo=timezone.utc),
                         text)


def test_a_handle_is_a_username_after_an_at_sign():
    assert mentions("hi @Bob and @cat, not me@dan.example nor @@x nor @ab") == [
        ("bob",), ("cat",)]


def test_a_dot_inside_a_handle_is_part_of_it_and_a_trailing_dot_is_punctuation():
    assert mentions("@moq1.ny can you look?") == [("moq1.ny", "moq1")]
    assert mentions("thanks @ann. And @bob... and @cat., @dan.\n") == [
        ("ann",), ("bob",), ("cat",), ("dan",)]
    # Two dots end a handle (no username has them); what is left of "@xy" is too short.
    assert mentions("@a.b.c_d, @abc..def @xy..zzz @long.") == [
        ("a.b.c_d", "a.b"), ("abc",), ("long",)]


def test_a_handle_followed_by_a_letter_is_nobodys_dots_and_all():
    # "@ann.leé" used to shrink to "@ann" (the regex backtracked to before the dot).
    assert mentions("@anné @ann.leé @moq1.nyé") == []
    assert mentions("@ann.lee, @ann.lee_2") == [("ann.lee", "ann"), ("ann.lee_2", "ann")]


def test_an_at_sign_inside_a_link_is_no_mention():
    text = "see https://mastodon.social/@ann.lee/x, HTTP://a.b/?u=@cat and @bob"
    assert mentions(text) == [("bob",)]


def test_a_dotted_handle_is_the_longest_username_that_exists():
    ids = {"moq1": 1, "moq1.ny": 2, "ann": 3}
    handles = mentions("@moq1.ny and @moq1 and @ann.Thanks, @ann.b.c")
    assert usernames(handles) == ["moq1.ny", "moq1", "ann.thanks", "ann", "ann.b.c", "ann.b"]
    assert resolve(handles, ids) == [2, 1, 3]  # each user once, in order of first mention
    assert resolve(mentions("@jo.p2 hi"), ids) == []  # neither jo.p2 nor jo exists
    assert resolve(mentions("@moq1.nyx"), ids) == [1]  # no moq1.nyx: moq1 is meant


def test_a_handle_resolves_among_the_members_given():
    ids = {"ann": 1, "ann.thanks": 2}
    assert resolve(mentions("@ann.Thanks for the notes"), ids) == [2]
    assert resolve(mentions("@ann.Thanks for the notes"), ids, among=(1, 3)) == [1]
    assert resolve(mentions("@ann.Thanks"), ids, among=(3,)) == []


@pytest.mark.parametrize("length", [4_000, 100_000])
def test_a_handle_as_long_as_the_text_names_few_users(length):
    # Its names are read from its first 31 characters: what is looked up stays a handful of
    # short names whatever the text (the cost before and after: docs/performance.md).
    text = "@" + ".".join(["a"] * (length // 2))
    found = mentions(text)
    [names] = found
    assert len(names) == 14 and max(map(len, names)) <= 29
    assert usernames(found) == list(names)
    assert resolve(found, {"a.a.a": 7}) == [7]


async def test_a_blog_mention_tells_only_who_may_read_the_blog(world):
    n, audience, _ = world
    audience.friends.add(frozenset((ANN, BOB)))  # a friends-only blog: Bob is, Cat is not
    await n.handle(replace(published("thanks @bob and @cat and @ann"),
                           audience=BlogAudience.FRIENDS))
    assert [x.kind for x in await told(n, BOB)] == [Kind.MENTIONED]
    assert await told(n, CAT) == [] and await told(n, ANN) == []


async def test_a_comment_mention_across_a_block_tells_nobody(world):
    n, audience, _ = world
    audience.blocks.add(frozenset((BOB, CAT)))  # the commenter and the one mentioned
    audience.unreadable.add((DAN, 7))
    await n.handle(CommentAdded(7, ANN, 9, BOB, "@cat @dan look"))
    assert await told(n, CAT) == [] and await told(n, DAN) == []


async def test_a_group_mention_tells_members_only_and_coalesces(world):
    n, audience, prefs = world
    audience.blocks.add(frozenset((ANN, DAN)))
    members = (ANN, BOB, CAT, DAN)
    await n.chat_mentioned(conversation_id=GROUP, name="Trip", seq=1, sender_id=ANN,
                           members=members, text="@bob @dan @ann")
    await n.chat_mentioned(conversation_id=GROUP, name="Trip", seq=2, sender_id=CAT,
                           members=members, text="@bob again")
    [mention] = await told(n, BOB)
    assert mention.conversation_id == GROUP and mention.actor_count == 2
    assert summary(mention).endswith("mentioned you in Trip")
    assert link(mention) == f"/chat?c={GROUP}"
    assert await told(n, DAN) == [] and await told(n, ANN) == []
    # Someone mentioned who is not a member hears nothing.
    await n.chat_mentioned(conversation_id=GROUP, name="Trip", seq=3, sender_id=ANN,
                           members=(ANN, BOB), text="@cat")
    assert await told(n, CAT) == []


async def test_an_outsiders_dotted_name_does_not_take_a_members_mention(world):
    n, audience, _ = world
    audience.usernames["ann.thanks"] = DAN  # Dan is not in the group
    await n.chat_mentioned(conversation_id=GROUP, name="Trip", seq=1, sender_id=BOB,
                           members=(ANN, BOB, CAT), text="@ann.Thanks for the notes")
    assert [x.kind for x in await told(n, ANN)] == [Kind.MENTIONED]
    assert await told(n, DAN) == []


async def test_a_muted_group_or_a_switch_off_tells_nothing(world):
    n, _, prefs = world
    await prefs.mute(BOB, GROUP, True)
    await prefs.change(CAT, [Preference("mentioned", Channel.APP, False)])
    await n.chat_mentioned(conversation_id=GROUP, name="Trip", seq=1, sender_id=ANN,
                           members=(ANN, BOB, CAT), text="@bob @cat")
    assert await told(n, BOB) == [] and await told(n, CAT) == []

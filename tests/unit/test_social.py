"""The social graph's rules, on the in-memory fake repository."""

from __future__ import annotations

import pytest

from nirvana.domain.errors import ConflictError, InvalidInputError, NotFoundError
from nirvana.domain.social.entities import Direction, FriendRequestOutcome as O, PageRequest
from nirvana.domain.social.graph import SocialGraph
from nirvana.domain.social.cursors import decode_cursor, page_request
from tests.support.fakes_social import FakeBlogCounter, FakeSocialRepository

# Module-level, not only conftest's hook: parametrized async tests need the marker before
# collection ends.
pytestmark = pytest.mark.anyio

ANN, BOB, CAT, NOBODY = 1, 2, 3, 99
PAGE = PageRequest(20)


@pytest.fixture
def repo() -> FakeSocialRepository:
    repo = FakeSocialRepository()
    for user_id in (ANN, BOB, CAT):
        repo.add_user(user_id)
    return repo


@pytest.fixture
def graph(repo) -> SocialGraph:
    return SocialGraph(repo, FakeBlogCounter())


async def test_request_then_accept_makes_mutual_friends(graph):
    assert (await graph.send_friend_request(ANN, BOB)).outcome is O.REQUESTED
    incoming = await graph.friend_requests(BOB, Direction.INCOMING, PAGE)
    assert [i.person.id for i in incoming.items] == [ANN]
    change = await graph.accept_friend_request(BOB, ANN)
    assert change.created and change.state.friends
    assert await graph.are_friends(ANN, BOB) and await graph.are_friends(BOB, ANN)
    assert await graph.friend_ids(ANN) == [BOB]
    assert (await graph.friend_requests(BOB, Direction.INCOMING, PAGE)).items == []


async def test_crossed_requests_make_friends(graph, repo):
    await graph.send_friend_request(BOB, ANN)
    result = await graph.send_friend_request(ANN, BOB)
    assert result.outcome is O.BECAME_FRIENDS and result.state.friends
    assert repo.pending == {}


async def test_repeated_request_and_accept_are_idempotent(graph):
    await graph.send_friend_request(ANN, BOB)
    assert (await graph.send_friend_request(ANN, BOB)).outcome is O.ALREADY_REQUESTED
    await graph.accept_friend_request(BOB, ANN)
    assert not (await graph.accept_friend_request(BOB, ANN)).created
    assert (await graph.send_friend_request(ANN, BOB)).outcome is O.ALREADY_FRIENDS


async def test_accepting_a_request_never_sent_is_not_found(graph):
    with pytest.raises(NotFoundError) as exc:
        await graph.accept_friend_request(BOB, ANN)
    assert exc.value.code == "no_friend_request"
    await graph.send_friend_request(ANN, BOB)
    with pytest.raises(NotFoundError):  # only the receiver can accept
        await graph.accept_friend_request(ANN, BOB)


async def test_decline_cancel_and_unfriend(graph, repo):
    await graph.send_friend_request(ANN, BOB)
    await graph.decline_friend_request(BOB, ANN)
    assert repo.pending == {}
    await graph.send_friend_request(ANN, BOB)
    await graph.cancel_friend_request(ANN, BOB)
    assert repo.pending == {}
    await graph.cancel_friend_request(ANN, BOB)  # nothing left: still fine
    await graph.send_friend_request(ANN, BOB)
    await graph.accept_friend_request(BOB, ANN)
    await graph.remove_friend(BOB, ANN)
    assert not await graph.are_friends(ANN, BOB) and repo.friendships == {}


@pytest.mark.parametrize("action", ["send_friend_request", "accept_friend_request",
                                    "decline_friend_request", "cancel_friend_request",
                                    "remove_friend", "follow", "unfollow", "block", "unblock"])
async def test_self_target_is_invalid_and_unknown_user_not_found(graph, action):
    with pytest.raises(InvalidInputError) as exc:
        await getattr(graph, action)(ANN, ANN)
    assert exc.value.code == "self_target"
    with pytest.raises(NotFoundError):
        await getattr(graph, action)(ANN, NOBODY)


async def test_block_removes_friendship_requests_and_follows_both_ways(graph, repo):
    await graph.send_friend_request(ANN, BOB)
    await graph.accept_friend_request(BOB, ANN)
    await graph.follow(ANN, BOB)
    await graph.follow(BOB, ANN)
    await graph.send_friend_request(CAT, ANN)
    change = await graph.block(ANN, BOB)
    assert change.created and change.state.blocks
    assert repo.friendships == {} and repo.follows == {}
    assert (CAT, ANN) in repo.pending  # others are untouched
    assert await graph.is_blocked_either_way(BOB, ANN)
    assert not (await graph.block(ANN, BOB)).created  # idempotent


async def test_blocked_user_cannot_request_follow_or_see_profile(graph):
    await graph.block(ANN, BOB)
    for attempt in (graph.send_friend_request(BOB, ANN), graph.follow(BOB, ANN),
                    graph.profile(BOB, ANN), graph.followers(BOB, ANN, PAGE)):
        with pytest.raises(NotFoundError):  # told nothing more than for an unknown user
            await attempt
    with pytest.raises(ConflictError) as exc:
        await graph.follow(ANN, BOB)
    assert exc.value.code == "blocked_by_you"
    assert (await graph.profile(ANN, BOB)).relation.blocks  # the blocker still sees them
    assert (await graph.profile(None, ANN)).user.person.id == ANN  # and anonymous viewers too


async def test_unblock_restores_nothing(graph, repo):
    await graph.follow(BOB, ANN)
    await graph.block(ANN, BOB)
    await graph.unblock(ANN, BOB)
    assert not await graph.is_blocked_either_way(ANN, BOB)
    assert repo.follows == {}
    await graph.follow(BOB, ANN)  # allowed again


async def test_follow_is_one_way_and_counted(graph):
    assert (await graph.follow(ANN, BOB)).created
    assert not (await graph.follow(ANN, BOB)).created
    assert await graph.followee_ids(ANN) == [BOB] and await graph.followee_ids(BOB) == []
    profile = await graph.profile(ANN, BOB)
    assert (profile.counts.followers, profile.counts.following) == (1, 0)
    assert profile.relation.follows and not profile.relation.followed_by
    await graph.unfollow(ANN, BOB)
    await graph.unfollow(ANN, BOB)
    assert await graph.followee_ids(ANN) == []


async def test_failed_change_rolls_back(repo):
    """Checks the fake: it must roll back like PostgreSQL does, or the unit tests above could
    pass on a half-made change. The real transaction: tests/integration/
    test_rules_on_the_real_stores.py."""
    graph = SocialGraph(repo, FakeBlogCounter())
    await graph.follow(ANN, BOB)
    with pytest.raises(RuntimeError):
        async with repo.pair(ANN, BOB) as tx:
            await tx.remove_follow(ANN, BOB)
            raise RuntimeError("crash mid-change")
    assert await graph.followee_ids(ANN) == [BOB]


async def test_pages_follow_cursors_to_the_end(graph, repo):
    for user_id in range(10, 25):
        repo.add_user(user_id)
        await graph.follow(user_id, ANN)
    seen, cursor = [], None
    while True:
        listing = await graph.followers(None, ANN, page_request(4, cursor))
        seen += [i.person.id for i in listing.items]
        cursor = listing.next_cursor
        if cursor is None:
            break
    assert seen == list(range(24, 9, -1))


@pytest.mark.parametrize("bad", ["!!", "bm90IGEgY3Vyc29y", "", "MTox"[:3]])
def test_bad_cursor_is_invalid_input(bad):
    with pytest.raises(InvalidInputError) as exc:
        decode_cursor(bad)
    assert exc.value.details[0]["field"] == "cursor"


async def test_search_refuses_empty_and_overlong_queries(graph):
    for q in ("   ", "x" * 101):
        with pytest.raises(InvalidInputError):
            await graph.search(None, q, 10)
    assert [p.id for p in await graph.search(None, "  user2 ", 10)] == [BOB]

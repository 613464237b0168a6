"""Friendships announce themselves: whatever entry point changes one, listeners hear of it."""

from __future__ import annotations

import pytest

from nirvana.domain.social.events import FriendshipChanged, SocialEvent
from nirvana.domain.social.graph import SocialGraph
from tests.support.fakes_social import FakeBlogCounter, FakeSocialRepository

pytestmark = pytest.mark.anyio

ANN, BOB = 1, 2


class Heard:
    def __init__(self) -> None:
        self.events: list[FriendshipChanged] = []

    async def publish(self, event: SocialEvent) -> None:
        # Friendships only: the graph's other events are the notifications' (their tests).
        if isinstance(event, FriendshipChanged):
            self.events.append(event)


@pytest.fixture
def world() -> tuple[SocialGraph, Heard]:
    repo = FakeSocialRepository()
    repo.add_user(ANN)
    repo.add_user(BOB)
    heard = Heard()
    return SocialGraph(repo, FakeBlogCounter(), events=heard), heard


async def test_a_friendship_that_begins_is_announced_once_stored(world):
    graph, heard = world
    await graph.send_friend_request(ANN, BOB)
    assert heard.events == []  # a request is not a friendship
    await graph.accept_friend_request(BOB, ANN)
    assert heard.events == [FriendshipChanged(BOB, ANN, True)]


async def test_asking_someone_who_already_asked_announces_the_friendship(world):
    graph, heard = world
    await graph.send_friend_request(ANN, BOB)
    await graph.send_friend_request(BOB, ANN)
    assert heard.events == [FriendshipChanged(BOB, ANN, True)]


async def test_a_block_announces_the_end_of_the_friendship(world):
    """Presence must not cross a block: the hub hears of it from the graph itself."""
    graph, heard = world
    await graph.send_friend_request(ANN, BOB)
    await graph.accept_friend_request(BOB, ANN)
    await graph.block(ANN, BOB)
    assert heard.events[-1] == FriendshipChanged(ANN, BOB, False)
    await graph.unblock(ANN, BOB)
    await graph.send_friend_request(ANN, BOB)
    await graph.accept_friend_request(BOB, ANN)
    await graph.remove_friend(BOB, ANN)
    assert heard.events[-1] == FriendshipChanged(BOB, ANN, False)

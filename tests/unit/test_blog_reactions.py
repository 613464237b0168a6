"""Reactions and live new posts, on in-memory fakes: what is stored, what is announced, who
is told."""

from __future__ import annotations

import pytest

from nirvana.domain.blogs.events import (
    BlogEvent,
    BlogPublished,
    BlogReactionCleared,
    BlogReacted,
)
from nirvana.domain.blogs.live import LiveNewPosts
from nirvana.domain.blogs.model import Audience, BlogStatus
from nirvana.domain.blogs.reactions import Reaction, ReactionCounts
from nirvana.domain.blogs.service import Blogs
from nirvana.domain.errors import ConflictError, NotFoundError
from tests.support.clock import FakeClock
from tests.support.fakes_blogs import FakeBlogRepository, FakeCommentRepository, blog_fields

ANN, BOB, CAT = 1, 2, 3


class Recorded:
    def __init__(self) -> None:
        self.events: list[BlogEvent] = []

    async def publish(self, event: BlogEvent) -> None:
        self.events.append(event)


@pytest.fixture
def events() -> Recorded:
    return Recorded()


@pytest.fixture
def repo() -> FakeBlogRepository:
    return FakeBlogRepository()


@pytest.fixture
def blogs(repo, events) -> Blogs:
    return Blogs(blogs=repo, comments=FakeCommentRepository(repo), clock=FakeClock(),
                 events=events)


async def test_a_reaction_replaces_the_last_and_every_change_is_announced(blogs, events):
    blog = await blogs.create(ANN, blog_fields())
    events.events.clear()
    state = await blogs.react(blog.id, BOB, Reaction.LOVE)
    assert state.mine is Reaction.LOVE and state.counts == ReactionCounts(love=1)
    state = await blogs.react(blog.id, BOB, Reaction.SAD)
    assert state.counts == ReactionCounts(sad=1)
    assert (await blogs.get(blog.id, BOB)).my_reaction is Reaction.SAD
    assert (await blogs.get(blog.id, None)).my_reaction is None
    assert events.events == [BlogReacted(blog.id, ANN, BOB, Reaction.LOVE),
                             BlogReacted(blog.id, ANN, BOB, Reaction.SAD)]


async def test_unliking_leaves_another_kind_and_announces_nothing(blogs, events):
    blog = await blogs.create(ANN, blog_fields())
    await blogs.react(blog.id, BOB, Reaction.WOW)
    events.events.clear()
    assert await blogs.unlike(blog.id, BOB) == 0
    assert (await blogs.get(blog.id, BOB)).my_reaction is Reaction.WOW
    assert events.events == []  # nothing was taken back: the author's notification stays
    assert await blogs.like(blog.id, BOB) == 1  # a like replaces the wow
    state = await blogs.clear_reaction(blog.id, BOB)
    assert state.mine is None and state.counts == ReactionCounts()
    assert events.events[-1] == BlogReactionCleared(blog.id, ANN, BOB)


async def test_drafts_and_hidden_blogs_take_no_reactions(blogs, repo):
    draft = await blogs.create(ANN, blog_fields(status=BlogStatus.DRAFT))
    with pytest.raises(ConflictError):
        await blogs.react(draft.id, ANN, Reaction.LOVE)
    with pytest.raises(NotFoundError):
        await blogs.react(draft.id, BOB, Reaction.LOVE)
    close = await blogs.create(ANN, blog_fields(audience=Audience.FRIENDS))
    with pytest.raises(NotFoundError):
        await blogs.react(close.id, BOB, Reaction.LOVE)
    with pytest.raises(NotFoundError):
        await blogs.reactors(close.id, BOB, None, 1, 10)


class FakeReaders:
    def __init__(self, admitted: dict[Audience, set[int]]) -> None:
        self.admitted = admitted

    async def readers(self, author_id: int, audience: Audience, among: list[int]) -> list[int]:
        return [u for u in among if u in self.admitted[audience]]


class FakeSockets:
    def __init__(self, online: list[int]) -> None:
        self.online = online
        self.told: list[tuple[list[int], int]] = []

    def online_users(self) -> list[int]:
        return list(self.online)

    def new_post(self, user_ids: list[int], event: BlogPublished) -> None:
        self.told.append((user_ids, event.blog_id))


async def test_a_new_post_is_told_to_the_readers_online_never_its_author(repo):
    sockets = FakeSockets(online=[ANN, BOB, CAT])
    live = LiveNewPosts(FakeReaders({Audience.PUBLIC: {ANN, BOB, CAT},
                                     Audience.FRIENDS: {CAT}}), sockets)
    class Listeners:  # as the wiring's EventListeners hands events on
        async def publish(self, event: BlogEvent) -> None:
            await live.handle(event)

    blogs = Blogs(blogs=repo, comments=FakeCommentRepository(repo), clock=FakeClock(),
                  events=Listeners())
    await blogs.create(ANN, blog_fields(status=BlogStatus.DRAFT))  # not announced: nothing
    public = await blogs.create(ANN, blog_fields())
    close = await blogs.create(ANN, blog_fields(audience=Audience.FRIENDS))
    assert sockets.told == [([BOB, CAT], public.id), ([CAT], close.id)]
    sockets.online = [ANN]
    await blogs.create(ANN, blog_fields())
    assert len(sockets.told) == 2  # nobody else online: no query, nothing sent

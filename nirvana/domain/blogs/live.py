"""Live new posts (MySocial's "add post"): when a blog is first published, the open sockets
of the people who follow its author hear of it at once.

It hangs on `BlogPublished` (wired in `bootstrap.py`), so every way a blog gets published
(a route, a page, the scheduled publisher) takes this one path. Who is told is the author's
followers and friends that the blog's audience admits, with no block either way; never the
author; nothing for drafts or scheduled blogs before their time (they are not announced).
"""

from __future__ import annotations

from typing import Protocol

from .events import BlogEvent, BlogPublished
from .model import Audience


class NewPostReaders(Protocol):
    async def readers(self, author_id: int, audience: Audience,
                      among: list[int]) -> list[int]:
        """Those of `among` who follow the author or are their friend, whom `audience`
        admits, and with no block between them and the author in either direction."""
        ...


class NewPostSockets(Protocol):
    def online_users(self) -> list[int]:
        """Users with at least one open socket in this process."""
        ...

    def new_post(self, user_ids: list[int], event: BlogPublished) -> None:
        """Queue the event on every open socket of those users."""
        ...


class LiveNewPosts:
    def __init__(self, readers: NewPostReaders, sockets: NewPostSockets) -> None:
        self._readers = readers
        self._sockets = sockets

    async def handle(self, event: BlogEvent) -> None:
        if not isinstance(event, BlogPublished):
            return
        # Asked about the users online only: a popular author's followers are many, the
        # people with a socket open in this process usually far fewer.
        online = [u for u in self._sockets.online_users() if u != event.author_id]
        if not online:
            return
        told = await self._readers.readers(event.author_id, event.audience, online)
        if told:
            self._sockets.new_post(told, event)

"""Serialised pages of public blog lists, kept in memory for anonymous readers.

The first feed page is the hottest response of a blog: every visitor asks for it. Built from
PostgreSQL it cost a round trip, 20 rows decoded and 20 pydantic models serialised per
request, for news that changes rarely (docs/performance.md). Here a page's JSON bytes are
kept and answered as they are, under two rules:

- exact for what changes a list's membership or order: every publish, edit and delete done
  through `Blogs` bumps its `content_version`, and a page built before the bump is never
  served after it (a writer sees their own change on their next read);
- at most `max_age` seconds stale for the rest: likes and comments counts, an author's new
  name or avatar. That is the documented staleness of anonymous lists.

Only anonymous lists are cached: a signed-in viewer's list hides authors blocked either way,
so it is built per request. Like the user cache, this assumes one process does all writes
(see nirvana/storage/cached_users.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Awaitable, Callable, Hashable


@dataclass(frozen=True, slots=True)
class CachedPage:
    body: bytes
    version: int
    built_at: float


class PageCache:
    def __init__(self, size: int = 512, max_age: float = 1.0, max_bytes: int = 32 << 20,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # Bounded in count and in bytes: a page of 100 long blogs can weigh ~1 MB.
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self.max_age = max_age
        self._clock = clock
        self._pages: OrderedDict[Hashable, CachedPage] = OrderedDict()
        # One build per key at a time: a burst of misses waits for it instead of each
        # querying the database (the builder is keyed by the version it started at).
        self._building: dict[Hashable, tuple[int, asyncio.Future[bytes]]] = {}

    def fresh(self, key: Hashable, version: int) -> bytes | None:
        page = self._pages.get(key)
        if page is None or page.version != version or (
                self._clock() - page.built_at >= self.max_age):
            return None
        self._pages.move_to_end(key)
        return page.body

    async def get(self, key: Hashable, version: int,
                  build: Callable[[], Awaitable[bytes]]) -> bytes:
        """The page's bytes for content `version`, built by `build()` when missing or old.
        `version` must be read before the build starts, so a write during the build leaves
        the result labelled with the older version and it is rebuilt on the next request."""
        body = self.fresh(key, version)
        if body is not None:
            return body
        pending = self._building.get(key)
        if pending is not None and pending[0] == version:
            return await asyncio.shield(pending[1])
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._building[key] = (version, future)
        started = self._clock()
        try:
            body = await build()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # marked retrieved: waiters get it, no one else must
            raise
        finally:
            if self._building.get(key, (None, None))[1] is future:
                del self._building[key]
        future.set_result(body)
        kept = self._pages.get(key)
        if kept is not None and kept.version > version:
            return body  # a build begun after a later write finished first: keep its page
        if kept is not None:
            self._bytes -= len(kept.body)
        self._pages[key] = CachedPage(body, version, started)
        self._pages.move_to_end(key)
        self._bytes += len(body)
        while len(self._pages) > self._size or (self._bytes > self._max_bytes
                                                and len(self._pages) > 1):
            self._bytes -= len(self._pages.popitem(last=False)[1].body)
        return body

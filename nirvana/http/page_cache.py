"""Serialised pages of public blog reads (lists, search, one blog, feeds, sitemap), kept in
memory for anonymous readers, with ETags.

The first feed page is the hottest response of a blog: every visitor asks for it. Built from
PostgreSQL it cost a round trip, 20 rows decoded and 20 pydantic models serialised per
request, for news that changes rarely (docs/performance.md). Here a page's JSON bytes are
kept and answered as they are, under two rules:

- exact for what changes a list's membership or order: every publish, edit and delete done
  through `Blogs` bumps its `content_version`, and a page built before the bump is never
  served after it (a writer sees their own change on their next read);
- at most `max_age` seconds (plus one rebuild) stale for the rest: likes and comments
  counts, an author's new name or avatar. That is the documented staleness of anonymous
  reads. A page past its age but of the current version is answered as it is while one
  rebuild runs in the background, so no reader waits for a rebuild that changes no
  membership (a reader waiting behind each rebuild set the p99 of hot pages);
- a page given an `activity` counter (what moves its counts: reactions and comments) is
  rebuilt past `max_age` only when that counter moved since it was built, and otherwise
  only past `names_max_age` (names and avatars, which no counter follows). A site nobody
  writes to rebuilds each read page once per `names_max_age`, not once a second: each
  rebuild of a search or deep page is a query of 5-300 ms at a million blogs.

The same cache keeps other public reads of blogs: an anonymous search, a single blog, the RSS
and Atom feeds and the sitemap (docs/blogs.md lists them). Each page carries an ETag (a hash
of its bytes) for conditional GETs.

Only anonymous answers are cached: a signed-in viewer's list hides authors blocked either
way, so it is built for them, unless one read shows the anonymous answer is exactly theirs
(http/routes/blogs.py `anonymous_if_unmoved`). With several instances (REDIS_URL) a write
on another instance moves this one's versions too, a moment later (nirvana/wiring/instances.py;
docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Awaitable, Callable, Hashable

from starlette.responses import Response

from .deadline import DeadlineError


log = logging.getLogger(__name__)
# A content version: a counter, or a tuple of counters compared in order (each only grows).
Version = int | tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CachedPage:
    body: bytes
    version: Version
    built_at: float
    etag: str
    activity: int | None = None  # the activity counter read before it was built


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class PageCache:
    def __init__(self, size: int = 4096, max_age: float = 1.0, max_bytes: int = 32 << 20,
                 clock: Callable[[], float] = time.monotonic,
                 names_max_age: float = 10.0) -> None:
        # Bounded in count and in bytes, since a page of long blogs can be large. The
        # count is set above what crawlers and busy readers ask for at once: a page pushed
        # out is built again from PostgreSQL (docs/performance.md, "Reads at scale").
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self.max_age = max_age
        self.names_max_age = names_max_age
        self._clock = clock
        self._pages: OrderedDict[Hashable, CachedPage] = OrderedDict()
        # One build per key at a time: a burst of misses waits for it instead of each
        # querying the database (the builder is keyed by the version it started at).
        self._building: dict[Hashable, tuple[Version, asyncio.Future[CachedPage]]] = {}
        self._refreshing: set[asyncio.Task[None]] = set()

    def fresh(self, key: Hashable, version: Version) -> bytes | None:
        page = self.fresh_page(key, version)
        return page.body if page is not None else None

    def fresh_page(self, key: Hashable, version: Version, max_age: float | None = None,
                   activity: int | None = None) -> CachedPage | None:
        """The page for content `version` if it is kept and needs no rebuild (its age under
        the limit `page` applies); None otherwise. Never waits: `page` builds."""
        page = self._pages.get(key)
        if page is None or page.version != version:
            return None
        limit = self.max_age if max_age is None else max_age
        if activity is not None and activity == page.activity:
            limit = max(limit, self.names_max_age)
        if self._clock() - page.built_at >= limit:
            return None
        self._pages.move_to_end(key)
        return page

    def held(self, key: Hashable, version: Version) -> CachedPage | None:
        """The page for content `version` if one is kept, however old (`page` answers it
        and rebuilds it behind when due). Never waits, never builds."""
        page = self._pages.get(key)
        return page if page is not None and page.version == version else None

    async def get(self, key: Hashable, version: Version,
                  build: Callable[[], Awaitable[bytes]]) -> bytes:
        """The page's bytes for content `version` (see `page`)."""
        return (await self.page(key, version, build)).body

    async def page(self, key: Hashable, version: Version,
                   build: Callable[[], Awaitable[bytes]],
                   max_age: float | None = None, activity: int | None = None) -> CachedPage:
        """The page for content `version`, built by `build()` when missing or of an older
        version; when only old in age, answered as it is while a rebuild runs in the
        background. `version` (and `activity`) must be read before the build starts, so a
        write during the build leaves the result labelled with the older version and it is
        rebuilt on the next request. `max_age` overrides the cache's own for this page;
        with `activity`, it applies only once that counter moved (see the module's doc)."""
        page = self._pages.get(key)
        if page is not None and page.version == version:
            self._pages.move_to_end(key)
            age = self._clock() - page.built_at
            limit = self.max_age if max_age is None else max_age
            if activity is not None and activity == page.activity:
                limit = max(limit, self.names_max_age)
            if age >= limit and key not in self._building:
                task = asyncio.get_running_loop().create_task(
                    self._refresh(key, version, build, activity))
                self._refreshing.add(task)
                task.add_done_callback(self._refreshing.discard)
            return page
        return await self._build(key, version, build, activity)

    async def _refresh(self, key: Hashable, version: Version,
                       build: Callable[[], Awaitable[bytes]], activity: int | None) -> None:
        try:
            await self._build(key, version, build, activity)
        except Exception:  # the old page is still served; the next reader tries again
            log.warning("rebuilding cached page %r failed", key, exc_info=True)

    async def _build(self, key: Hashable, version: Version,
                     build: Callable[[], Awaitable[bytes]],
                     activity: int | None = None) -> CachedPage:
        pending = self._building.get(key)
        if pending is not None and pending[0] == version:
            return await asyncio.shield(pending[1])
        future: asyncio.Future[CachedPage] = asyncio.get_running_loop().create_future()
        self._building[key] = (version, future)
        started = self._clock()
        try:
            body = await build()
        except BaseException as exc:
            # A cancelled builder (its reader missed its deadline, `within`, or the server
            # is stopping) does not cancel its waiters: a CancelledError in a task nobody
            # cancelled is answered as a bug (middleware.py). They get the answer of a
            # missed deadline instead (503 with Retry-After, as the builder's reader).
            future.set_exception(
                DeadlineError("the build of this page, shared with another read, was cut off")
                if isinstance(exc, asyncio.CancelledError) else exc)
            future.exception()  # marked retrieved: waiters get it, no one else must
            raise
        finally:
            if self._building.get(key, (None, None))[1] is future:
                del self._building[key]
        page = CachedPage(body, version, started, etag_of(body), activity)
        future.set_result(page)
        kept = self._pages.get(key)
        if kept is not None and kept.version > version:
            return page  # a build begun after a later write finished first: keep its page
        if kept is not None:
            self._bytes -= len(kept.body)
        self._pages[key] = page
        self._pages.move_to_end(key)
        self._bytes += len(body)
        while len(self._pages) > self._size or (self._bytes > self._max_bytes
                                                and len(self._pages) > 1):
            self._bytes -= len(self._pages.popitem(last=False)[1].body)
        return page


def not_modified(if_none_match: str | None, page: CachedPage) -> bool:
    """Whether the client already holds these bytes (RFC 9110's weak comparison: `W/`
    prefixes are ignored)."""
    if if_none_match is None:
        return False
    held = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return page.etag in held or "*" in held


def answer(if_none_match: str | None, page: CachedPage, media_type: str,
           headers: dict[str, str] | None = None) -> Response:
    """The page as a response with its ETag, or 304 Not Modified (no body) when the client
    already holds these bytes."""
    extra = {**(headers or {}), "ETag": page.etag}
    if not_modified(if_none_match, page):
        return Response(status_code=304, headers=extra)
    return Response(page.body, media_type=media_type, headers=extra)

"""A signed-in reader's full-text search without the whole walk per request.

The candidates of a search are the newest SEARCH_CANDIDATES matches the reader may see, ranked
by `ts_rank` (docs/blogs.md). For an anonymous reader they are public blogs only, and the
answer is kept. A signed-in reader's were found by one query that walked the newest-first
index testing every blog's text, audience and blocks: 5-300 ms each, per request (the 0.01x
of docs/performance.md). Their candidates are:

    (the public matches) minus (those by authors with a block between them and the reader)
    plus (the non-public matches the reader's audience admits: their own, their friends',
          and the followers-only blogs of people they follow),

so here the public part is kept per search, as the anonymous answer is (compared against
the content version: exact for every publish, edit, audience change, hide and delete), and
only the reader's own part is asked of the store, a query bounded by the authors they are
close to. The two are merged newest first, cut at SEARCH_CANDIDATES and ranked exactly as
the store ranks: (rank, published_at, id), all descending.

When the reader's blocks remove so many kept public matches that fewer than
SEARCH_CANDIDATES remain of a list that had more, older public matches would be needed: the
store answers that search as before (`None` from `ranked_ids`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Awaitable, Callable, Generic, Hashable, TypeVar

from .model import BlogFilter

SEARCH_CANDIDATES = 500
# Kept beyond SEARCH_CANDIDATES, so that a reader's blocks can remove this many public
# matches before their search must go to the store.
BLOCK_MARGIN = 100


@dataclass(frozen=True, slots=True)
class Candidate:
    """A matching blog, with what ranks it and what decides who may see it."""

    id: int
    author_id: int
    published_at: datetime
    rank: float


@dataclass(frozen=True, slots=True)
class PublicMatches:
    """The newest public matches of a search, newest first; `complete` when there are no
    more than these. `ranked`: an anonymous reader's candidates, best first."""

    candidates: tuple[Candidate, ...]
    complete: bool
    ranked: list[Candidate]


def is_public_view(public: PublicMatches, blocked: frozenset[int],
                   own: list[Candidate]) -> bool:
    """Whether the reader's candidates are an anonymous reader's: nothing of their own to
    add, and none of the public candidates by an author blocked either way."""
    return not own and not (blocked and any(c.author_id in blocked for c in public.ranked))


def newest_first(c: Candidate) -> tuple[datetime, int]:
    return c.published_at, c.id


def best_first(c: Candidate) -> tuple[float, datetime, int]:
    return c.rank, c.published_at, c.id


def merge(public: PublicMatches, blocked: frozenset[int],
          own: list[Candidate]) -> list[Candidate] | None:
    """The reader's candidates, best first; None when the kept public matches do not reach
    far enough past the reader's blocks."""
    if is_public_view(public, blocked, own):
        return public.ranked
    shown = [c for c in public.candidates if c.author_id not in blocked]
    if len(shown) < SEARCH_CANDIDATES and not public.complete:
        return None
    newest = sorted([*shown, *own], key=newest_first, reverse=True)[:SEARCH_CANDIDATES]
    return sorted(newest, key=best_first, reverse=True)


class PublicMatchCache:
    """The public matches of recent searches, each for the content version it was read at."""

    def __init__(self, read: Callable[[BlogFilter, int], Awaitable[list[Candidate]]],
                 size: int = 64) -> None:
        # Bounded by count: each search keeps a few hundred small candidates.
        self._read = read
        self._size = size
        self._kept: OrderedDict[BlogFilter, tuple[int, PublicMatches]] = OrderedDict()

    async def get(self, terms: BlogFilter, version: int) -> PublicMatches:
        """`version` is read before the store is asked, so a write during the read leaves
        the result labelled older: it is read again next time."""
        kept = self._kept.get(terms)
        if kept is not None and kept[0] == version:
            self._kept.move_to_end(terms)
            return kept[1]
        want = SEARCH_CANDIDATES + BLOCK_MARGIN
        found = await self._read(terms, want + 1)
        kept = tuple(found[:want])
        ranked = sorted(kept[:SEARCH_CANDIDATES], key=best_first, reverse=True)
        matches = PublicMatches(kept, len(found) <= want, ranked)
        self._kept[terms] = (version, matches)
        self._kept.move_to_end(terms)
        while len(self._kept) > self._size:
            self._kept.popitem(last=False)
        return matches


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class KeptByVersion(Generic[K, V]):
    """Values read by `read(key, version)`, each kept for the content version it was read
    at (read before the store is asked: a write during the read leaves it labelled older)."""

    def __init__(self, read: Callable[[K, int], Awaitable[V]], size: int = 256) -> None:
        self._read = read
        self._size = size
        self._kept: OrderedDict[K, tuple[int, V]] = OrderedDict()

    async def get(self, key: K, version: int) -> V:
        kept = self._kept.get(key)
        if kept is not None and kept[0] == version:
            self._kept.move_to_end(key)
            return kept[1]
        value = await self._read(key, version)
        self._kept[key] = (version, value)
        self._kept.move_to_end(key)
        while len(self._kept) > self._size:
            self._kept.popitem(last=False)
        return value

"""What caches of blog answers compare against: counters that every write moves."""

from __future__ import annotations

from typing import Callable

ACTIVITY_SLOTS = 4096
ID_BLOCK = 1000  # see of_ids: a sitemap part of 2,000 ids spans two or three blocks


class BlogVersions:
    def __init__(self) -> None:
        # Bumped by every write that can change which blogs a list shows or in what order
        # (publish, edit, delete): caches of public lists compare against it.
        self.content = 0
        # Bumped by what changes one blog's counts or comments (reactions; comments added,
        # edited, hidden, deleted), in slots shared by blog id modulo their number: bounded
        # memory; a shared slot only costs a rebuild.
        self._activity = [0] * ACTIVITY_SLOTS
        # Bumped with any slot: caches of lists refresh their counts only once it moved.
        self.activity = 0
        # Writes per block of ID_BLOCK blog ids, and an epoch for writes whose blogs are not
        # known one by one: what a cache of blogs picked by id (a sitemap part) compares.
        self._written: dict[int, int] = {}
        self._epoch = 0
        # Told of each move (("wrote" or "touched"), blog id or None), so other instances
        # sharing the store move theirs too (`moved_elsewhere`; nirvana/wiring/instances.py).
        self.on_move: Callable[[str, int | None], None] | None = None

    def wrote(self, blog_id: int | None) -> None:
        """A write changed what blog `blog_id` shows (None: blogs not known one by one), so
        lists may show other blogs, or in another order."""
        self._wrote(blog_id)
        if self.on_move is not None:
            self.on_move("wrote", blog_id)

    def touched(self, blog_id: int) -> None:
        """One blog's counts or comments changed."""
        self._touched(blog_id)
        if self.on_move is not None:
            self.on_move("touched", blog_id)

    def moved_elsewhere(self, kind: str, blog_id: int | None) -> None:
        """Another instance wrote (or touched the counts of) a blog in the shared store:
        the versions here move as if the write had been made here."""
        if kind == "wrote":
            self._wrote(blog_id)
        elif blog_id is not None:
            self._touched(blog_id)

    def _wrote(self, blog_id: int | None) -> None:
        self.content += 1
        if blog_id is None:
            self._epoch += 1
        else:
            block = blog_id // ID_BLOCK
            self._written[block] = self._written.get(block, 0) + 1

    def _touched(self, blog_id: int) -> None:
        self._activity[blog_id % ACTIVITY_SLOTS] += 1
        self.activity += 1

    def of_blog(self, blog_id: int) -> tuple[int, int]:
        """What a cached copy of one blog compares against: every write that can change
        what that blog's answer or page holds moves it (the content version, or its
        reactions and comments)."""
        return self.content, self._activity[blog_id % ACTIVITY_SLOTS]

    def of_ids(self, first_id: int, last_id: int) -> tuple[int, ...]:
        """What a cached answer about blogs first_id..last_id only (by id, whatever their
        dates) compares against: every publish, edit, audience change, hide and delete of
        a blog in that range moves it, and nothing outside it does."""
        return (self._epoch, *(self._written.get(block, 0)
                               for block in range(first_id // ID_BLOCK, last_id // ID_BLOCK + 1)))

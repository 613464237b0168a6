"""What the blogs domain announces to other features: domain events and their port.

A blog is announced when it becomes public for the first time: written as published, a
draft published, or a scheduled blog reaching its time (whoever does it: a route, a page, the
scheduled publisher). `bootstrap.py` wires the listeners (notifications to followers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BlogPublished:
    """A blog became public. Sent after the change is committed, once per blog: a blog
    unpublished and published again keeps its first `published_at` and is not announced
    again."""

    blog_id: int
    author_id: int
    title: str
    slug: str
    published_at: datetime


class BlogEvents(Protocol):
    def publish(self, event: BlogPublished) -> None:
        """Never blocks and never raises: called after the change is committed."""
        ...


class NoListeners:
    """For blogs nobody listens to (unit tests of the rules alone)."""

    def publish(self, event: BlogPublished) -> None:
        pass

"""Reactions on blogs (MySocial's): one per user per blog, of one kind among six.

A like is the reaction `like`: the like routes set and clear it, and `likes_count` is the
count of that kind. Changing one's reaction replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .authors import Author


class Reaction(StrEnum):
    LIKE = "like"
    LOVE = "love"
    HAHA = "haha"
    WOW = "wow"
    SAD = "sad"
    ANGRY = "angry"


@dataclass(frozen=True, slots=True)
class ReactionCounts:
    """How many of each kind a blog has; exact (kept by the store's triggers)."""

    like: int = 0
    love: int = 0
    haha: int = 0
    wow: int = 0
    sad: int = 0
    angry: int = 0

    def of(self, kind: Reaction) -> int:
        return int(getattr(self, kind.value))

    def as_dict(self) -> dict[str, int]:
        return {kind.value: self.of(kind) for kind in Reaction}

    @property
    def total(self) -> int:
        return sum(self.as_dict().values())


@dataclass(frozen=True, slots=True)
class Reactor:
    """Someone who reacted, with what and when (the who-reacted list)."""

    user: Author
    kind: Reaction
    at: datetime


@dataclass(frozen=True, slots=True)
class ReactionState:
    """A blog's counts and the caller's own reaction (None: none)."""

    counts: ReactionCounts
    mine: Reaction | None

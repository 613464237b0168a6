"""A user as blogs show them: beside a blog, a comment, a reaction and in blog events.

Its own module because the blog, its comments and its reactions all carry one, and
reactions.py must not import model.py (model.py imports the reaction types)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Author:
    id: int
    username: str
    name: str
    avatar_url: str | None

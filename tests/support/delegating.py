"""A stand-in for an object the code under test uses (a collection, say), with some of its
operations steered or watched by a test and every other attribute the object's own."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

S = TypeVar("S")


class Delegating(Generic[S]):
    """`inner`, with the operations a subclass defines steered or watched through `steer`
    (what the test sets and reads: switches, holds, counts); every other attribute is
    `inner`'s, so the code under test uses it as it would the plain one."""

    def __init__(self, inner: Any, steer: S) -> None:
        self._inner, self._steer = inner, steer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

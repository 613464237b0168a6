"""What the social graph announces to other features: domain events and their port.

Rules that span features hang on these, not on each entry point: presence never crosses a
block because every friendship that begins or ends is announced here, whichever route,
command or job changed it (`bootstrap.py` wires the listener).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class FriendshipChanged:
    """`a` and `b` became friends, or stopped being friends (also by a block). Sent after the
    change is stored; also when it changed nothing (a retry), which listeners ignore."""

    a: int
    b: int
    friends: bool


class SocialEvents(Protocol):
    def publish(self, event: FriendshipChanged) -> None:
        """Never blocks and never raises: called after the change is committed."""
        ...


class NoListeners:
    """For a graph nobody listens to (unit tests of the rules alone)."""

    def publish(self, event: FriendshipChanged) -> None:
        pass

"""What the social graph announces to other features: domain events and their port.

Rules that span features hang on these, not on each entry point: presence never crosses a
block because every friendship that begins or ends is announced here, and a friend request or
a new follower notifies its recipient, whichever route, command or job changed the graph
(`bootstrap.py` wires the listeners).
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


@dataclass(frozen=True, slots=True)
class FriendRequestSent:
    sender: int
    recipient: int


@dataclass(frozen=True, slots=True)
class FriendRequestWithdrawn:
    """A pending request ended without a friendship: cancelled by its sender or declined."""

    sender: int
    recipient: int


@dataclass(frozen=True, slots=True)
class FriendRequestAccepted:
    """`accepter` accepted the request `requester` had sent (only when it created the
    friendship, never on a retry)."""

    accepter: int
    requester: int


@dataclass(frozen=True, slots=True)
class Followed:
    follower: int
    followee: int


@dataclass(frozen=True, slots=True)
class Unfollowed:
    follower: int
    followee: int


@dataclass(frozen=True, slots=True)
class Blocked:
    blocker: int
    blocked: int


SocialEvent = (FriendshipChanged | FriendRequestSent | FriendRequestWithdrawn
               | FriendRequestAccepted | Followed | Unfollowed | Blocked)


class SocialEvents(Protocol):
    async def publish(self, event: SocialEvent) -> None:
        """Awaited after the change is committed; never raises."""
        ...


class NoListeners:
    """For a graph nobody listens to (unit tests of the rules alone)."""

    async def publish(self, event: SocialEvent) -> None:
        pass

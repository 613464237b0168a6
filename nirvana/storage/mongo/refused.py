"""The senders a chat writer refuses: accounts whose chat text was erased (erasure.py).

A send of such an account that passed its last check before the writer heard of the
deletion (AccountExists, domain/accounts/standing.py, asked again right before the send is
queued: from memory, or from a PostgreSQL read made before the deletion committed), and is
still queued when the erasure's second phase runs, is refused when a batch takes it. Such a
send was queued within seconds of the deletion (a second to hear of it, a command timeout),
so an account is kept for a bounded time, and the set empties again: its check is the send
path's whole cost while it is empty. A send still queued past that bound (a store stalled
that long) is not refused: docs/cluster-chat.md, "Also left".
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ...domain.errors import AuthenticationError
from .work_items import Send


class RefusedSenders:
    def __init__(self, kept: float, now: Callable[[], float] = time.monotonic) -> None:
        # Seconds an account stays refused: a send's checks, then its wait in the queue,
        # take far less (ChatWriter sets it from its store timeout; a store that stalls
        # longer than this keeps sends queued longer: docs/cluster-chat.md).
        self.kept = kept
        self._now = now
        self._since: dict[int, float] = {}  # user id -> when refused (monotonic)

    def __len__(self) -> int:
        return len(self._since)

    def add(self, user_id: int) -> None:
        self._since[user_id] = self._now()

    def prune(self) -> None:
        """Let go of the accounts refused more than `kept` seconds ago."""
        cutoff = self._now() - self.kept
        for user_id in [u for u, since in self._since.items() if since < cutoff]:
            del self._since[user_id]

    def without(self, items: list[Any]) -> list[Any]:
        """`items` without the sends of refused accounts, each refused `unknown_user`;
        then the accounts past `kept` are let go."""
        if not self._since:  # the send path's whole cost while nobody is refused
            return items
        kept = []
        for item in items:
            if isinstance(item, Send) and item.draft.sender_id in self._since:
                item.refuse(AuthenticationError("This account no longer exists.",
                                                code="unknown_user"))
            else:
                kept.append(item)
        self.prune()
        return kept

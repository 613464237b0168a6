"""The scheduled publisher: one background task that publishes scheduled blogs at their time.

It looks at start (so blogs that fell due while the server was down are published at once),
then sleeps until the next blog is due, at most `poll` seconds: another process may have
scheduled an earlier one, and a local schedule wakes it directly (`wake`). Publishing itself
is `Blogs.publish_due`, exactly once per blog however many processes run this loop.
"""

from __future__ import annotations

import asyncio
import logging

from .domain.blogs.service import Blogs
from .domain.clock import Clock
from .tasks import stop_if_cancelled

log = logging.getLogger("nirvana.publisher")


class ScheduledPublisher:
    def __init__(self, blogs: Blogs, clock: Clock, *, poll: float = 30.0) -> None:
        self._blogs = blogs
        self._clock = clock
        self._poll = poll
        self._wake = asyncio.Event()
        blogs.on_schedule.append(self.wake)

    def wake(self) -> None:
        """Look again now: a schedule was set or moved."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            # Cleared before looking, so a wake during the look is not lost.
            self._wake.clear()
            delay = self._poll
            try:
                published = await self._blogs.publish_due()
                if published:
                    log.info("published scheduled blogs", extra={"count": len(published)})
                due = await self._blogs.next_scheduled()
                if due is not None:
                    delay = min(self._poll,
                                max(0.0, (due - self._clock.now()).total_seconds()))
            except Exception:
                log.exception("scheduled publishing failed; retrying")
                stop_if_cancelled()
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                pass

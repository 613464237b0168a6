"""One registry for domain events (blogs, the social graph): every listener hears every
event in the order they subscribed, plain or coroutine functions alike, and one that fails
is logged without keeping the event from the others."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from nirvana.wiring.events import EventListeners

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Published:
    blog_id: int


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_every_listener_hears_each_event_in_order_and_a_failure_stops_none():
    heard: list[tuple[str, int]] = []

    def plain(event: Published) -> None:
        heard.append(("plain", event.blog_id))

    async def awaited(event: Published) -> None:
        heard.append(("awaited", event.blog_id))

    def failing(event: Published) -> None:
        raise RuntimeError("the mail relay is down")

    async def failing_later(event: Published) -> None:
        raise RuntimeError("the notifications table is locked")

    listeners = EventListeners(plain, failing)
    listeners.subscribe(failing_later)
    listeners.subscribe(awaited)
    # A handler of its own on the logger, enabled: a library's logging configuration met
    # earlier in the run may have disabled the loggers that existed then.
    kept, logger = Kept(), logging.getLogger("nirvana")
    logger.addHandler(kept)
    disabled, logger.disabled = logger.disabled, False
    try:
        await listeners.publish(Published(7))
        await listeners.publish(Published(8))
    finally:
        logger.removeHandler(kept)
        logger.disabled = disabled
    assert heard == [("plain", 7), ("awaited", 7), ("plain", 8), ("awaited", 8)]
    failures = [r for r in kept.records if r.getMessage() == "a domain event listener failed"]
    assert [(r.event, r.blog_id) for r in failures] == [("Published", 7)] * 2 + [
        ("Published", 8)] * 2
    assert all(r.exc_info for r in failures)

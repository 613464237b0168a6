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


async def test_every_listener_hears_each_event_in_order_and_a_failure_stops_none(caplog):
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
    with caplog.at_level(logging.ERROR, logger="nirvana"):
        await listeners.publish(Published(7))
        await listeners.publish(Published(8))
    assert heard == [("plain", 7), ("awaited", 7), ("plain", 8), ("awaited", 8)]
    failures = [r for r in caplog.records if r.getMessage() == "a domain event listener failed"]
    assert [(r.event, r.blog_id) for r in failures] == [("Published", 7)] * 2 + [
        ("Published", 8)] * 2
    assert all(r.exc_info for r in failures)

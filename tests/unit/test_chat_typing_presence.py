"""Typing throttle and expiry (TypingTracker) and presence visibility, without sockets."""

from __future__ import annotations

from typing import Callable

from nirvana.domain.presence import Presence
from tests.support.clock import FakeClock
from tests.support.fakes_chat import FakeChatStore, FakePeers
from tests.support.fakes_chat_changes import FakeChatChanges, FakePresenceStore
from nirvana.ws.typing import TypingTracker


class TickTimer:
    """A timer handle that only its Tick fires: what the tracker calls on one (cancel)."""

    def __init__(self) -> None:
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled


class Tick:
    """The tracker's clock and timers: time moves only when the test says."""

    def __init__(self) -> None:
        self.t = 0.0
        self.timers: list[tuple[float, Callable[..., None], tuple, TickTimer]] = []

    def __call__(self) -> float:
        return self.t

    def call_later(self, delay: float, callback: Callable[..., None], *args) -> TickTimer:
        # Not an asyncio.TimerHandle: cancelling one tells its loop, which the event loop
        # never ran and uvloop does not accept.
        handle = TickTimer()
        self.timers.append((self.t + delay, callback, args, handle))
        return handle

    def advance(self, seconds: float) -> None:
        self.t += seconds
        due = [t for t in self.timers if t[0] <= self.t]
        self.timers = [t for t in self.timers if t[0] > self.t]
        for _, callback, args, handle in sorted(due, key=lambda t: t[0]):
            if not handle.cancelled():
                callback(*args)


def tracker(ttl=0.05, throttle=2.0):
    sent: list[tuple] = []
    clock = Tick()
    t = TypingTracker(lambda c, u, a, aud: sent.append((c, u, a, tuple(aud))), ttl=ttl,
                      throttle=throttle, clock=clock, call_later=clock.call_later)
    return t, sent, clock


async def test_repeat_within_throttle_is_not_rebroadcast_but_extends():
    t, sent, clock = tracker(ttl=10)
    t.update("c", 1, True, [2])
    clock.t = 1.0
    t.update("c", 1, True, [2])
    assert sent == [("c", 1, True, (2,))]
    clock.t = 2.5
    t.update("c", 1, True, [2])
    assert len(sent) == 2
    t.update("c", 1, False, [2])
    t.update("c", 1, False, [2])  # a stop with nothing active says nothing
    assert sent[-1] == ("c", 1, False, (2,)) and len(sent) == 3


async def test_indicator_expires_by_itself_unless_renewed():
    t, sent, clock = tracker(ttl=2.0, throttle=2.0)
    t.update("c", 1, True, [2])
    clock.advance(1.5)
    t.update("c", 1, True, [2])  # renewal inside the throttle: extends the ttl
    clock.advance(1.5)  # past the first ttl, inside the renewed one
    assert t.is_active("c", 1) and sent == [("c", 1, True, (2,))]
    clock.advance(1.0)
    assert not t.is_active("c", 1) and sent[-1] == ("c", 1, False, (2,))


async def test_stop_user_ends_every_indicator_of_that_user():
    t, sent, _ = tracker(ttl=10)
    t.update("a", 1, True, [2])
    t.update("b", 1, True, [3])
    t.update("b", 5, True, [3])
    t.stop_user(1)
    assert {s for s in sent if not s[2]} == {("a", 1, False, (2,)), ("b", 1, False, (3,))}
    assert t.is_active("b", 5)


async def test_presence_audience_is_friends_and_conversation_peers_only():
    peers, store = FakePeers(), FakeChatStore()
    changes = FakeChatChanges(store)
    presence = Presence(store=FakePresenceStore(), peers=peers, changes=changes,
                        clock=FakeClock())
    peers.befriend(1, 2)
    from nirvana.domain.chat.service import ChatService
    from tests.support.fakes_chat import RecordingPublisher
    chat = ChatService(store=store, changes=changes, peers=peers,
                       publisher=RecordingPublisher(), clock=FakeClock())
    peers.befriend(2, 3)
    await chat.create_group(2, "G", [1, 3])
    assert await presence.audience(1) == {2, 3}
    assert await presence.audience(4) == set()
    seen = await presence.seen(1)
    assert await presence.last_seen([1, 4]) == {1: seen}

"""The chat domain's in-process caches, fed directly."""

from __future__ import annotations

from datetime import datetime, timezone

from nirvana.domain.chat.cache import ChatCache
from nirvana.domain.chat.entities import (
    Conversation,
    ConversationKind,
    Member,
    Message,
    MessageKind,
    Role,
)

T = datetime(2025, 1, 1, tzinfo=timezone.utc)


def msg(seq: int, cid: str = "c", text: str = "x") -> Message:
    return Message(f"{cid}{seq}", cid, seq, seq, 1, f"k{seq}", MessageKind.TEXT, text, (),
                   None, T)


def test_latest_page_is_served_only_when_it_ends_at_the_last_seq():
    cache = ChatCache(recent=5)
    assert cache.latest("c", 0, 5) is None  # never read: the store answers
    cache.fill("c", [msg(s) for s in range(1, 4)])
    assert [m.seq for m in cache.latest("c", 3, 5)] == [1, 2, 3]
    assert cache.latest("c", 4, 5) is None  # a message memory has not seen
    cache.appended(msg(4))
    assert [m.seq for m in cache.latest("c", 4, 2)] == [3, 4]


def test_window_keeps_the_newest_and_never_serves_a_partial_page():
    cache = ChatCache(recent=3)
    cache.fill("c", [msg(s) for s in range(10, 13)])
    cache.appended(msg(13))
    assert [m.seq for m in cache.latest("c", 13, 3)] == [11, 12, 13]
    assert cache.latest("c", 13, 4) is None  # more than memory holds


def test_a_gap_drops_the_window_and_a_gapped_fill_is_refused():
    cache = ChatCache(recent=5)
    cache.fill("c", [msg(1), msg(2)])
    cache.appended(msg(4))  # 3 was missed (e.g. it resolved after a timeout)
    assert cache.latest("c", 4, 5) is None
    cache.fill("c", [msg(1), msg(3)])
    assert cache.latest("c", 3, 5) is None


def test_changed_message_replaces_the_held_one():
    cache = ChatCache(recent=5)
    cache.fill("c", [msg(1), msg(2)])
    cache.message_changed(msg(2, text="edited"))
    assert cache.latest("c", 2, 5)[-1].text == "edited"


def test_lru_bounds_conversations_and_histories():
    cache = ChatCache(recent=2, max_histories=2)
    for cid in "abc":
        cache.fill(cid, [msg(1, cid)])
    assert cache.latest("a", 1, 1) is None and cache.latest("c", 1, 1) is not None


def conv(cid: str) -> Conversation:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return Conversation(id=cid, kind=ConversationKind.GROUP,
                        members=[Member(1, Role.OWNER, 0, 0)], created_by=1, created_at=now,
                        last_activity=now)


def test_a_read_that_raced_a_forget_is_not_cached():
    cache = ChatCache(max_conversations=2)
    stale = conv("c1")
    generation = cache.generation("c1")  # a request starts reading c1 from the store
    cache.forget("c1")  # meanwhile a member is removed
    assert cache.keep(stale, generation) is stale  # used for that one request...
    assert cache.conversation("c1") is None  # ...but not cached: the next one re-reads
    cache.keep(stale, cache.generation("c1"))
    assert cache.conversation("c1") is stale
    for other in ("c2", "c3", "c4"):  # evicting old forget records stays safe
        cache.forget(other)
    cache.keep(conv("c5"), generation)
    assert cache.conversation("c5") is None


def test_a_page_read_that_raced_a_forget_is_not_held():
    cache = ChatCache(recent=5)
    generation = cache.generation("c")  # a history read starts; the store sees the text
    cache.forget("c")  # meanwhile the sender's messages are erased (or one is edited)
    cache.fill("c", [msg(1, text="secret")], generation)
    assert cache.latest("c", 1, 5) is None  # the next read goes to the store
    cache.fill("c", [msg(1, text="")], cache.generation("c"))
    assert cache.latest("c", 1, 5)[0].text == ""

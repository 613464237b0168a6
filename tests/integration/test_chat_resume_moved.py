"""Resume past a message an older release moved to the head with its old seq (marked
`moved`), below a later seq of its conversation: this release never moves one, but reads
such documents, and replays it from a position between the two (docs/protocol.md, "resume
after P misses nothing")."""

from __future__ import annotations

import pytest

from nirvana.storage.mongo.chat_store import MongoChatStore
from tests.support.late_sends import moved_below_a_later_seq, replayed

ORDERS = pytest.mark.parametrize("flushed_before_move", [False, True],
                                 ids=["later-unwritten", "later-written"])


@ORDERS
async def test_resume_replays_a_late_send_moved_past_a_later_seq(
        client, services, flaky, flushed_before_move):
    s = await moved_below_a_later_seq(client, services, flaky,
                                      flushed_before_move=flushed_before_move)
    assert await replayed(s.store, s.a, s.since) == s.expected  # its summary unwritten
    await s.store.summaries.flush()
    assert await replayed(s.store, s.a, s.since) == s.expected  # written
    restarted = MongoChatStore()
    try:
        assert await replayed(restarted, s.a, s.since) == s.expected
    finally:
        await restarted.close()


@ORDERS
async def test_resume_replays_a_late_send_moved_past_a_later_seq_after_a_crash(
        client, services, flaky, flushed_before_move):
    """The writer's summaries die with it; the next start re-summarises the messages past
    the checkpoint from their documents."""
    s = await moved_below_a_later_seq(client, services, flaky,
                                      flushed_before_move=flushed_before_move)
    restarted = MongoChatStore()  # its recover reads what the crashed one never wrote
    try:
        assert await replayed(restarted, s.a, s.since) == s.expected
    finally:
        await restarted.close()


@ORDERS
async def test_a_follower_replays_a_late_send_moved_past_a_later_seq(
        client, services, flaky, flushed_before_move):
    """Another process resumes the client: it reads the writer's unwritten summaries from
    the messages past the checkpoint, and its written ones from the store."""
    s = await moved_below_a_later_seq(client, services, flaky,
                                      flushed_before_move=flushed_before_move)
    follower = MongoChatStore()
    try:
        await follower.follow(s.store.head)
        assert await replayed(follower, s.a, s.since) == s.expected
        await s.store.summaries.flush()
        assert await replayed(follower, s.a, s.since) == s.expected
    finally:
        await follower.close()

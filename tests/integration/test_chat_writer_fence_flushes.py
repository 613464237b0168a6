"""A deposed chat writer's summary flush (storage/mongo/summaries.py `flush`, fenced by
fence.py `writes`): two writers over the real MongoDB-wire store, as two instances are
after a takeover. The pause a SIGSTOP can land before a flush is made deterministic by
flushing the deposed writer's buffer by hand once the next writer has written."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.fence import TOKEN, FencedOutError
from nirvana.storage.mongo.summaries import CHECKPOINT_ID
from tests.support.chat_collections import SummaryClock
from tests.support.chat_writers import chat_on, send

# Never due on its own during a test: the deposed writer's summaries stay buffered.
HELD = 3600.0


async def flush_late_across_a_new_lead(old: MongoChatStore, epoch: int) -> None:
    """A flush of `old` takes its epoch, then waits its turn behind the fence's lock (held
    here as another fenced write of the process would) while `old` leads again at `epoch`;
    returns once that late flush is done."""
    async with old.fence._one_at_a_time:
        late = asyncio.create_task(old.summaries.flush_quietly())
        await asyncio.sleep(0.05)
        await old.lead(lambda: True, epoch)
    await late


async def test_a_deposed_writers_late_flush_leaves_the_next_writers_summary(
        services, chats, writers, caplog):
    """The deposed writer acknowledged a message and buffered its summary; the next
    writer re-summarised it, then edited it (the conversation's last message) and flushed.
    The deposed writer's background flush, due after that, would put back the unedited
    copy: it is refused, and its flush stops trying (the next tick would be refused too)
    until the process follows or leads again."""
    a, b, with_b, _ = chats
    clock = SummaryClock()  # still until moved: nothing is due before the takeover
    old, new = MongoChatStore(summary_interval=0.2, summary_clock=clock), MongoChatStore()
    writers += [old, new]
    await old.lead(lambda: True, 1)
    await send(old, with_b, a, "m")
    await new.lead(lambda: True, 2)
    await chat_on(new, services).edit_message(a, with_b.id, 1, "edited")
    await new.summaries.flush()
    states, meta = ChatCollections().states, ChatCollections().meta
    checkpoint = (await meta.find_one({"_id": CHECKPOINT_ID}))["pos"]
    caplog.set_level("WARNING", logger="nirvana.chat.store")
    clock.now += 1  # due: the paused writer wakes, its flush ticking every 0.02 s
    await asyncio.sleep(0.5)
    assert [r.getMessage() for r in caplog.records if r.name == "nirvana.chat.store"] == [
        "conversation summary flush failed: FencedOutError"]
    state = await states.find_one({"_id": with_b.id})
    assert state["last_message"]["text"] == "edited" and state["last_seq"] == 1
    assert (await meta.find_one({"_id": CHECKPOINT_ID}))["pos"] == checkpoint
    assert old.summaries.commits == 0
    # Still buffered (its own reads apply it) until it follows, which drops it; a flush
    # asked for by hand is refused alike.
    assert old.summaries.unwritten()[0]
    with pytest.raises(FencedOutError) as refused:
        await old.summaries.flush()
    assert refused.value.stamped == 1


async def test_a_live_writers_flush_lands_through_the_fence(services, chats, writers):
    a, b, with_b, _ = chats
    store = MongoChatStore(summary_interval=HELD)
    writers.append(store)
    await store.lead(lambda: True, 1)
    await send(store, with_b, a, "m")
    meta = ChatCollections().meta
    checked = (await meta.find_one({"_id": TOKEN})).get("transactions", 0)
    await store.summaries.flush()
    state = await ChatCollections().states.find_one({"_id": with_b.id})
    assert state["last_message"]["text"] == "m"
    assert (await meta.find_one({"_id": TOKEN}))["transactions"] == checked + 1


async def test_a_one_process_flush_does_not_touch_the_fence(services, chats):
    """One process (no epoch) writes its summaries as before: no check of the token."""
    a, b, with_b, _ = chats
    await services.chat.send_message(a, with_b.id, client_id="m", text="m")
    await services.chat_store.summaries.flush()
    state = await ChatCollections().states.find_one({"_id": with_b.id})
    assert state["last_message"]["text"] == "m"
    assert await ChatCollections().meta.find_one({"_id": TOKEN}) is None


async def test_a_deposed_writers_first_read_answers_retry(services, chats, writers):
    """A deposed writer that has not recovered yet recovers at its first read, and that
    recovery's flush is refused: the read answers the retryable FencedOutError (no crash,
    no data). What it re-summarised stays buffered, so a later read applies it."""
    a, b, with_b, _ = chats
    old, new = MongoChatStore(), MongoChatStore(summary_interval=HELD)
    writers += [old, new]
    await old.lead(lambda: True, 1)  # recovers at its first read or write
    await new.lead(lambda: True, 2)
    await send(new, with_b, a, "m")  # past the checkpoint: its summary held by `new`
    with pytest.raises(FencedOutError) as refused:
        await old.get_conversation(with_b.id)
    assert isinstance(refused.value, UnavailableError) and refused.value.stamped == 1
    assert (await old.get_conversation(with_b.id)).last_message.text == "m"


async def test_a_refusal_of_an_older_epoch_does_not_stop_the_flushes(
        services, chats, writers):
    """A flush stamped with epoch 1, refused after this process led again at epoch 3 (its
    turn came late): the refusal is of an epoch it no longer writes at, so its background
    flushes at epoch 3 go on, as its writer's commits do (writer.py `_deposed`)."""
    a, b, with_b, _ = chats
    clock = SummaryClock()
    old, new = MongoChatStore(summary_interval=0.2, summary_clock=clock), MongoChatStore()
    writers += [old, new]
    await old.lead(lambda: True, 1)
    await send(old, with_b, a, "m")
    await new.lead(lambda: True, 2)
    await flush_late_across_a_new_lead(old, epoch=3)
    assert old.summaries.commits == 0  # refused: stamped 1
    await send(old, with_b, a, "n")
    clock.now += 1  # due
    state = ChatCollections().states
    for _ in range(50):
        if (await state.find_one({"_id": with_b.id}))["last_seq"] == 2:
            break
        await asyncio.sleep(0.02)
    assert (await state.find_one({"_id": with_b.id}))["last_message"]["text"] == "n"


async def test_a_refused_flush_from_before_leading_again_is_not_merged_back(
        services, chats, writers):
    """As above, but the conversation's message in the next flush has the SAME seq: the
    next writer edited m (the last message) and did not flush. The late flush, begun
    before this process led again at epoch 3, is refused; what it held (m unedited) was
    dropped by `forget` and must not come back: the buffer keeps a copy over one of the
    same seq, so `recover`'s edited m would lose to it and the epoch-3 flush would write
    the old text back."""
    a, b, with_b, _ = chats
    clock = SummaryClock()
    old = MongoChatStore(summary_interval=HELD, summary_clock=clock)
    new = MongoChatStore(summary_interval=HELD)
    writers += [old, new]
    await old.lead(lambda: True, 1)
    await send(old, with_b, a, "m")
    await new.lead(lambda: True, 2)
    await chat_on(new, services).edit_message(a, with_b.id, 1, "edited")
    await flush_late_across_a_new_lead(old, epoch=3)
    assert old.summaries.commits == 0  # refused: stamped 1
    assert (await old.get_conversation(with_b.id)).last_message.text == "edited"
    await old.summaries.flush()
    state = await ChatCollections().states.find_one({"_id": with_b.id})
    assert state["last_seq"] == 1 and state["last_message"]["text"] == "edited"

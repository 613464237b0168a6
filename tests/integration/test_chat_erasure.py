"""A deleted account's chat erasure that nothing written around it puts back (issue: the
erasure ran outside the chat writer; storage/mongo/erasure.py says how it runs now). Over
the real MongoDB-wire store, one process; several instances: tests/e2e/test_cluster_chat.py."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.errors import AutoReconnect

from nirvana.domain.chat.entities import ReceiptKind
from nirvana.domain.chat.errors import MessageDeletedError
from nirvana.domain.errors import AuthenticationError, UnavailableError
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.erasure import MongoChatErasure
from nirvana.storage.mongo.work_items import Op
from tests.support.chat_writers import (
    PausedInsert,
    chat_on,
    draft,
    fence_without_transactions,
    queue,
    send,
)
from tests.support.erasure_steps import ErasureSteps, copies_of, erasing_chat
from tests.support.live_frames import live_frames, texts_in


async def stored(conversation_id: str, seq: int) -> dict:
    return await ChatCollections().messages.find_one({"conversation_id": conversation_id,
                                                      "seq": seq})


async def last_message(conversation_id: str) -> dict:
    state = await ChatCollections().states.find_one({"_id": conversation_id})
    return state.get("last_message") or {}


async def test_a_summary_still_buffered_is_flushed_before_the_erasure_finishes(
        services, chats, writers):
    """b's message is stored, its summary (the conversation's last message) only buffered
    when b's account is erased: the flush after the erasure must not write b's text into the
    conversation list."""
    a, b, with_b, _ = chats
    store = MongoChatStore(summary_interval=3600)
    writers.append(store)
    await send(store, with_b, b, "secret")
    assert (await last_message(with_b.id)).get("text") != "secret"  # buffered, not written
    await chat_on(store, services).erase_sender(b)
    await store.summaries.flush()
    summary = await last_message(with_b.id)
    assert summary["text"] == "" and summary["deleted"]
    [listed] = [c for c in (await store.conversations_of(a, 10)).items if c.id == with_b.id]
    assert listed.last_message is not None and listed.last_message.text == ""
    assert await copies_of("secret") == 0


async def test_a_summary_slice_in_flight_when_the_erasure_starts_is_erased_by_its_first_phase(
        services, chats, writers):
    """A flush slice holding b's message is on its way to the store (its lock held, its
    writes built) when b's erasure starts: the first phase waits for it to land, then
    tombstones it, so between the phases the conversation's last message shows no text."""
    a, b, with_b, _ = chats
    steps = ErasureSteps()
    store = MongoChatStore(db=steps, summary_interval=3600)
    writers.append(store)
    chat = chat_on(store, services, steps)
    await send(store, with_b, b, "secret")
    reached, release, between = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        reached.set()
        await release.wait()
    steps.before_states_bulk = hold
    flushing = asyncio.create_task(store.summaries.flush())
    await reached.wait()
    steps.after_first_phase = between.wait
    erasing = asyncio.create_task(chat.erase_sender(b))
    # Time for a first phase that did not wait to finish before the slice lands.
    await asyncio.wait([asyncio.create_task(steps.states_erased.wait())], timeout=0.3)
    release.set()
    await flushing
    await steps.states_erased.wait()
    summary = await last_message(with_b.id)
    assert summary["text"] == "" and summary["deleted"]
    between.set()
    await erasing
    assert await copies_of("secret") == 0


async def test_a_change_that_read_before_the_erasure_and_wrote_after_it_is_erased(
        services, chats, writers):
    """a reacts to b's message (the conversation's last): the reaction reads "secret" and
    plans; b's erasure then runs its first phase; then the reaction writes, only if the
    message is still as it read it (its transaction begins after the erasure committed, so
    meets no conflict). It is not: the reaction reads again and is refused, no frame to a
    or b carries the text, and when the erasure returns nothing holds it."""
    a, b, with_b, _ = chats
    store = MongoChatStore()
    writers.append(store)
    await send(store, with_b, b, "secret")
    await store.summaries.flush()  # the summary holds it: the change updates it too
    steps = ErasureSteps()
    chat = chat_on(store, services, steps)
    erasing: list[asyncio.Task[None]] = []

    async def erase_between_read_and_write() -> None:
        erasing.append(asyncio.create_task(chat.erase_sender(b)))
        await steps.states_erased.wait()  # its first phase is done
    steps.before_message_write = erase_between_read_and_write
    async with live_frames(services.hub, a, await store.head()) as to_a, \
            live_frames(services.hub, b, await store.head()) as to_b:
        with pytest.raises(MessageDeletedError):
            await chat.react(a, with_b.id, 1, "👍")
        frames = await to_a.read() + await to_b.read()
        assert not [f for f in frames if "secret" in texts_in(f)]
    await erasing[0]
    message = await stored(with_b.id, 1)
    assert message["text"] == "" and message["deleted"]
    assert (await last_message(with_b.id))["text"] == ""
    assert await copies_of("secret") == 0


async def test_a_send_queued_before_the_erasure_is_erased_and_one_after_it_refused(
        services, chats, writers):
    """b's send is on its way into the store when the erasure's first phase scans (it does
    not see it), and lands after: erased all the same. b's send queued after the erasure
    (a forwarded one still in Redis, a socket's past its checks) is refused."""
    a, b, with_b, _ = chats
    paused = PausedInsert()
    store = MongoChatStore(insert=paused)
    writers.append(store)
    await send(store, with_b, b, "first")
    steps = ErasureSteps()
    chat = chat_on(store, services, steps)
    paused.armed = True
    early = queue(store, draft(with_b, b, "early"))
    await paused.reached.wait()
    erasing = asyncio.create_task(chat.erase_sender(b))
    await steps.states_erased.wait()  # the first phase is done, "early" not stored yet
    paused.armed = False
    paused.release.set()
    message, created = await early
    assert created and message.text == "early"  # acknowledged as sent
    await erasing
    assert (await stored(with_b.id, message.seq))["deleted"]
    assert await copies_of("early") == 0 and await copies_of("first") == 0
    with pytest.raises(AuthenticationError) as refused:
        await queue(store, draft(with_b, b, "late"))
    assert refused.value.code == "unknown_user"
    assert await ChatCollections().messages.count_documents({"client_id": "late"}) == 0
    # The others still send; the summary of the conversation is a's message.
    assert (await send(store, with_b, a, "still here")).seq == message.seq + 1
    await store.summaries.flush()
    assert (await last_message(with_b.id))["text"] == "still here"


async def test_an_erasure_forgets_the_conversations_it_held_in_the_cache(
        services, chats, writers):
    """The latest page is served from memory: after the erasure it is read again and
    shows the tombstone."""
    a, b, with_b, _ = chats
    store = MongoChatStore()
    writers.append(store)
    chat = chat_on(store, services)
    await chat.send_message(b, with_b.id, client_id="s", text="secret")
    assert [m.text for m in await chat.history(a, with_b.id)] == ["secret"]  # cached
    await chat.erase_sender(b)
    assert [(m.text, m.deleted) for m in await chat.history(a, with_b.id)] == [("", True)]


async def test_a_receipt_between_the_phases_announces_no_erased_text(
        services, chats, writers):
    """b's "secret" is the last message of a's conversation with b, its conversation cached
    on the writer. Between the erasure's phases (phase 2 queued behind a send of a's to c
    being stored), a marks it read: the conversation.updated a gets shows it erased."""
    a, b, with_b, with_c = chats
    paused = PausedInsert()
    store = MongoChatStore(insert=paused)
    writers.append(store)
    steps = ErasureSteps()
    chat = chat_on(store, services, steps)
    secret, _ = await chat.send_message(b, with_b.id, client_id="s", text="secret")
    assert (await chat.conversation_for(a, with_b.id)).last_message.text == "secret"
    paused.armed = True
    held = queue(store, draft(with_c, a, "held"))
    await paused.reached.wait()
    erasing = asyncio.create_task(chat.erase_sender(b))
    while not any(isinstance(item, Op) for item in store.writer._pending):
        await asyncio.sleep(0.005)  # phase 1 has returned: phase 2 waits for the writer
    async with live_frames(services.hub, a, await store.head()) as to_a:
        marking = asyncio.create_task(chat.mark(a, with_b.id, ReceiptKind.READ, secret.seq))
        paused.armed = False
        paused.release.set()
        await held
        await erasing
        await marking
        frames = await to_a.read()
    assert any('"conversation.updated"' in f for f in frames)
    assert not [f for f in frames if any("secret" in t for t in texts_in(f))]


async def test_a_history_read_that_raced_the_erasure_is_not_cached(services, chats, writers):
    """a's history misses the cache and its store read sees b's text; b's erasure runs
    whole before that read answers: the page is served once, never cached (later sends
    would append to it and keep the text in memory)."""
    a, b, with_b, _ = chats
    store = MongoChatStore()
    writers.append(store)
    chat = chat_on(store, services)
    await chat.send_message(b, with_b.id, client_id="s", text="secret")
    read = store.messages

    async def read_then_erase(*args, **kwargs):
        page = await read(*args, **kwargs)
        await chat.erase_sender(b)
        return page
    store.messages = read_then_erase  # type: ignore[method-assign]
    assert [m.text for m in await chat.history(a, with_b.id)] == ["secret"]
    del store.messages
    await chat.send_message(a, with_b.id, client_id="t", text="still here")
    assert [m.text for m in await chat.history(a, with_b.id)] == ["", "still here"]


async def test_an_erasure_whose_second_phase_fails_still_clears_the_cache(
        services, chats, writers):
    """Phase 2's write fails (the store aborts it, or a later writer's fence refuses it):
    the erasure raises, so the account stays pending and is erased again later
    (test_account_deletion.py), and meanwhile the writer's cached page, read before,
    no longer serves the text phase 1 erased."""
    a, b, with_b, _ = chats
    steps, chat = erasing_chat(services, writers)
    await chat.send_message(b, with_b.id, client_id="s", text="secret")
    assert [m.text for m in await chat.history(a, with_b.id)] == ["secret"]  # cached
    steps.fail_last_writes = AutoReconnect("the store went away")
    with pytest.raises(AutoReconnect):
        await chat.erase_sender(b)
    assert [(m.text, m.deleted) for m in await chat.history(a, with_b.id)] == [("", True)]
    await chat.erase_sender(b)  # the next run finishes it
    assert await copies_of("secret") == 0


async def test_sends_during_the_first_phase_are_swept_outside_the_writer(
        services, chats, writers):
    """b sends while the erasure's scans run: phase 1 catches up on them by position
    outside the writer (the head it returns is past them), so phase 2, which holds every
    send, has only the tail to read. Nothing of b's text is left after phase 2."""
    a, b, with_b, _ = chats
    store = MongoChatStore()
    writers.append(store)
    steps = ErasureSteps()
    erasure = MongoChatErasure(store, steps, catch_up_span=1)
    await send(store, with_b, b, "before")

    async def sends_meanwhile() -> None:
        for n in range(5):
            await send(store, with_b, b, f"during {n}")
    steps.after_first_phase = sends_meanwhile
    erased = await erasure.erase_sent(b)
    assert erased.position == await store.head()  # swept up to the last of them
    assert erased.conversation_ids == (with_b.id,)
    assert await copies_of("during 4") == 0  # before phase 2
    assert await erasure.erase_sent_since(b, erased) == []
    await store.summaries.flush()
    assert await copies_of("before") == 0 and (await last_message(with_b.id))["text"] == ""


async def test_a_change_that_lands_during_the_scans_is_swept_by_the_catch_up(
        services, chats, writers):
    """On a store without transactions (a standalone mongod), a's reaction writes b's
    message before the erasure's scans, and its event copy and the summary after them: the
    first phase's catch-up finds its event past the scans' head and tombstones it (and the
    message it rewrote in place), before phase 2. (With transactions the reaction lands
    whole, before the scans' write of the message, or after it and is refused.)"""
    a, b, with_b, _ = chats
    store = MongoChatStore(fence=fence_without_transactions())
    writers.append(store)
    await send(store, with_b, b, "secret")
    await store.summaries.flush()
    steps = ErasureSteps()
    chat = chat_on(store, services, steps)
    erasure = MongoChatErasure(store, steps, catch_up_span=1)
    read, scanned = asyncio.Event(), asyncio.Event()

    async def wait_for_the_scans() -> None:
        read.set()
        await scanned.wait()
    steps.after_message_write = wait_for_the_scans
    reacting = asyncio.create_task(chat.react(a, with_b.id, 1, "👍"))
    await read.wait()  # it has written the message, and not its event yet

    async def let_it_land() -> None:
        scanned.set()
        await reacting  # its event lands past the head the scans began from
    steps.after_first_phase = let_it_land
    erased = await erasure.erase_sent(b)
    assert (await reacting).text == "secret"
    assert erased.position == await store.head()
    message = await stored(with_b.id, 1)
    assert message["text"] == "" and message["deleted"]  # swept before phase 2
    assert await ChatCollections().events.count_documents({"message.text": "secret"}) == 0
    await erasure.erase_sent_since(b, erased)
    assert await copies_of("secret") == 0


async def test_the_first_phase_waits_for_a_change_in_its_transaction_then_erases_it(
        services, chats, writers):
    """One process, on a store with transactions: a's reaction has written b's message in
    its open transaction (its event copy and the summary still to come) when b's erasure
    starts. The first phase's plain write of b's messages waits for that transaction, then
    erases all the reaction wrote: once phase 1 returns no copy of the text is left. (Had
    the reaction's writes gone one by one, its event copy and summary would land after the
    scans; the catch-up test above.)"""
    a, b, with_b, _ = chats
    store = MongoChatStore()
    writers.append(store)
    await send(store, with_b, b, "secret")
    await store.summaries.flush()
    steps = ErasureSteps()
    chat = chat_on(store, services, steps)
    erasure = MongoChatErasure(store, steps)
    written, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        written.set()
        await release.wait()  # not the erasure: it waits for this transaction (deadlock)
    steps.after_message_write = hold
    async with asyncio.timeout(10):  # a hang fails here, not at pytest's timeout
        reacting = asyncio.create_task(chat.react(a, with_b.id, 1, "👍"))
        await written.wait()
        erasing = asyncio.create_task(erasure.erase_sent(b))
        await steps.erasing_messages.wait()
        # Time for a first phase that did not wait to finish while the reaction is held.
        await asyncio.wait([asyncio.create_task(steps.states_erased.wait())], timeout=0.3)
        assert not steps.states_erased.is_set()
        release.set()
        reacted = await reacting
        await erasing
    assert reacted.text == "secret"  # it committed before the erasure's write
    message = await stored(with_b.id, 1)
    assert message["text"] == "" and message["deleted"] and message["reactions"]
    assert await copies_of("secret") == 0  # the message, its event copy, the summary


async def test_the_second_phase_flushes_only_the_summaries_it_involves(
        services, chats, writers):
    """a's message to c is buffered (its summary not written) when b is erased: the
    erasure flushes b's conversations' summaries, not the whole buffer in one commit
    while every send waits."""
    a, b, with_b, with_c = chats
    store = MongoChatStore(summary_interval=3600)
    writers.append(store)
    await send(store, with_b, b, "secret")
    await send(store, with_c, a, "unrelated")
    await chat_on(store, services).erase_sender(b)
    assert (await last_message(with_b.id))["text"] == ""  # flushed, then tombstoned
    assert (await last_message(with_c.id)).get("text") != "unrelated"  # still buffered
    await store.summaries.flush()
    assert (await last_message(with_c.id))["text"] == "unrelated"


async def test_the_erasure_waits_for_its_second_phase_past_the_writers_bound(
        services, chats, writers):
    """The writer answers a queued op's caller store_timeout after twice its timeout and
    runs the op later. The erasure waits for the op itself: had it stopped waiting, it
    would forget the cache before its second phase ran, and a page read in between would
    keep what that phase then erases."""
    a, b, with_b, _ = chats
    store = MongoChatStore()
    writers.append(store)
    chat = chat_on(store, services)
    await send(store, with_b, b, "secret")
    store.writer.timeout = 0.05
    release = asyncio.Event()

    async def hold(next_pos) -> None:
        await release.wait()
    held = asyncio.ensure_future(store.serialized(hold))  # the writer busy
    erasing = asyncio.create_task(chat.erase_sender(b))
    await asyncio.sleep(0.5)  # five times the writer's bound
    assert not erasing.done()
    release.set()
    await erasing
    with pytest.raises(UnavailableError):
        await held  # its own caller was answered store_timeout meanwhile
    assert await copies_of("secret") == 0


async def test_an_erasure_reaching_a_closed_writer_is_refused_and_starts_no_writer(
        services, chats):
    """At stop the account's erasure may still be on its way (its cancel swallowed inside
    a store call): the closed writer refuses it (the account stays pending) rather than
    start a writer task that nobody stops."""
    a, b, with_b, _ = chats
    store = MongoChatStore()
    await send(store, with_b, b, "secret")
    await store.close()
    with pytest.raises(UnavailableError) as refused:
        await chat_on(store, services).erase_sender(b)
    assert refused.value.message == "The server is stopping."
    assert refused.value.retry_after == 1
    with pytest.raises(UnavailableError):
        await queue(store, draft(with_b, b, "late"))

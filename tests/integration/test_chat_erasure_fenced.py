"""A deleted account's chat erasure raced by a change, with the chat writer fenced as it is
with several instances (its lease's epoch stamped, the fence raised: storage/mongo/fence.py):
the change and the erasure's second phase then write through the fence's transaction.
The same races in one process: test_chat_erasure.py. Over the real MongoDB-wire store."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import pytest

from nirvana.domain.chat.errors import MessageDeletedError
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.erasure import MongoChatErasure
from nirvana.storage.mongo.fence import FencedOutError
from tests.support.chat_writers import chat_on, send
from tests.support.erasure_steps import ErasureSteps


class FenceCheckSteps(ErasureSteps):
    """ErasureSteps, and `before_check`: awaited once before the next fenced transaction's
    check of the fence's token (its first statement: fence.py `_check`), i.e. after a
    change read and planned, before its transaction began."""

    def __init__(self) -> None:
        super().__init__()
        self.before_check: Callable[[], Awaitable[None]] | None = None

    @property
    def meta(self) -> Any:
        return _Meta(super().meta, self)


class _Meta:
    def __init__(self, inner: Any, steps: FenceCheckSteps) -> None:
        self._inner, self._steps = inner, steps

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def update_one(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if query.get("_id") == "writer-fence" and kwargs.get("session") is not None:
            hold, self._steps.before_check = self._steps.before_check, None
            if hold is not None:
                await hold()
        return await self._inner.update_one(query, *args, **kwargs)


async def copies_of(text: str) -> int:
    db = ChatCollections()
    return (await db.messages.count_documents({"text": text})
            + await db.events.count_documents({"message.text": text})
            + await db.states.count_documents({"last_message.text": text}))


async def erased(conversation_id: str) -> tuple[dict, dict]:
    db = ChatCollections()
    message = await db.messages.find_one({"conversation_id": conversation_id, "seq": 1})
    state = await db.states.find_one({"_id": conversation_id})
    return message, state["last_message"]


CHANGES = {
    "reaction": lambda chat, a, b, cid: chat.react(a, cid, 1, "👍"),
    "edit": lambda chat, a, b, cid: chat.edit_message(b, cid, 1, "secret, edited"),
    "hide": lambda chat, a, b, cid: chat.delete_message(a, cid, 1, for_everyone=False),
}


async def fenced_writer_with_secret(chats, writers) -> MongoChatStore:
    """A writer leading at epoch 1 (the fence raised, its writes stamped) over b's "secret",
    the last message of a's conversation with b."""
    a, b, with_b, _ = chats
    store = MongoChatStore()
    writers.append(store)
    await store.lead(lambda: True, 1)
    await send(store, with_b, b, "secret")
    await store.summaries.flush()  # the summary holds it: the change updates it too
    return store


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_a_fenced_change_whose_transaction_began_before_the_erasure_plans_again(
        services, chats, writers, change):
    """The change has read "secret", planned and begun its transaction (the fence's check)
    when b's erasure runs its first phase; then it writes the message. The store answers a
    write conflict (the erasure wrote it since), the change reads again and is refused or
    applied to the erased copy; nothing holds the text when the erasure returns."""
    a, b, with_b, _ = chats
    store = await fenced_writer_with_secret(chats, writers)
    steps = FenceCheckSteps()
    chat = chat_on(store, services, steps)
    erasing: list[asyncio.Task[None]] = []

    async def erase_inside_the_transaction() -> None:
        erasing.append(asyncio.create_task(chat.erase_sender(b)))
        await steps.states_erased.wait()
    steps.before_message_write = erase_inside_the_transaction
    if change == "hide":  # hiding a deleted message is allowed: done on the tombstone
        hidden = await CHANGES[change](chat, a, b, with_b.id)
        assert hidden.text == "" and hidden.deleted and hidden.hidden_for == (a,)
    else:  # a reaction to, or an edit of, a deleted message is refused
        with pytest.raises(MessageDeletedError) as refused:
            await CHANGES[change](chat, a, b, with_b.id)
        assert refused.value.code == "message_deleted"
    await erasing[0]
    message, last = await erased(with_b.id)
    assert message["text"] == "" and message["deleted"]
    assert last["text"] == "" and last["deleted"]
    assert await copies_of("secret") == 0 and await copies_of("secret, edited") == 0


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_a_fenced_change_whose_transaction_began_after_the_first_phase_is_erased(
        services, chats, writers, change):
    """The change has read "secret" and planned before b's erasure; its transaction begins
    after the first phase committed, so it meets no conflict and writes what it planned.
    The second phase, queued behind it in the writer, finds its event past the head and
    tombstones it, the message it rewrote and the summary."""
    a, b, with_b, _ = chats
    store = await fenced_writer_with_secret(chats, writers)
    steps = FenceCheckSteps()
    chat = chat_on(store, services, steps)
    erasing: list[asyncio.Task[None]] = []

    async def erase_before_the_transaction() -> None:
        erasing.append(asyncio.create_task(chat.erase_sender(b)))
        await steps.states_erased.wait()
    steps.before_check = erase_before_the_transaction
    answer = await CHANGES[change](chat, a, b, with_b.id)
    # Answered as planned, from what it read before the erasure (so is its live event,
    # as a send queued before the erasure is acknowledged): the store is what is erased.
    assert answer.text.startswith("secret") and not answer.deleted
    await erasing[0]
    message, last = await erased(with_b.id)
    assert message["text"] == "" and message["deleted"]
    assert last["text"] == "" and last["deleted"]
    assert await copies_of("secret") == 0 and await copies_of("secret, edited") == 0



async def test_a_fenced_change_that_lands_during_the_scans_is_swept_by_the_catch_up(
        services, chats, writers):
    """a's reaction reads "secret" and plans before b's erasure scans, and its fenced
    transaction begins and commits after them (no conflict: the scans committed first):
    the first phase's catch-up finds its event past the head and tombstones the message
    it rewrote, before phase 2 runs."""
    a, b, with_b, _ = chats
    store = await fenced_writer_with_secret(chats, writers)
    steps = FenceCheckSteps()
    chat = chat_on(store, services, steps)
    erasure = MongoChatErasure(store, steps, catch_up_span=1)
    read, scanned = asyncio.Event(), asyncio.Event()

    async def wait_for_the_scans() -> None:
        read.set()
        await scanned.wait()
    steps.before_check = wait_for_the_scans
    reacting = asyncio.create_task(chat.react(a, with_b.id, 1, "👍"))
    await read.wait()

    async def let_it_land() -> None:
        scanned.set()
        await reacting
    steps.after_first_phase = let_it_land
    upto = await erasure.erase_sent(b)
    assert (await reacting).text == "secret"  # planned from what it read
    assert upto.position == await store.head()
    message, _ = await erased(with_b.id)
    assert message["text"] == "" and message["deleted"]  # swept before phase 2
    assert await ChatCollections().events.count_documents({"message.text": "secret"}) == 0
    await erasure.erase_sent_since(b, upto)
    assert await copies_of("secret") == 0


@pytest.mark.parametrize("refused_at", ["transaction", "summary flush"])
async def test_a_second_phase_refused_by_a_later_writers_fence_leaves_the_account_pending(
        services, chats, writers, refused_at):
    """b sends "during" while the erasure's first phase runs (left to phase 2), then the
    next writer raises the fence. Phase 2, on the deposed writer, is refused: at its
    transaction's check, or already at its flush of the summary of "during" (still
    buffered). The erasure raises (the account stays pending), the deposed writer stops,
    and phase 2 wrote nothing: "during" is whole, the summary still what it was. The next
    run, on the new writer (housekeeping's), erases it all."""
    a, b, with_b, _ = chats
    old = await fenced_writer_with_secret(chats, writers)
    new = MongoChatStore()
    writers.append(new)
    steps = ErasureSteps()
    chat = chat_on(old, services, steps)

    async def send_then_take_over() -> None:
        await send(old, with_b, b, "during")
        if refused_at == "transaction":
            await old.summaries.flush()
        await new.lead(lambda: True, 2)
    steps.after_first_phase = send_then_take_over
    with pytest.raises(FencedOutError) as refused:
        await chat.erase_sender(b)
    assert refused.value.stamped == 1 and refused.value.code == "unavailable"
    assert old.writer.stepped_down
    db = ChatCollections()
    during = await db.messages.find_one({"conversation_id": with_b.id, "seq": 2})
    assert during["text"] == "during" and not during.get("deleted")
    _, last = await erased(with_b.id)
    if refused_at == "transaction":
        assert last["text"] == "during"
    else:  # not written: the first phase's tombstone of "secret" is still the summary
        assert last["seq"] == 1 and last["text"] == "" and last["deleted"]
    [listed] = [c for c in await new.conversations_of(a, 10) if c.id == with_b.id]
    assert listed.last_message.text == "during"  # what the history shows, no half
    await chat_on(new, services).erase_sender(b)  # the account's next run
    assert await copies_of("during") == 0 and await copies_of("secret") == 0
    [listed] = [c for c in await new.conversations_of(a, 10) if c.id == with_b.id]
    assert listed.last_message.seq == 2 and listed.last_message.text == ""

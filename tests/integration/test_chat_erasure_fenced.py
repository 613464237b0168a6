"""A deleted account's chat erasure raced by a change, with the chat writer fenced as it is
with several instances (its lease's epoch stamped, the fence raised: storage/mongo/fence.py):
the change and the erasure's second phase then write through the fence's transaction.
The same races in one process: test_chat_erasure.py. Over the real MongoDB-wire store."""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

import pytest

from nirvana.domain.chat.errors import MessageDeletedError
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.fence import TOKEN, FencedOutError
from tests.support.chat_writers import chat_on, send, writer_with_secret
from tests.support.delegating import Delegating
from tests.support.erasure_steps import ErasureSteps, copies_of
from tests.support.live_frames import live_frames, texts_in


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


class _Meta(Delegating[FenceCheckSteps]):
    async def update_one(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if query.get("_id") == TOKEN and kwargs.get("session") is not None:
            hold, self._steer.before_check = self._steer.before_check, None
            if hold is not None:
                await hold()
        return await self._inner.update_one(query, *args, **kwargs)


async def erased(conversation_id: str) -> tuple[dict, dict]:
    db = ChatCollections()
    message = await db.messages.find_one({"conversation_id": conversation_id, "seq": 1})
    state = await db.states.find_one({"_id": conversation_id})
    return message, state["last_message"]


CHANGES = {
    "reaction": lambda chat, a, b, cid: chat.react(a, cid, 1, "👍"),
    "edit": lambda chat, a, b, cid: chat.edit_message(b, cid, 1, "secret, edited"),
    "hide": lambda chat, a, b, cid: chat.delete_message(a, cid, 1, for_everyone=False),
    "delete": lambda chat, a, b, cid: chat.delete_message(b, cid, 1, for_everyone=True),
}


async def answered_without_the_text(chat, services, store, chats, change) -> None:
    """`change` (a's reaction or hide, b's edit or delete for everyone) of b's "secret",
    raced by b's erasure as the test set it: refused (a reaction to, or an edit of, a
    deleted message), applied to the tombstone (hiding a deleted message is allowed) or
    found done (the erasure deleted it for everyone); a and b are sent no frame with the
    text."""
    a, b, with_b, _ = chats
    async with live_frames(services.hub, a, await store.head()) as to_a, \
            live_frames(services.hub, b, await store.head()) as to_b:
        if change == "hide":
            hidden = await CHANGES[change](chat, a, b, with_b.id)
            assert hidden.text == "" and hidden.deleted and hidden.hidden_for == (a,)
        elif change == "delete":
            deleted = await CHANGES[change](chat, a, b, with_b.id)
            assert deleted.text == "" and deleted.deleted
        else:
            with pytest.raises(MessageDeletedError) as refused:
                await CHANGES[change](chat, a, b, with_b.id)
            assert refused.value.code == "message_deleted"
        frames = await to_a.read() + await to_b.read()
    assert not [f for f in frames if any(t.startswith("secret") for t in texts_in(f))]
    if change == "hide":  # a's other screens hide it: told, without the text
        assert [json.loads(f)["scope"] for f in frames
                if json.loads(f)["type"] == "message.deleted"] == ["me"]


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("began", ["before the first phase", "after the first phase"])
async def test_a_fenced_change_that_read_before_the_erasure_plans_again(
        services, chats, writers, change, began):
    """The change has read "secret" and planned when b's erasure runs its first phase.
    Its transaction began before (the fence's check done, the message not written yet):
    the store answers its write a conflict (the erasure wrote the message since). Or it
    begins after the first phase committed: no conflict, but its write of the message is
    conditional on the message being as it read it (not deleted), and matches nothing.
    Either way the change reads again and is refused or applied to the erased copy, so
    neither its answer nor its live event carries the text, and nothing holds it when the
    erasure returns."""
    a, b, with_b, _ = chats
    store = await writer_with_secret(chats, writers)
    steps = FenceCheckSteps()
    chat = chat_on(store, services, steps)
    erase = steps.first_phase_of(chat, b)
    if began == "before the first phase":
        steps.before_message_write = erase
    else:
        steps.before_check = erase
    await answered_without_the_text(chat, services, store, chats, change)
    assert steps.erasing is not None
    await steps.erasing
    message, last = await erased(with_b.id)
    assert message["text"] == "" and message["deleted"]
    assert last["text"] == "" and last["deleted"]
    assert await copies_of("secret") == 0 and await copies_of("secret, edited") == 0


@pytest.mark.parametrize("refused_at", ["transaction", "summary flush"])
async def test_a_second_phase_refused_by_a_later_writers_fence_leaves_the_account_pending(
        services, chats, writers, refused_at):
    """b sends "during" while the erasure's first phase runs (left to phase 2), then the
    next writer raises the fence. Phase 2, on the deposed writer, is refused: at its
    transaction's check, or already at its flush of the summary of "during" (still
    buffered). The erasure raises (the account stays pending), the deposed writer stops,
    and phase 2 wrote nothing: "during" is whole, the summary still what it was (the old
    writer's buffer held "during" as a tombstone from the erasure's start). The next run, on
    the new writer (housekeeping's), erases it all."""
    a, b, with_b, _ = chats
    old = await writer_with_secret(chats, writers)
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
    if refused_at == "transaction":  # flushed before the takeover
        assert last["seq"] == 2 and last["text"] == "" and last["deleted"]
    else:  # not written: the first phase's tombstone of "secret" is still the summary
        assert last["seq"] == 1 and last["text"] == "" and last["deleted"]
    [listed] = [c for c in (await new.conversations_of(a, 10)).items if c.id == with_b.id]
    # The new writer re-reads the summary of a message past the checkpoint from it, whole.
    assert listed.last_message.text == ("" if refused_at == "transaction" else "during")
    await chat_on(new, services).erase_sender(b)  # the account's next run
    assert await copies_of("during") == 0 and await copies_of("secret") == 0
    [listed] = [c for c in (await new.conversations_of(a, 10)).items if c.id == with_b.id]
    assert listed.last_message.seq == 2 and listed.last_message.text == ""

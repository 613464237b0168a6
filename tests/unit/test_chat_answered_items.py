"""A receipt's or change's `on_done` (work_items.py `Answered`), without a store: called
once, whatever the order of the writer's answer (`finish`, `refuse`) and its caller leaving
(`leave`: answered store_timeout, or cancelled); with the result, or with None when it
failed after its caller left (so that a change in doubt is still forgotten); never when the
caller still waits for a failure, which it hears itself. A callback that raises is logged,
naming itself and the item, and neither the writer nor the caller sees it. Also the fakes
of the ports, which must do as the store does with a callback that raises."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

import pytest

from nirvana.domain.chat.entities import ReceiptKind
from nirvana.domain.chat.limits import ChatLimits
from nirvana.domain.chat.messaging import Messaging
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.work_items import Answered, Mark, Op
from tests.support.clock import FakeClock
from tests.support.fakes_chat import FakeChatStore, FakePeers, RecordingPublisher

RESULT = object()
STORE_LOG = "nirvana.chat.store"


def _item(kind: str, on_done) -> Answered:
    future = asyncio.get_running_loop().create_future()
    if kind == "op":
        return Op(run=None, future=future, conversation_id="c1", on_done=on_done)
    return Mark("c1", 2, ReceiptKind.READ, 3, (1, 2), future, on_done=on_done)


def _refused() -> UnavailableError:
    return UnavailableError("The receipt could not be stored.")


# Each order of the writer's answer and the caller's leaving, and what `on_done` is handed.
ORDERS = {
    "finish, then leave": ((lambda i: i.finish(RESULT), Answered.leave), [RESULT]),
    "leave, then finish": ((Answered.leave, lambda i: i.finish(RESULT)), [RESULT]),
    "refuse, then leave": ((lambda i: i.refuse(_refused()), Answered.leave), [None]),
    "leave, then refuse": ((Answered.leave, lambda i: i.refuse(_refused())), [None]),
    "refuse, caller waits": ((lambda i: i.refuse(_refused()),), []),
    # close() refuses an item its caller left, and the writer, cancelled, finishes nothing.
    "leave, refuse, finish": ((Answered.leave, lambda i: i.refuse(_refused()),
                               lambda i: i.finish(RESULT)), [None]),
}


@pytest.mark.parametrize("kind", ["op", "mark"])
@pytest.mark.parametrize("order", list(ORDERS))
async def test_on_done_is_called_once_in_any_order(kind, order, caplog):
    steps, expected = ORDERS[order]
    handed: list = []
    item = _item(kind, handed.append)
    with caplog.at_level(logging.ERROR):
        for step in steps:
            step(item)
    assert handed == expected
    assert item.future.done()
    if expected == [RESULT]:
        assert item.future.result() is RESULT
    else:  # what the caller that waits hears (and retrieves)
        assert isinstance(item.future.exception(), UnavailableError)
    assert not caplog.records


def _raising(value) -> None:
    raise RuntimeError("the publisher broke")


@pytest.mark.parametrize("kind", ["op", "mark"])
@pytest.mark.parametrize("order", ["finish, then leave", "leave, then refuse"])
async def test_a_callback_that_raises_is_logged_and_the_caller_still_answered(
        kind, order, caplog):
    steps, expected = ORDERS[order]
    item = _item(kind, partial(_raising))
    with caplog.at_level(logging.ERROR, logger=STORE_LOG):
        for step in steps:
            step(item)  # the writer goes on: nothing raised here
    [record] = [r for r in caplog.records if r.name == STORE_LOG]
    assert "_raising failed for" in record.getMessage()
    assert "c1" in record.getMessage()
    if expected == [RESULT]:
        assert item.future.result() is RESULT
    else:
        assert "None" in record.getMessage()
        assert isinstance(item.future.exception(), UnavailableError)


async def test_the_fake_store_logs_a_receipt_callback_that_raises_and_answers_the_reader(
        caplog):
    """As the real store: the publisher failing inside `on_recorded` does not fail `mark`."""

    class Broken(RecordingPublisher):
        def receipt_recorded(self, receipt) -> None:
            raise RuntimeError("the publisher broke")

    peers, store = FakePeers(), FakeChatStore()
    chat = Messaging(store=store, peers=peers, publisher=Broken(), clock=FakeClock(),
                     limits=ChatLimits())
    peers.befriend(1, 2)
    conversation = await chat.open_direct(1, 2)
    await chat.send_message(1, conversation.id, client_id="m", text="x")
    with caplog.at_level(logging.ERROR, logger=STORE_LOG):
        answer = await chat.mark(2, conversation.id, ReceiptKind.READ, 1)
    assert answer.member(2).read_seq == 1
    [record] = [r for r in caplog.records if r.name == STORE_LOG]
    assert "_recorded failed for" in record.getMessage()

"""The senders a chat writer refuses (nirvana/storage/mongo/refused.py): an erased account's
queued send is refused `unknown_user`, others pass, and the account is let go after the
bound, so the set empties and the send path's cost is one empty check again."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from nirvana.domain.chat.entities import MessageDraft, MessageKind
from nirvana.domain.errors import AuthenticationError
from nirvana.storage.mongo.refused import RefusedSenders
from nirvana.storage.mongo.work_items import Send


def send_of(sender: int) -> Send:
    draft = MessageDraft("c", sender, f"m{sender}", MessageKind.TEXT, "hi", (), None, (1, 7),
                         datetime.now(timezone.utc))
    return Send(draft, asyncio.get_running_loop().create_future())


async def test_an_erased_senders_queued_send_is_refused_until_the_bound_then_let_go():
    now = [0.0]
    refused = RefusedSenders(kept=150.0, now=lambda: now[0])
    refused.add(7)
    theirs, others = send_of(7), send_of(1)
    assert refused.without([theirs, others]) == [others]
    with pytest.raises(AuthenticationError) as refusal:
        theirs.future.result()
    assert refusal.value.code == "unknown_user"

    now[0] = 149.0
    assert refused.without([late := send_of(7)]) == []
    assert isinstance(late.future.exception(), AuthenticationError)  # refused, and retrieved
    now[0] = 151.0
    refused.prune()  # as the writer does at each lead and each new refusal
    assert len(refused) == 0
    again = send_of(7)
    assert refused.without([again]) == [again] and not again.future.done()


async def test_the_set_is_let_go_of_by_the_batches_themselves():
    now = [0.0]
    refused = RefusedSenders(kept=150.0, now=lambda: now[0])
    refused.add(7)
    now[0] = 151.0
    refused.without([send_of(1)])  # a batch taken with nobody to refuse in it
    assert len(refused) == 0

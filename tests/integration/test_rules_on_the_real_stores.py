"""Rules the unit tests check on in-memory fakes, checked where the product implements them:
the PostgreSQL pair transaction, and the chat store's receipts and search terms."""

from __future__ import annotations

import pytest

from nirvana.domain.chat.entities import ReceiptKind
from nirvana.storage.postgres.social import PgSocialRepository
from tests.support.people import friends


async def test_a_failed_pair_change_rolls_back_in_postgresql(client, services):
    a, b = await friends(client, services)
    await services.social.follow(a, b)
    repo = PgSocialRepository(services.pool)
    with pytest.raises(RuntimeError):
        async with repo.pair(a, b) as tx:
            await tx.remove_follow(a, b)
            raise RuntimeError("crash mid-change")
    assert await services.social.followee_ids(a) == [b]


async def test_a_lower_read_receipt_changes_nothing_in_the_store(client, services):
    a, b = await friends(client, services)
    c = await services.chat.open_direct(a, b)
    for i in range(3):
        await services.chat.send_message(a, c.id, client_id=f"m{i}", text="x")
    assert (await services.chat.mark(b, c.id, ReceiptKind.READ, 2)).unread_for(b) == 1
    lowered = await services.chat.mark(b, c.id, ReceiptKind.READ, 1)
    assert lowered.unread_for(b) == 1
    (listed,) = (await services.chat.conversations(b)).items
    assert listed.unread_for(b) == 1


async def test_search_follows_edits_and_deletes_for_everyone(client, services):
    a, b = await friends(client, services)
    c = await services.chat.open_direct(a, b)
    await services.chat.send_message(a, c.id, client_id="1", text="Rendez-vous au Café")
    await services.chat.send_message(a, c.id, client_id="2", text="old words here")
    assert [m.seq for m in await services.chat.search(b, "cafe")] == [1]

    await services.chat.edit_message(a, c.id, 2, "new words here")
    assert await services.chat.search(b, "old") == []
    assert [m.seq for m in await services.chat.search(b, "new")] == [2]

    await services.chat.delete_message(a, c.id, 1, for_everyone=True)
    assert await services.chat.search(b, "cafe") == []
    assert await services.chat.search(a, "rendez") == []

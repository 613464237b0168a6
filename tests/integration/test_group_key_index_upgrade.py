"""A start on a chat store from before groups took an Idempotency-Key builds the
(idempotency_key) index of chat_conversations itself, saying so (upgrade.py
`build_key_index`), and the groups stored without a key all keep fitting in it."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pymongo
import pytest
from pymongo.errors import DuplicateKeyError

from nirvana.storage.mongo.documents import KEY_INDEX
from nirvana.wiring.stores import init_documents

NAME = KEY_INDEX.document["name"]


def group(created_by: int, **key: str) -> dict:
    cid = uuid.uuid4().hex
    return {"_id": cid, "kind": "group", "direct_key": f"group:{cid}", "member_ids": [created_by],
            "members": [{"user_id": created_by, "role": "owner"}], "created_by": created_by,
            "created_at": datetime.now(timezone.utc), "name": "g", **key}


@pytest.fixture
async def older(stores, settings):
    """A database of its own whose chat_conversations an older release left: groups, no
    (idempotency_key) index. The documents are bound back to the session's database after."""
    _, mongo = stores
    name = f"{settings.mongodb_db}_older_groups"
    await init_documents(mongo, name)
    conversations = mongo[name]["chat_conversations"]
    await conversations.drop_index(NAME)
    await conversations.insert_many([group(1), group(1), group(2)])
    try:
        yield mongo, name
    finally:
        await init_documents(mongo, settings.mongodb_db)
        with pymongo.timeout(60):
            await mongo.drop_database(name)


async def test_a_start_builds_the_key_index_and_later_starts_leave_it(older, caplog):
    mongo, name = older
    conversations = mongo[name]["chat_conversations"]
    assert NAME not in await conversations.index_information()
    await init_documents(mongo, name)
    built = (await conversations.index_information())[NAME]
    assert built.get("unique") is True and built.get("sparse") is True
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("building the (idempotency_key) index of chat_conversations, "
                            "once: about 1 s per 100,000 conversations") for m in said), said
    assert any(m.startswith("built the (idempotency_key) index of chat_conversations in ")
               for m in said)
    # Keyless groups (absent field) share no entry; keyed ones are one per key.
    await conversations.insert_one(group(1))
    await conversations.insert_one(group(1, idempotency_key="1:k"))
    with pytest.raises(DuplicateKeyError):
        await conversations.insert_one(group(1, idempotency_key="1:k"))
    caplog.clear()
    await init_documents(mongo, name)
    assert not any("(idempotency_key)" in r.getMessage() for r in caplog.records)

"""How a deposed writer reads the fence's token (storage/mongo/fence.py `stands_at`):
linearizable, and plainly on a server that refuses that level for being no replica set (a
standalone mongod; the embedded store accepts it, so the integration tests never get
there). The collection is a stand-in answering as such a server: the refusal is MongoDB's
behaviour, not the embedded store's."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import OperationFailure

from nirvana.storage.mongo.fence import FIELD, WriterFence

NOT_A_REPLICA_SET, NOT_WRITABLE_PRIMARY = 123, 10107


class Meta:
    """chat_meta holding the token at `epoch`, whose linearizable reads fail with `code`;
    `reads`: each read's level, in order."""

    def __init__(self, epoch: int, code: int, reads: list[str] | None = None,
                 level: str = "plain") -> None:
        self.epoch, self.code, self.level = epoch, code, level
        self.reads = [] if reads is None else reads

    def with_options(self, read_concern: Any) -> Meta:
        return Meta(self.epoch, self.code, self.reads, read_concern.level)

    async def find_one(self, query: dict[str, Any], projection: Any = None) -> Any:
        self.reads.append(self.level)
        if self.level == "linearizable":
            raise OperationFailure("refused by the stand-in", code=self.code)
        return {"_id": query["_id"], FIELD: self.epoch}


async def test_a_standalone_server_is_read_plainly_from_then_on():
    fence, meta = WriterFence(), Meta(2, NOT_A_REPLICA_SET)
    assert await fence.stands_at(meta, 2)
    assert not await fence.stands_at(meta, 1)
    assert meta.reads == ["linearizable", "plain", "plain"]


async def test_another_refusal_of_the_linearizable_read_is_not_read_around():
    """A deposed primary refuses (NotWritablePrimary): its plain answer may predate a raise
    on the new primary, so the refusal reaches the caller, which counts it as taken over."""
    fence, meta = WriterFence(), Meta(2, NOT_WRITABLE_PRIMARY)
    with pytest.raises(OperationFailure) as refused:
        await fence.stands_at(meta, 2)
    assert refused.value.code == NOT_WRITABLE_PRIMARY
    assert meta.reads == ["linearizable"]

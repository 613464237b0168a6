"""The receipts the chat store holds, one per receipt whether stored alone or with others of
its conversation (codec.py `receipts_doc`), in position order (bundles' intervals are
disjoint): what tests compare, so that none passes by finding no document of the shape it
asked for."""

from __future__ import annotations

from typing import Any

from nirvana.domain.chat.entities import Receipt
from nirvana.storage.mongo.codec import RECEIPT_TYPES, receipts_of
from nirvana.storage.mongo.collections import ChatCollections


async def stored_receipts(conversation_id: str | None = None) -> list[Receipt]:
    """Every stored receipt (of `conversation_id`, if given), in position order."""
    query: dict[str, Any] = {"type": {"$in": list(RECEIPT_TYPES)}}
    if conversation_id is not None:
        query["conversation_id"] = conversation_id
    docs = [d async for d in ChatCollections().events.find(query).sort("pos", 1)]
    return [r for d in docs for r in receipts_of(d)]


def as_marks(receipts: list[Receipt]) -> list[tuple[int, str, int]]:
    """Who marked what up to where: (user_id, kind, seq) of each receipt."""
    return [(r.user_id, r.kind.value, r.seq) for r in receipts]

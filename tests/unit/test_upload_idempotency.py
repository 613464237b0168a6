"""An upload retried with its idempotency key, on in-memory fakes: the first attempt's upload
comes back, and a twin that raced past the key's read leaves no file and no bytes counted."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.idempotency import IdempotencyKey, IdempotencyKeyReusedError
from nirvana.domain.errors import UnavailableError
from nirvana.domain.sniffing import ContentType, MediaKind
from nirvana.domain.uploads import Upload, Uploads
from tests.support.fakes_media import FakeMediaStore, FakeUploadLedger
from tests.support.images import png

pytestmark = pytest.mark.anyio
ANN = 1


class PairedMediaStore(FakeMediaStore):
    """Each save waits until two have begun: twins both get past the key's read."""

    def __init__(self) -> None:
        super().__init__()
        self.begun = 0
        self.both = asyncio.Event()

    async def save(self, data: bytes, content: ContentType, url: str) -> str:
        self.begun += 1
        if self.begun == 2:
            self.both.set()
        await self.both.wait()
        return await super().save(data, content, url)


class BlinkingLedger(FakeUploadLedger):
    """The key's read after a lost insert fails, as on a connection dropped just then."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = False

    async def record(self, upload: Upload, reserved: str | None = None,
                     key: IdempotencyKey | None = None) -> bool:
        stored = await super().record(upload, reserved, key)
        self.lost = self.lost or not stored
        return stored

    async def keyed(self, owner_id: int, key: IdempotencyKey) -> Upload | None:
        if self.lost:
            raise UnavailableError("the store did not answer")
        return await super().keyed(owner_id, key)


async def test_a_retry_stores_nothing_and_answers_the_first_upload():
    store, ledger = FakeMediaStore(), FakeUploadLedger()
    uploads = Uploads(store, ledger)
    key = IdempotencyKey("k", "same")
    first, created = await uploads.upload_once(ANN, png(), MediaKind.IMAGE, "a.png", key)
    again, replayed = await uploads.upload_once(ANN, png(), MediaKind.IMAGE, "a.png", key)
    assert (created, replayed) == (True, False) and again == first
    assert len(store.saved) == 1 and ledger.used[ANN] == len(png())


async def test_twins_racing_keep_one_file_and_count_its_bytes_once():
    store, ledger = PairedMediaStore(), FakeUploadLedger()
    uploads = Uploads(store, ledger)
    key = IdempotencyKey("k", "same")
    answers = await asyncio.gather(*(uploads.upload_once(ANN, png(), None, None, key)
                                     for _ in range(2)))
    assert sorted(created for _, created in answers) == [False, True]
    assert answers[0][0] == answers[1][0]
    assert len(store.saved) == 2 and len(store.deleted) == 1
    assert store.deleted[0] != answers[0][0].url
    assert ledger.used[ANN] == len(png())


async def test_a_twin_of_another_request_is_refused_and_leaves_no_file():
    store, ledger = PairedMediaStore(), FakeUploadLedger()
    uploads = Uploads(store, ledger)
    answers = await asyncio.gather(
        uploads.upload_once(ANN, png(3, 3), None, None, IdempotencyKey("k", "one")),
        uploads.upload_once(ANN, png(4, 4), None, None, IdempotencyKey("k", "two")),
        return_exceptions=True)
    refused = [a for a in answers if isinstance(a, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], IdempotencyKeyReusedError)
    kept = next(a for a in answers if not isinstance(a, BaseException))[0]
    assert list(ledger.uploads) == [kept.url] and len(store.deleted) == 1
    assert ledger.used[ANN] == kept.size


async def test_a_twin_whose_read_fails_after_its_lost_insert_leaves_no_file():
    store, ledger = PairedMediaStore(), BlinkingLedger()
    uploads = Uploads(store, ledger)
    answers = await asyncio.gather(
        uploads.upload_once(ANN, png(3, 3), None, None, IdempotencyKey("k", "same")),
        uploads.upload_once(ANN, png(4, 4), None, None, IdempotencyKey("k", "same")),
        return_exceptions=True)
    failed = [a for a in answers if isinstance(a, BaseException)]
    assert len(failed) == 1 and isinstance(failed[0], UnavailableError)
    kept = next(a for a in answers if not isinstance(a, BaseException))[0]
    assert list(ledger.uploads) == [kept.url]
    assert len(store.deleted) == 1 and store.deleted[0] != kept.url
    assert ledger.used[ANN] == kept.size

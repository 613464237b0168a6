"""Uploads of every kind: judged by their bytes, held to their kind's limit and their owner's
quota; a failed store gives the reserved bytes back; the owner lists and deletes them, and a
deletion gives the bytes back once the file is gone."""

from __future__ import annotations

import asyncio
import logging

import pytest

from nirvana.domain.errors import (
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    UnavailableError,
    UnsupportedMediaTypeError,
)
from nirvana.domain.sniffing import MediaKind, sniff
from nirvana.domain.uploads import UploadLimits, Uploads, decode_cursor, encode_cursor, name_of
from tests.support.fakes_media import FakeMediaStore, FakeUploadLedger
from tests.support.images import EXE, png
from tests.support.media_files import HTML, mp3, mp4, pdf, wav, webm
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("data,kind,mime", [
    (png(), MediaKind.IMAGE, "image/png"),
    (wav(), MediaKind.AUDIO, "audio/wav"),
    (mp3(), MediaKind.AUDIO, "audio/mpeg"),
    (mp4(), MediaKind.VIDEO, "video/mp4"),
    (webm(), MediaKind.VIDEO, "video/webm"),
    (pdf(), MediaKind.FILE, "application/pdf"),
    (EXE, MediaKind.FILE, "application/octet-stream"),
    (HTML, MediaKind.FILE, "application/octet-stream"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>x()</script></svg>", MediaKind.FILE,
     "application/octet-stream"),
    (b"just some notes", MediaKind.FILE, "application/octet-stream"),
    # RIFF is WAV's container, and AVI's: only a WAVE header makes it audio.
    (b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 32, MediaKind.FILE,
     "application/octet-stream"),
])
def test_the_bytes_decide_the_kind_and_a_page_is_never_served_as_one(data, kind, mime):
    found = sniff(data)
    assert (found.kind, found.mime) == (kind, mime)
    assert found.inline is (kind is not MediaKind.FILE)


def test_bytes_that_announce_an_image_must_be_a_whole_image():
    with pytest.raises(InvalidInputError) as caught:
        sniff(png()[:-10])
    assert caught.value.code == "invalid_image"


async def test_each_kind_has_its_own_size_limit():
    uploads = Uploads(FakeMediaStore(), FakeUploadLedger(),
                      UploadLimits(image=10_000, audio=10_000, video=100, file=10_000))
    assert (await uploads.upload(1, wav(), None)).content.kind is MediaKind.AUDIO
    with pytest.raises(PayloadTooLargeError) as caught:
        await uploads.upload(1, mp4(200), None)
    assert "Videos may be at most 100 bytes" in caught.value.message


async def test_only_refuses_another_kind():
    uploads = Uploads(FakeMediaStore(), FakeUploadLedger())
    with pytest.raises(UnsupportedMediaTypeError) as caught:
        await uploads.upload(1, wav(), MediaKind.VIDEO)
    assert caught.value.code == "not_video"


async def test_quota_counts_every_upload_and_refuses_past_it():
    ledger = FakeUploadLedger()
    uploads = Uploads(FakeMediaStore(), ledger, UploadLimits(quota=len(pdf()) * 2 + 1))
    await uploads.upload(1, pdf())
    await uploads.upload(1, pdf())
    with pytest.raises(PayloadTooLargeError) as caught:
        await uploads.upload(1, pdf())
    assert caught.value.code == "quota_exceeded"
    assert (await uploads.usage(1)).used_bytes == len(pdf()) * 2
    assert (await uploads.upload(2, pdf())).owner_id == 2  # another user's quota is theirs


async def test_a_failed_store_gives_the_reserved_bytes_back():
    ledger = FakeUploadLedger()
    uploads = Uploads(FakeMediaStore(fail=UnavailableError()), ledger)
    with pytest.raises(UnavailableError):
        await uploads.upload(1, pdf())
    usage = await uploads.usage(1)
    assert (usage.used_bytes, usage.files) == (0, 0)


async def test_a_failed_store_removes_what_it_wrote_before_the_bytes_go_back():
    store, ledger = FakeMediaStore(fail=UnavailableError()), FakeUploadLedger()
    with pytest.raises(UnavailableError):
        await Uploads(store, ledger).upload(1, pdf())
    assert store.deleted == ["/media/1.pdf"] and ledger.pending == {}


class SlowSave(FakeMediaStore):
    """A save that goes on until `done` is set, as a thread writing a file goes on after its
    caller was cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.begun, self.done = asyncio.Event(), asyncio.Event()

    async def save(self, data, content, url):
        self.begun.set()
        await asyncio.shield(self.done.wait())
        return await super().save(data, content, url)


async def test_a_cancelled_upload_removes_its_file_once_written_and_gives_the_bytes_back():
    store, ledger = SlowSave(), FakeUploadLedger()
    uploading = asyncio.create_task(Uploads(store, ledger).upload(1, pdf()))
    await store.begun.wait()
    uploading.cancel()
    await asyncio.sleep(0)
    assert store.deleted == [] and ledger.used[1] == len(pdf())  # the save still runs
    store.done.set()
    with pytest.raises(asyncio.CancelledError):
        await uploading
    await wait_until(lambda: ledger.pending == {}, "the reservation to be given back")
    assert len(store.saved) == 1 and store.deleted == ["/media/1.pdf"]
    assert ledger.used[1] == 0


async def test_deleting_removes_the_file_then_gives_the_bytes_back_once():
    store, ledger = FakeMediaStore(), FakeUploadLedger()
    uploads = Uploads(store, ledger)
    kept, gone = await uploads.upload(1, png()), await uploads.upload(1, pdf())
    await uploads.delete(1, name_of(gone.url))
    assert store.deleted == [gone.url]
    usage = await uploads.usage(1)
    assert (usage.used_bytes, usage.files) == (kept.size, 1)
    assert await ledger.issued([gone.url]) == {}
    with pytest.raises(NotFoundError) as caught:  # deleted already
        await uploads.delete(1, name_of(gone.url))
    assert caught.value.code == "not_found"
    assert (await uploads.usage(1)).used_bytes == kept.size


@pytest.mark.parametrize("name", ["1.png", "nothing.png", "../1.png", "", "1.png/"])
async def test_only_the_owner_can_delete_and_others_get_not_found_alike(name):
    store, ledger = FakeMediaStore(), FakeUploadLedger()
    uploads = Uploads(store, ledger)
    theirs = await uploads.upload(2, png())
    assert name_of(theirs.url) == "1.png"
    with pytest.raises(NotFoundError) as caught:
        await uploads.delete(1, name)
    assert caught.value.code == "not_found"
    assert store.deleted == [] and (await uploads.usage(2)).files == 1


async def test_a_store_that_fails_the_deletion_gives_nothing_back_and_a_retry_finishes():
    store, ledger = FakeMediaStore(), FakeUploadLedger()
    uploads = Uploads(store, ledger)
    done = await uploads.upload(1, pdf())
    store.fail_delete = UnavailableError()
    with pytest.raises(UnavailableError):
        await uploads.delete(1, name_of(done.url))
    usage = await uploads.usage(1)
    assert (usage.used_bytes, usage.files) == (done.size, 1)
    assert done.url in await ledger.issued([done.url])
    store.fail_delete = None
    await uploads.delete(1, name_of(done.url))
    usage = await uploads.usage(1)
    assert (usage.used_bytes, usage.files) == (0, 0)


async def test_an_upload_no_store_in_use_claims_is_not_deleted_nor_given_back():
    store, ledger = FakeMediaStore(claims=lambda url: False), FakeUploadLedger()
    uploads = Uploads(store, ledger)
    done = await uploads.upload(1, pdf())
    with pytest.raises(UnavailableError):
        await uploads.delete(1, name_of(done.url))
    usage = await uploads.usage(1)
    assert (usage.used_bytes, usage.files) == (done.size, 1)
    assert done.url in await ledger.issued([done.url])


async def test_a_second_deletion_of_an_upload_being_removed_waits_on_the_first():
    store, ledger = FakeMediaStore(), FakeUploadLedger()
    uploads = Uploads(store, ledger)
    done = await uploads.upload(1, pdf())
    store.gate = asyncio.Event()  # a Cloudinary destroy that hangs
    first = asyncio.create_task(uploads.delete(1, name_of(done.url)))
    await wait_until(lambda: store.asked, "the first deletion to reach the store")
    second = asyncio.create_task(uploads.delete(1, name_of(done.url)))  # a client's retry
    # Past its lookup the second does not suspend until it waits (on the first, or on a
    # removal of its own).
    await wait_until(lambda: ledger.finds == 2, "the second deletion to find the upload")
    store.gate.set()
    await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert store.asked == [done.url]  # one removal, not one per request
    usage = await uploads.usage(1)
    assert (usage.used_bytes, usage.files) == (0, 0)


async def test_a_deletion_its_caller_left_is_settled_and_its_failure_logged(caplog):
    store, ledger = FakeMediaStore(), FakeUploadLedger()
    uploads = Uploads(store, ledger)
    done = await uploads.upload(1, pdf())
    store.gate = asyncio.Event()
    caller = asyncio.create_task(uploads.delete(1, name_of(done.url)))
    await wait_until(lambda: store.asked, "the deletion to reach the store")
    caller.cancel()  # the route's deadline: the client has its 503
    with pytest.raises(asyncio.CancelledError):
        await caller
    settling = asyncio.create_task(uploads.settled())
    ended, _ = await asyncio.wait({settling}, timeout=0.2)
    assert not ended  # a stop waits for the removal under way
    ledger.fail_forget = ConnectionError("PostgreSQL failed over")
    store.gate.set()
    with caplog.at_level(logging.WARNING, logger="nirvana.media"):
        await asyncio.wait_for(settling, 10)
    assert store.deleted == [done.url]
    failed = [r for r in caplog.records if "did not finish" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info[0] is ConnectionError
    assert done.url in failed[0].getMessage()


async def test_a_deletion_asks_the_stores_in_use_before_a_switch_too():
    local, cloud, ledger = FakeMediaStore(), FakeMediaStore(), FakeUploadLedger()
    uploads = Uploads(local, ledger, earlier_stores=(local,))
    done = await uploads.upload(1, pdf())
    await uploads.delete(1, name_of(done.url))
    assert local.deleted == [done.url]  # the current store is also an earlier one: once
    uploads.store = cloud
    await uploads.discard("/media/x.pdf")
    assert local.deleted[-1] == cloud.deleted[-1] == "/media/x.pdf"


async def test_the_list_is_the_owners_newest_first_in_pages():
    uploads = Uploads(FakeMediaStore(), FakeUploadLedger())
    mine = [await uploads.upload(1, pdf()) for _ in range(5)]
    await uploads.upload(2, pdf())
    seen, after = [], None
    while True:
        page = await uploads.page(1, after, 2)
        seen += [u.url for u in page.items]
        if page.next is None:
            break
        after = decode_cursor(encode_cursor(page.next))  # as a client sends it back
    assert seen == [u.url for u in reversed(mine)]


# The last two: a NUL and a newline in the URL ("u:0:\x00", "u:0:/media/a\nb").
@pytest.mark.parametrize("cursor", ["%%%", "bm9wZQ", "dTp4OnU", "dTowOgA",
                                    "dTowOi9tZWRpYS9hCmI"])
def test_a_cursor_the_list_did_not_give_is_invalid_cursor(cursor):
    with pytest.raises(InvalidInputError) as caught:
        decode_cursor(cursor)
    assert caught.value.details[0]["code"] == "invalid_cursor"

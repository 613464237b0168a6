"""Uploads of every kind: judged by their bytes, held to their kind's limit and their owner's
quota; a failed store gives the reserved bytes back."""

from __future__ import annotations

import pytest

from nirvana.domain.errors import (
    InvalidInputError,
    PayloadTooLargeError,
    UnavailableError,
    UnsupportedMediaTypeError,
)
from nirvana.domain.sniffing import MediaKind, sniff
from nirvana.domain.uploads import UploadLimits, Uploads
from tests.support.fakes_media import FakeMediaStore, FakeUploadLedger
from tests.support.images import EXE, png
from tests.support.media_files import HTML, mp3, mp4, pdf, wav, webm

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

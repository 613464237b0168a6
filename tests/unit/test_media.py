"""What counts as an image: bytes only, complete files only."""

from __future__ import annotations

import pytest

from nirvana.domain.errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaTypeError
from nirvana.domain.media import ImageFormat, check_image
from nirvana.domain.sniffing import MediaKind
from nirvana.domain.uploads import UploadLimits, Uploads
from tests.support.fakes_media import FakeMediaStore, FakeUploadLedger
from tests.support.images import EXE, gif, jpeg, png, webp

pytestmark = pytest.mark.anyio

GOOD = {ImageFormat.PNG: png(), ImageFormat.GIF: gif(), ImageFormat.JPEG: jpeg(),
        ImageFormat.WEBP: webp()}


@pytest.mark.parametrize("image", list(ImageFormat))
def test_complete_images_are_recognised(image):
    assert check_image(GOOD[image]) is image


@pytest.mark.parametrize("image", list(ImageFormat))
@pytest.mark.parametrize("cut", ["last byte", "half", "header only"])
def test_truncated_images_are_refused(image, cut):
    data = GOOD[image]
    end = {"last byte": len(data) - 1, "half": len(data) // 2, "header only": 13}[cut]
    with pytest.raises(InvalidInputError) as exc:
        check_image(data[:end])
    assert exc.value.code == "invalid_image"


@pytest.mark.parametrize("image", [ImageFormat.PNG, ImageFormat.GIF, ImageFormat.WEBP])
def test_payload_appended_after_the_image_is_refused(image):
    with pytest.raises(InvalidInputError):
        check_image(GOOD[image] + EXE)


def test_png_with_corrupted_data_fails_its_crc():
    data = bytearray(png())
    data[40] ^= 0xFF
    with pytest.raises(InvalidInputError):
        check_image(bytes(data))


@pytest.mark.parametrize("data", [EXE, b"<svg xmlns='http://www.w3.org/2000/svg'/>",
                                  b"%PDF-1.7\n", b"hello", b"\x89PNG"])
def test_other_content_is_unsupported(data):
    with pytest.raises(UnsupportedMediaTypeError):
        check_image(data)


def test_header_only_is_damaged_not_unsupported():
    with pytest.raises(InvalidInputError):
        check_image(b"\x89PNG\r\n\x1a\n")


def test_empty_file_is_invalid():
    with pytest.raises(InvalidInputError) as exc:
        check_image(b"")
    assert exc.value.code == "empty_file"


async def test_upload_stores_checked_images_only():
    store = FakeMediaStore()
    uploads = Uploads(store, FakeUploadLedger(), UploadLimits(image=1000))
    assert (await uploads.upload(1, png(), MediaKind.IMAGE)).url == "/media/1.png"
    with pytest.raises(UnsupportedMediaTypeError):
        await uploads.upload(1, EXE, MediaKind.IMAGE)
    with pytest.raises(PayloadTooLargeError):
        await uploads.upload(1, png(100, 100) + b"\x00" * 1000, MediaKind.IMAGE)
    assert [s[1].extension for s in store.saved] == ["png"]

"""Uploaded images: what counts as one (uploads.py stores them, with the other kinds).

An upload is judged by its bytes alone: the filename and the declared Content-Type are the
client's claims and are ignored. Beyond the magic number, each format's container structure
is walked to its end (PNG chunks with their CRCs, JPEG segments to EOI, GIF blocks to the
trailer, the RIFF size of WebP), so a truncated file or an executable behind a valid header is
refused. Pixel data is not decoded: that needs an image library, and the store (Cloudinary or
a browser) decodes it anyway.
"""

from __future__ import annotations

import enum
import struct
import zlib

from .errors import InvalidInputError, UnsupportedMediaTypeError


class ImageFormat(enum.Enum):
    JPEG = ("image/jpeg", "jpg")
    PNG = ("image/png", "png")
    WEBP = ("image/webp", "webp")
    GIF = ("image/gif", "gif")

    @property
    def mime(self) -> str:
        return self.value[0]

    @property
    def extension(self) -> str:
        return self.value[1]

    @classmethod
    def from_extension(cls, extension: str) -> "ImageFormat | None":
        return next((f for f in cls if f.extension == extension), None)


def sniff(data: bytes) -> ImageFormat | None:
    """The format the first bytes announce, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageFormat.PNG
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return ImageFormat.GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageFormat.WEBP
    return None


class _Malformed(Exception):
    pass


def _png(data: bytes) -> None:
    pos, first = 8, True
    while True:
        if pos + 12 > len(data):
            raise _Malformed("ends before its IEND chunk")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 8 + length
        if end + 4 > len(data):
            raise _Malformed(f"chunk {kind!r} runs past the end")
        if first and (kind != b"IHDR" or length != 13):
            raise _Malformed("does not start with IHDR")
        (crc,) = struct.unpack_from(">I", data, end)
        if zlib.crc32(data[pos + 4:end]) != crc:
            raise _Malformed(f"chunk {kind!r} has a bad CRC")
        pos, first = end + 4, False
        if kind == b"IEND":
            break
    if pos != len(data):
        raise _Malformed("has data after IEND")


_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}
_JPEG_FRAMES = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(data: bytes) -> None:
    pos, frame = 2, False
    while True:
        if pos + 2 > len(data) or data[pos] != 0xFF:
            raise _Malformed("has a broken segment before its image data")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if pos + 4 > len(data):
            raise _Malformed("is truncated")
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2 or pos + 2 + length > len(data):
            raise _Malformed("has a segment running past the end")
        frame = frame or marker in _JPEG_FRAMES
        if marker == 0xDA:  # start of scan: entropy-coded data follows, up to EOI
            break
        pos += 2 + length
    if not frame:
        raise _Malformed("has no frame header")
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise _Malformed("does not end with EOI (truncated?)")


def _gif_sub_blocks(data: bytes, pos: int) -> int:
    while True:
        if pos >= len(data):
            raise _Malformed("is truncated")
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


def _gif(data: bytes) -> None:
    if len(data) < 13:
        raise _Malformed("is truncated")
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    images = 0
    while True:
        if pos >= len(data):
            raise _Malformed("ends without its trailer")
        block = data[pos]
        if block == 0x3B:
            pos += 1
            break
        if block == 0x21:  # extension: label, then sub-blocks
            pos = _gif_sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image descriptor, local colour table, LZW size, sub-blocks
            if pos + 10 > len(data):
                raise _Malformed("is truncated")
            local = data[pos + 9]
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            pos = _gif_sub_blocks(data, pos + 1)
            images += 1
        else:
            raise _Malformed(f"has an unknown block 0x{block:02x}")
    if images == 0:
        raise _Malformed("has no image")
    if data[pos:].strip(b"\x00"):
        raise _Malformed("has data after its trailer")


def _webp(data: bytes) -> None:
    (size,) = struct.unpack_from("<I", data, 4)
    if size + 8 != len(data):
        raise _Malformed("has a RIFF size that does not match the file (truncated?)")
    pos, first = 12, True
    while pos < len(data):
        if pos + 8 > len(data):
            raise _Malformed("is truncated")
        kind, length = struct.unpack_from("<4sI", data, pos)
        if first and kind not in (b"VP8 ", b"VP8L", b"VP8X"):
            raise _Malformed("does not start with a VP8 chunk")
        pos += 8 + length + (length & 1)
        first = False
    if first or pos != len(data):
        raise _Malformed("has chunks running past the end")


_CHECKS = {
    ImageFormat.PNG: _png,
    ImageFormat.JPEG: _jpeg,
    ImageFormat.GIF: _gif,
    ImageFormat.WEBP: _webp,
}


def check_image(data: bytes) -> ImageFormat:
    """The format of a complete, well-formed image; raises otherwise.

    InvalidInputError (empty_file) for no bytes, UnsupportedMediaTypeError for anything that
    is not JPEG, PNG, WebP or GIF, InvalidInputError (invalid_image) for one of those that is
    truncated or malformed.
    """
    if not data:
        raise InvalidInputError("The file is empty.", code="empty_file", details=[
            {"field": "file", "code": "empty_file", "message": "is empty"}])
    image = sniff(data)
    if image is None:
        raise UnsupportedMediaTypeError(
            "Only JPEG, PNG, WebP and GIF images are accepted.", code="not_an_image")
    try:
        _CHECKS[image](data)
    except (_Malformed, struct.error, IndexError) as exc:
        raise InvalidInputError(
            f"This {image.name} file is damaged: it {exc}." if isinstance(exc, _Malformed)
            else f"This {image.name} file is damaged.",
            code="invalid_image",
            details=[{"field": "file", "code": "invalid_image", "message": "is damaged"}],
        ) from None
    return image

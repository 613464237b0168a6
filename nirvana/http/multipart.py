"""Reading one file field (and a few small text fields, as a form's key) out of a
multipart/form-data body as it streams in.

Starlette's `request.form()` would spool the whole body before we could look at it. Here the
body is fed chunk by chunk to python-multipart's streaming parser and every byte is counted
as it arrives: a body announced larger than the limit is refused before any of it is read,
and an unannounced (chunked) one as soon as it crosses the limit. Only the wanted field is
kept in memory, and never more than `max_file_bytes` plus one network chunk of it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field as dataclass_field
from typing import Collection

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from ..domain.errors import (
    BadRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    field_error,
)

# Room for the boundaries, part headers and small fields around the file.
MULTIPART_OVERHEAD = 64 * 1024
# One part header (its name and value) at most: room for a file name of 255 UTF-8 bytes,
# or 255 UTF-16 units, escaped; a header bounded only by the body limit cost a second of the
# event loop to clean. (python-multipart 0.0.34 refuses one over 4224 bytes itself; older
# releases that pyproject.toml allows may not: this bound does not depend on it.)
MAX_PART_HEADER = 2 * 1024
# What browsers escape in a form-data file name (WHATWG HTML, "multipart/form-data encoding
# algorithm"): `"`, CR and LF, as %22, %0D and %0A. Only these: they leave `%` itself as is.
_WHATWG_ESCAPES = re.compile("%22|%0D|%0A")
_UNESCAPED = {"%22": '"', "%0D": "\r", "%0A": "\n"}


# A small text field kept beside the file (`read_file`'s `texts`): at most this many bytes,
# the rest dropped (a form's key is 64 characters; a longer value is refused as it is).
MAX_TEXT = 256


class _FilePart:
    def __init__(self, field: str, max_bytes: int, hashed: bool,
                 texts: Collection[str] = ()) -> None:
        self.field = field.encode()
        self.wanted = {t.encode() for t in texts}
        self.texts: dict[bytes, bytearray] = {}
        self._text: bytearray | None = None
        self.max_bytes = max_bytes
        # Hashed chunk by chunk as it arrives: a large file's hash at the end would hold
        # the event loop for as long as hashing all of it takes.
        self.hash = hashlib.sha256() if hashed else None
        self.chunks: list[bytes] = []
        self.size = 0
        self.found = False
        self.filename: bytes | None = None
        self.too_large = False
        self.header_too_large = False
        self.ended = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._capturing = False

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._header_part(self._header_name, d, s, e),
            "on_header_value": lambda d, s, e: self._header_part(self._header_value, d, s, e),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._disposition = b""

    def _header_part(self, into: bytearray, data: bytes, start: int, end: int) -> None:
        if len(self._header_name) + len(self._header_value) + end - start > MAX_PART_HEADER:
            self.header_too_large = True
            return
        into.extend(data[start:end])

    def _header_end(self) -> None:
        if bytes(self._header_name).strip().lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        # The first part with the field's name is the file; later ones are ignored.
        name = params.get(b"name")
        self._capturing = name == self.field and not self.found
        if self._capturing:
            self.filename = params.get(b"filename")
        self.found = self.found or self._capturing
        # The first part of a wanted text name; a file part never counts as text.
        self._text = None
        if name in self.wanted and name not in self.texts and b"filename" not in params:
            self._text = self.texts[name] = bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._text is not None:
            self._text.extend(data[start:min(end, start + MAX_TEXT + 1 - len(self._text))])
            return
        if not self._capturing or self.too_large:
            return
        self.size += end - start
        if self.size > self.max_bytes:
            self.too_large = True
            self.chunks.clear()
            return
        self.chunks.append(data[start:end])
        if self.hash is not None:
            self.hash.update(self.chunks[-1])

    def _part_end(self) -> None:
        self._capturing = False
        self._text = None

    def _end(self) -> None:
        self.ended = True


@dataclass(frozen=True, slots=True)
class ReceivedFile:
    data: bytes
    # The part's `filename` (browsers send UTF-8; RFC 7578 forbids `filename*`), with the
    # browsers' escapes undone, not yet cleaned: domain/upload_names.py does that.
    filename: str | None
    sha256: str | None = None  # hex, when asked for (`hashed`)
    # The text fields asked for (`texts`) that the form sent, as UTF-8 text.
    texts: dict[str, str] = dataclass_field(default_factory=dict)


async def read_file(request: Request, field: str, max_file_bytes: int,
                    hashed: bool = False, texts: Collection[str] = ()) -> ReceivedFile:
    """The bytes and the file name of the multipart field `field`, with `hashed` the
    SHA-256 of the bytes, and the values of the small text fields named in `texts` (a web
    form's key: up to one byte past `MAX_TEXT` of each is kept, so a longer value is
    refused, not cut into a valid key).

    Raises UnsupportedMediaTypeError (not multipart), PayloadTooLargeError (over the limit),
    BadRequestError (malformed or truncated body), InvalidInputError (no such field).
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise UnsupportedMediaTypeError(
            f"Send the file as multipart/form-data in a field named {field!r}.")
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequestError("The multipart Content-Type has no boundary.")
    too_large = PayloadTooLargeError(f"Files may be at most {max_file_bytes} bytes.")
    body_limit = max_file_bytes + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequestError("Content-Length is not a number.")
        if int(declared) > body_limit:
            raise too_large
    part = _FilePart(field, max_file_bytes, hashed, texts)
    try:
        parser = MultipartParser(boundary, part.callbacks())
    except FormParserError:
        raise BadRequestError("The multipart boundary is not valid.") from None
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > body_limit:
            raise too_large
        try:
            parser.write(chunk)
        except FormParserError:
            raise BadRequestError("The multipart body is malformed.") from None
        if part.too_large:
            raise too_large
        if part.header_too_large:
            raise BadRequestError(f"A multipart part header is over {MAX_PART_HEADER} bytes.")
    if not part.ended:
        raise BadRequestError("The multipart body is truncated.")
    if not part.found:
        raise field_error(field, "is required", "missing")
    filename = None
    if part.filename is not None:
        filename = _WHATWG_ESCAPES.sub(lambda m: _UNESCAPED[m[0]],
                                       part.filename.decode("utf-8", "replace"))
    return ReceivedFile(b"".join(part.chunks), filename,
                        part.hash.hexdigest() if part.hash is not None else None,
                        {k.decode(): v.decode("utf-8", "replace") for k, v in part.texts.items()})

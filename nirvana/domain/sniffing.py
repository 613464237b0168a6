"""What an upload is, judged by its bytes alone.

The filename and the declared Content-Type are the client's claims and are never read. Images
are checked to their last byte by `media.check_image`. Audio and video are recognised by their
container's signature with puremagic (a maintained, pure-Python table of file signatures), and
only the formats browsers play are taken as such; their streams are not decoded. Everything
else is a plain file: kept, and only ever served as a download.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import puremagic

from .errors import InvalidInputError
from .media import ImageFormat, check_image, sniff as sniff_image


class MediaKind(str, enum.Enum):
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class ContentType:
    kind: MediaKind
    mime: str
    extension: str  # without the dot; also the stored name's extension

    @property
    def inline(self) -> bool:
        """Whether a browser may show it in the page; a FILE is only ever downloaded."""
        return self.kind is not MediaKind.FILE


def _table(kind: MediaKind, rows: dict[str, str]) -> dict[str, ContentType]:
    return {ext: ContentType(kind, mime, ext) for ext, mime in rows.items()}


# The formats we serve, by the extension our stored names carry. One table: the sniffer maps
# onto it and the local store serves from it, so a name can never be served as something else.
# Files keep a few common types so a download opens in the right program. Office documents are
# ZIP files whose signature puremagic cannot tell apart, so they are served as ZIP. Any other
# file is application/octet-stream, never a type a browser would render.
CONTENT_TYPES: dict[str, ContentType] = {
    **{f.extension: ContentType(MediaKind.IMAGE, f.mime, f.extension) for f in ImageFormat},
    **_table(MediaKind.AUDIO, {"mp3": "audio/mpeg", "ogg": "audio/ogg", "oga": "audio/ogg",
                               "opus": "audio/ogg", "wav": "audio/wav", "flac": "audio/flac",
                               "m4a": "audio/mp4"}),
    **_table(MediaKind.VIDEO, {"mp4": "video/mp4", "m4v": "video/mp4", "webm": "video/webm",
                               "mov": "video/quicktime", "ogv": "video/ogg"}),
    **_table(MediaKind.FILE, {"pdf": "application/pdf", "zip": "application/zip",
                              "gz": "application/gzip", "7z": "application/x-7z-compressed",
                              "bin": "application/octet-stream"}),
}
OCTET_STREAM = CONTENT_TYPES["bin"]
# puremagic names some formats by another extension than ours.
_ALIASES = {"wave": "wav", "mpga": "mp3", "qt": "mov", "mkv": "webm"}
# A match on a bare container prefix (RIFF, which AVI shares with WAV) is weak: audio and video
# need a stronger one, except MP3, which has no longer signature, and WebM, checked below.
_STRONG = 0.5
_WEAK_OK = {"mp3", "webm"}


def sniff(data: bytes) -> ContentType:
    """The content type of an upload, from its bytes.

    Raises InvalidInputError (empty_file) for no bytes, and InvalidInputError
    (invalid_image) for an image that is truncated or malformed: bytes that announce an image
    are held to it rather than passed on as a file.
    """
    if not data:
        raise InvalidInputError("The file is empty.", code="empty_file", details=[
            {"field": "file", "code": "empty_file", "message": "is empty"}])
    if sniff_image(data) is not None:
        return CONTENT_TYPES[check_image(data).extension]
    try:
        candidates = puremagic.magic_string(data)
    except puremagic.PureError:
        return OCTET_STREAM
    # Candidates come best first; the first one we serve decides. Matroska is taken as WebM
    # only when the file says so, since browsers play WebM but not Matroska in general.
    for candidate in candidates:
        ext = candidate.extension.lstrip(".").lower()
        ext = _ALIASES.get(ext, ext)
        if ext == "webm" and b"webm" not in data[:64]:
            continue
        found = CONTENT_TYPES.get(ext)
        # An image is one only if check_image passed it above, never on a signature alone.
        if found is None or found.kind is MediaKind.IMAGE:
            continue
        if (found.kind in (MediaKind.AUDIO, MediaKind.VIDEO) and ext not in _WEAK_OK
                and candidate.confidence < _STRONG):
            continue
        return found
    return OCTET_STREAM

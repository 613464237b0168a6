"""Uploads: images, audio, video and files, each within its kind's size limit and its
owner's storage quota, and a ledger of who was issued which URL; the owner lists them and
deletes them, which gives their bytes back.

The ledger is what makes a `/media/` path trustworthy elsewhere: a chat attachment naming a
local path is accepted only if this ledger issued it (see chat/messaging.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Awaitable, Callable, Mapping, Protocol, Sequence

from . import cursors as codec
from . import upload_ends as ends
from .errors import (NotFoundError, PayloadTooLargeError, UnavailableError,
                     UnsupportedMediaTypeError)
from .idempotency import IdempotencyKey, IdempotencyKeyReusedError
from .sniffing import ContentType, MediaKind, sniff
from .upload_names import clean_original_name

log = logging.getLogger("nirvana.media")


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Bytes per upload of each kind, and the bytes one user may keep in all."""

    image: int = 10 * 1000 * 1000
    audio: int = 20 * 1000 * 1000
    video: int = 50 * 1000 * 1000
    file: int = 20 * 1000 * 1000
    quota: int = 500 * 1000 * 1000

    def of(self, kind: MediaKind) -> int:
        return int(getattr(self, kind.value))

    @property
    def largest(self) -> int:
        """What the upload route reads at most before it knows the kind."""
        return max(self.image, self.audio, self.video, self.file)


@dataclass(frozen=True, slots=True)
class Upload:
    url: str
    owner_id: int
    content: ContentType
    size: int
    original_name: str | None = None  # upload_names.py; None when the client sent none


@dataclass(frozen=True, slots=True)
class Pending:
    """A reservation whose upload has no row (yet): the URL its file is saved under."""

    url: str
    user_id: int
    size: int


class ReservationSweptError(UnavailableError):
    """The upload's reservation was swept before its row went in (upload_sweep.py)."""


@dataclass(frozen=True, slots=True)
class Issued:
    """What the ledger knows of a URL it issued: to whom, and what the bytes were."""

    owner_id: int
    kind: MediaKind
    size: int


def name_of(url: str) -> str:
    """What an upload is called in the API (GET and DELETE /api/v1/media): the last segment
    of its URL, in either store: `/media/<name>` on disk, `.../nirvana/<name>` on Cloudinary.
    Both stores make that segment random and unique."""
    return url.rsplit("/", 1)[-1]


# The shape of every name either store issues; anything else is no upload of anyone's.
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}(\.[a-z0-9]{1,5})?$")


@dataclass(frozen=True, slots=True)
class StoredUpload:
    """One upload in its owner's list."""

    url: str
    kind: MediaKind
    mime: str
    size: int
    created_at: datetime
    # None for an upload made before the ledger kept names (schema step 0023).
    original_name: str | None = None

    @property
    def name(self) -> str:
        return name_of(self.url)


@dataclass(frozen=True, slots=True)
class UploadPosition:
    """Where a page of the list ends: newest first by (created_at, url)."""

    created_at: datetime
    url: str


@dataclass(frozen=True, slots=True)
class UploadPage:
    items: list[StoredUpload]
    next: UploadPosition | None


def encode_cursor(position: UploadPosition) -> str:
    return codec.encode(f"u:{codec.micros(position.created_at)}:{position.url}")


def _position(text: str) -> UploadPosition:
    tag, micros, url = text.split(":", 2)
    # No store issues a URL with a control character; PostgreSQL refuses a NUL in text.
    if tag != "u" or not url or not url.isprintable():
        raise ValueError(text)
    return UploadPosition(codec.instant(int(micros)), url)


def decode_cursor(cursor: str) -> UploadPosition:
    return codec.decode(cursor, _position)


@dataclass(frozen=True, slots=True)
class StorageUsage:
    used_bytes: int
    quota_bytes: int
    files: int


class MediaStore(Protocol):
    def new_url(self, content: ContentType) -> str:
        """A new, unguessable URL to save a file at, chosen before it is written, so that a
        reservation names it: `delete` removes what a save there left, finished or not."""
        ...

    async def save(self, data: bytes, content: ContentType, url: str) -> str:
        """Store checked bytes at `url` (new_url's); return its public URL (on Cloudinary
        with the version its answer gives)."""
        ...

    async def delete(self, url: str) -> bool:
        """Remove an upload this store issued (gone already: done) and say True; a URL of
        anything else is left alone: False. Raises UnavailableError when the store did not
        answer."""
        ...


class UploadLedger(Protocol):
    async def reserve(self, user_id: int, size: int, quota: int, url: str,
                      by: str | None = None) -> bool:
        """Add `size` to the user's usage if it stays within `quota`, and keep the
        reservation as pending at `url`, made `by` this process (upload_sweep.py), atomically;
        whether it did. Two uploads at once can never both squeeze under the quota."""
        ...

    async def release(self, url: str) -> bool:
        """Give back the pending reservation at `url` and forget it, atomically; False
        (nothing given back) when none is left, as after its upload's row was added."""
        ...

    async def give_back(self, url: str) -> bool:
        """As `release`, but the reservation stays, of no bytes (no upload's row takes one),
        naming its file until `release` after its removal: a crash between is swept."""
        ...

    async def keep_named(self, url: str, user_id: int) -> None:
        """A reservation of no bytes at `url` (none when one is there): a file whose own was
        swept stays named, and so swept, until it is removed."""
        ...

    async def record(self, upload: Upload, reserved: str,
                     key: IdempotencyKey | None = None) -> bool:
        """Add the upload's row, keeping `key` on it, and end the reservation at `reserved`
        (its bytes stay counted), atomically; False (nothing added, the reservation kept)
        when the owner's `key` is on another row already."""
        ...

    async def sweep(self, older_than: float, limit: int,
                    remove: Callable[[str], Awaitable[bool]]) -> tuple[int, list[Pending]]:
        """Up to `limit` reservations older than `older_than` seconds that no other sweep
        holds: each whose file `remove` removed is forgotten and its bytes given back (also
        of an account deleted since), until a `remove` fails (the store is down: the rest
        wait for the next sweep; the refused one is retried after `older_than` again). (how
        many were looked at, those swept)."""
        ...

    async def keyed(self, owner_id: int, key: IdempotencyKey) -> Upload | None:
        """The owner's upload stored under `key`, or None; IdempotencyKeyReusedError when
        it was stored by another request (idempotency.py)."""
        ...

    async def usage(self, user_id: int) -> tuple[int, int]:
        """(bytes used, number of files) of a user."""
        ...

    async def issued(self, urls: Sequence[str]) -> Mapping[str, Issued]:
        """Each of `urls` that this ledger issued; others are absent."""
        ...

    async def page(self, owner_id: int, after: UploadPosition | None,
                   limit: int) -> list[StoredUpload]:
        """The owner's uploads, newest first by (created_at, url), strictly after `after`."""
        ...

    async def find(self, owner_id: int, name: str) -> str | None:
        """The URL of the owner's upload called `name` (name_of), or None."""
        ...

    async def forget(self, owner_id: int, url: str) -> bool:
        """Drop the owner's upload at `url` from the ledger and give its bytes back to their
        usage, in one transaction; False (nothing given back) when it was gone already, so
        two deletions racing give it back once."""
        ...


class IssuedUploads(Protocol):
    """What chat needs of the ledger: who was issued a URL, and what it holds."""

    async def issued(self, urls: Sequence[str]) -> Mapping[str, Issued]: ...


class NoUploads:
    """Knows of no upload: every local path is refused."""

    async def issued(self, urls: Sequence[str]) -> Mapping[str, Issued]:
        return {}


# Why an upload with `?kind=` was refused, in the words of the kind asked for.
NOT_OF_KIND = {
    MediaKind.IMAGE: "Only JPEG, PNG, WebP and GIF images are accepted.",
    MediaKind.AUDIO: "This is not an audio file we can play (MP3, Ogg, WAV, FLAC or M4A).",
    MediaKind.VIDEO: "This is not a video we can play (MP4, WebM, MOV or Ogg).",
    MediaKind.FILE: "This is an image, audio or video, not another file: upload it as that.",
}


class Uploads:
    def __init__(self, store: MediaStore, ledger: UploadLedger,
                 limits: UploadLimits = UploadLimits(),
                 earlier_stores: Sequence[MediaStore] = ()) -> None:
        self.store = store
        self.ledger = ledger
        self.limits = limits
        # Stores that may still hold files issued before a switch (the local disk, once
        # CLOUDINARY_URL is set): a deletion asks them too.
        self.earlier_stores = tuple(earlier_stores)
        # Deletions under way by URL: held so none running on after its caller stopped
        # waiting is collected half-way (the loop keeps only weak references to tasks), and
        # so a second deletion of the same upload waits on the first instead of starting
        # another (a client retrying after a 503 while a Cloudinary destroy hangs).
        self._deleting: dict[str, asyncio.Future[None]] = {}
        # This process's name for the reservation it makes now, once known (bootstrap.py).
        self.instance: Callable[[], str | None] = lambda: None

    async def upload(self, user_id: int, data: bytes, only: MediaKind | None = None,
                     original_name: str | None = None) -> Upload:
        """Sniff, check and store an upload of `user_id`; returns where it is. The name it
        had on the client's device is kept cleaned (upload_names.py), to be shown, never used.

        PayloadTooLargeError over its kind's limit (code `payload_too_large`) or over the owner's
        quota (code `quota_exceeded`); UnsupportedMediaTypeError when `only` names another
        kind; InvalidInputError for an empty file or a damaged image.
        """
        return (await self.upload_once(user_id, data, only, original_name, None))[0]

    async def upload_once(self, user_id: int, data: bytes, only: MediaKind | None,
                          original_name: str | None, key: IdempotencyKey | None
                          ) -> tuple[Upload, bool]:
        """`upload`, once per `key`: a retry with the key answers the upload the first
        attempt stored and False, storing no file and reserving no bytes. The key is read
        before anything is stored (a file saved and then thrown away costs more than the
        read, on Cloudinary a round trip); twins racing past that read both save, and the
        one whose row loses throws its file away and answers the winner's."""
        if key is not None and (found := await self.ledger.keyed(user_id, key)):
            return found, False
        if only is MediaKind.IMAGE and len(data) > self.limits.image:
            # Said before sniffing, so an oversized image gets the image limit's message.
            raise self._too_large(MediaKind.IMAGE)
        content = sniff(data)
        if only is not None and content.kind is not only:
            raise UnsupportedMediaTypeError(
                NOT_OF_KIND[only],
                code="not_an_image" if only is MediaKind.IMAGE else f"not_{only.value}")
        if len(data) > self.limits.of(content.kind):
            raise self._too_large(content.kind)
        reserved = self.store.new_url(content)
        if not await self.ledger.reserve(user_id, len(data), self.limits.quota, reserved,
                                         self.instance()):
            used, _ = await self.ledger.usage(user_id)
            raise PayloadTooLargeError(
                f"This upload ({len(data)} bytes) would take you past your storage quota: "
                f"{used} of {self.limits.quota} bytes are used.", code="quota_exceeded")
        saving = asyncio.ensure_future(self.store.save(data, content, reserved))
        try:
            url = await asyncio.shield(saving)
        except BaseException:
            # Shielded: a cancelled upload must still remove its file and give its bytes
            # back, once the save has ended (a thread writing on is not stopped by a cancel).
            await asyncio.shield(ends.abandon(self.ledger, self.discard, saving, reserved))
            raise
        upload = Upload(url=url, owner_id=user_id, content=content, size=len(data),
                        original_name=clean_original_name(original_name))
        found: Upload | None = None
        try:
            if key is None:
                await self.ledger.record(upload, reserved)  # stores it: only a key can be taken
            else:
                while not await self.ledger.record(upload, reserved, key):
                    if (found := await self.ledger.keyed(user_id, key)) is not None:
                        break
                    # Deleted between the insert and this read: its key is free, insert again.
        except ReservationSweptError:
            # Swept or given back (its process deemed gone): what the save wrote is no one's.
            await asyncio.shield(ends.swept_late(self.ledger, self.discard, user_id, url))
            raise
        except IdempotencyKeyReusedError:
            # A twin with this key and another request stored first: this file is no one's.
            await asyncio.shield(ends.drop(self.ledger, self.discard, url, reserved))
            raise
        except BaseException:
            # An insert whose answer was lost may have committed: then the file is its row's.
            await asyncio.shield(ends.unless_recorded(self.ledger, self.discard, url,
                                                      reserved))
            raise
        if found is None:
            return upload, True
        # A twin with the same key stored first: this file is no one's. Shielded, as the
        # reservation's release: a cancelled caller must not leave it served and counted.
        await asyncio.shield(ends.drop(self.ledger, self.discard, url, reserved))
        return found, False

    async def remove_unrecorded(self, url: str) -> bool:
        """Remove the file at `url`, which no row holds; False when a store did not answer."""
        return await ends.remove_unrecorded(self.discard, url)

    async def page(self, user_id: int, after: UploadPosition | None,
                   limit: int) -> UploadPage:
        """The caller's own uploads, newest first."""
        rows = await self.ledger.page(user_id, after, limit + 1)
        items = rows[:limit]
        last = items[-1] if len(rows) > limit else None
        return UploadPage(items, UploadPosition(last.created_at, last.url) if last else None)

    async def delete(self, user_id: int, name: str) -> None:
        """Delete the caller's upload called `name`: its file first, then its ledger row and
        its bytes, so a crash between the two leaves a row (and a count) whose file is gone,
        which the next try finishes; never a count given back for a file still served.

        Once begun, the two finish together even when the caller stops waiting (the route's
        deadline cancels it while a Cloudinary destroy goes on in its thread): they run as a
        task of their own, shielded from the caller's cancellation, which a stop awaits
        (settled). A deletion of an upload whose removal is under way awaits that one.

        NotFoundError (`not_found`) for a name that is not the caller's upload: someone
        else's, unknown, or deleted already, alike. UnavailableError when the store did not
        delete the file, or no store in use holds it: then nothing is given back.
        """
        url = await self.url_of(user_id, name)
        removal = self._deleting.get(url)
        if removal is None or removal.done():
            removal = asyncio.ensure_future(self._remove(user_id, url))
            self._deleting[url] = removal
            removal.add_done_callback(lambda done: self._ended(url, done))
        await asyncio.shield(removal)

    def _ended(self, url: str, removal: asyncio.Future[None]) -> None:
        if self._deleting.get(url) is removal:
            del self._deleting[url]

    async def settled(self) -> None:
        """Wait until every deletion under way has ended (a clean stop, before the pool
        closes): a caller gone leaves its deletion running, and the ledger must follow the
        file. Each is bounded by the stores' timeouts; their failures are logged in _remove."""
        while self._deleting:
            await asyncio.gather(*self._deleting.values(), return_exceptions=True)

    async def _remove(self, user_id: int, url: str) -> None:
        try:
            await self._file_then_row(user_id, url)
        except UnavailableError:
            raise  # logged where it was raised, saying which store
        except Exception:
            # Logged here: once the caller has had its 503 and gone, the shield drops what
            # this raises. Whatever is left (a row whose file is gone), a retry finishes.
            log.warning("deletion of %s for user %s did not finish", url, user_id,
                        exc_info=True)
            raise

    async def _file_then_row(self, user_id: int, url: str) -> None:
        if not await self.discard(url):
            # Stored where no configured store reaches (CLOUDINARY_URL unset or another
            # cloud since): forgetting it would give back the bytes of a file still served.
            log.warning("upload %s of user %s is in no media store in use; not deleted",
                        url, user_id)
            raise UnavailableError("The store that holds this file is not in use now.")
        await self.ledger.forget(user_id, url)

    async def url_of(self, user_id: int, name: str) -> str:
        """The URL of the caller's upload called `name`; NotFoundError as for delete."""
        url = await self.ledger.find(user_id, name) if _NAME_RE.match(name) else None
        if url is None:
            raise NotFoundError("You have no upload of that name.")
        return url

    async def discard(self, url: str) -> bool:
        """Remove the file at `url` from whichever store issued it (each leaves the others'
        URLs alone); gone already is done. False when no store in use took it as its own."""
        claimed = False
        for store in (*(s for s in self.earlier_stores if s is not self.store), self.store):
            claimed = await store.delete(url) or claimed
        return claimed

    async def usage(self, user_id: int) -> StorageUsage:
        used, files = await self.ledger.usage(user_id)
        return StorageUsage(used_bytes=used, quota_bytes=self.limits.quota, files=files)

    def _too_large(self, kind: MediaKind) -> PayloadTooLargeError:
        noun = {"image": "Images", "audio": "Audio files", "video": "Videos",
                "file": "Files"}[kind.value]
        return PayloadTooLargeError(f"{noun} may be at most {self.limits.of(kind)} bytes.")

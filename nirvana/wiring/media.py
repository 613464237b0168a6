"""Uploads: the media store (Cloudinary with CLOUDINARY_URL, else files under the data
directory), the ledger of who uploaded what, and the limits per kind and per account."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from ..domain.uploads import MediaStore, UploadLimits, Uploads
from ..settings import Settings
from ..storage.media import CloudinaryMediaStore, LocalMediaStore
from ..storage.postgres.uploads import PgUploadLedger


@dataclass(frozen=True)
class Media:
    uploads: Uploads
    ledger: PgUploadLedger
    # Always there, even with Cloudinary: files stored locally before a switch stay served.
    local: LocalMediaStore


def build_media(settings: Settings, pool: asyncpg.Pool) -> Media:
    local = LocalMediaStore(settings.data_dir / "media")
    store: MediaStore = (
        CloudinaryMediaStore(settings.cloudinary_url, timeout=max(settings.store_timeout, 30))
        if settings.cloudinary_url
        else local
    )
    ledger = PgUploadLedger(pool)
    uploads = Uploads(store, ledger, UploadLimits(
        image=settings.max_upload_bytes, audio=settings.max_audio_bytes,
        video=settings.max_video_bytes, file=settings.max_file_bytes,
        quota=settings.storage_quota_bytes), earlier_stores=(local,))
    return Media(uploads, ledger, local)

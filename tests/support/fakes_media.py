"""In-memory fakes of the media ports (nirvana/domain/uploads.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Callable, Mapping, Sequence

from nirvana.domain.idempotency import IdempotencyKey, replayed_or_refused
from nirvana.domain.sniffing import ContentType
from nirvana.domain.uploads import Issued, StoredUpload, Upload, UploadPosition, name_of


class FakeMediaStore:
    """Claims every URL unless `claims` says otherwise; a deletion waits for `gate` if set."""

    def __init__(self, fail: Exception | None = None,
                 fail_delete: Exception | None = None,
                 claims: Callable[[str], bool] = lambda url: True) -> None:
        self.saved: list[tuple[bytes, ContentType]] = []
        self.fail = fail
        self.fail_delete = fail_delete
        self.claims = claims
        self.gate: asyncio.Event | None = None
        self.asked: list[str] = []  # every deletion begun, finished or not
        self.deleted: list[str] = []
        self.named = 0

    def new_url(self, content: ContentType) -> str:
        self.named += 1
        return f"/media/{self.named}.{content.extension}"

    async def save(self, data: bytes, content: ContentType, url: str) -> str:
        if self.fail is not None:
            raise self.fail
        self.saved.append((data, content))
        return url

    async def delete(self, url: str) -> bool:
        if not self.claims(url):
            return False
        self.asked.append(url)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_delete is not None:
            raise self.fail_delete
        self.deleted.append(url)
        return True


class FakeUploadLedger:
    def __init__(self) -> None:
        self.used: dict[int, int] = {}
        self.uploads: dict[str, Upload] = {}
        self.recorded_at: dict[str, datetime] = {}
        self.finds = 0
        self.fail_forget: Exception | None = None
        self.keys: dict[tuple[int, str], tuple[str, str]] = {}  # (owner, key): (url, fingerprint)
        self.pending: dict[str, tuple[int, int]] = {}  # url: (user, size)

    async def reserve(self, user_id: int, size: int, quota: int, url: str,
                      by: str | None = None) -> bool:
        if self.used.get(user_id, 0) + size > quota:
            return False
        self.used[user_id] = self.used.get(user_id, 0) + size
        self.pending[url] = (user_id, size)
        return True

    async def release(self, url: str) -> bool:
        if url not in self.pending:
            return False
        user_id, size = self.pending.pop(url)
        self._give_back(user_id, size)
        return True

    async def give_back(self, url: str) -> bool:
        user_id, size = self.pending.get(url, (0, 0))
        if not size:
            return False
        self.pending[url] = (user_id, 0)
        self._give_back(user_id, size)
        return True

    async def keep_named(self, url: str, user_id: int) -> None:
        self.pending.setdefault(url, (user_id, 0))

    def _give_back(self, user_id: int, size: int) -> None:
        self.used[user_id] = max(0, self.used.get(user_id, 0) - size)

    async def record(self, upload: Upload, reserved: str | None = None,
                     key: IdempotencyKey | None = None) -> bool:
        if key is not None:
            held = self.keys.get((upload.owner_id, key.key))
            if held is not None and held[0] in self.uploads:  # a forgotten row frees its key
                return False
            self.keys[upload.owner_id, key.key] = (upload.url, key.fingerprint)
        self.uploads[upload.url] = upload
        if reserved is not None:
            self.pending.pop(reserved, None)
        # One second apart, so the newest-first order is the order of recording.
        self.recorded_at[upload.url] = (datetime(2026, 1, 1, tzinfo=timezone.utc)
                                        + timedelta(seconds=len(self.recorded_at)))
        return True

    async def keyed(self, owner_id: int, key: IdempotencyKey) -> Upload | None:
        url, fingerprint = self.keys.get((owner_id, key.key), (None, None))
        if url is None or url not in self.uploads:
            return None
        replayed_or_refused(key, fingerprint)
        return self.uploads[url]

    async def usage(self, user_id: int) -> tuple[int, int]:
        files = sum(1 for u in self.uploads.values() if u.owner_id == user_id)
        return self.used.get(user_id, 0), files

    async def issued(self, urls: Sequence[str]) -> Mapping[str, Issued]:
        return {u: Issued(self.uploads[u].owner_id, self.uploads[u].content.kind,
                          self.uploads[u].size) for u in urls if u in self.uploads}

    async def page(self, owner_id: int, after: UploadPosition | None,
                   limit: int) -> list[StoredUpload]:
        mine = sorted((StoredUpload(u.url, u.content.kind, u.content.mime, u.size,
                                    self.recorded_at[u.url], u.original_name)
                       for u in self.uploads.values() if u.owner_id == owner_id),
                      key=lambda s: (s.created_at, s.url), reverse=True)
        if after is not None:
            mine = [s for s in mine if (s.created_at, s.url) < (after.created_at, after.url)]
        return mine[:limit]

    async def find(self, owner_id: int, name: str) -> str | None:
        self.finds += 1
        return next((u.url for u in self.uploads.values()
                     if u.owner_id == owner_id and name_of(u.url) == name), None)

    async def forget(self, owner_id: int, url: str) -> bool:
        if self.fail_forget is not None:
            raise self.fail_forget
        upload = self.uploads.get(url)
        if upload is None or upload.owner_id != owner_id:
            return False
        del self.uploads[url]
        self._give_back(owner_id, upload.size)
        return True

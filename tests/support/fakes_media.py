"""In-memory fakes of the media ports (nirvana/domain/uploads.py)."""

from __future__ import annotations

from typing import Mapping, Sequence

from nirvana.domain.sniffing import ContentType
from nirvana.domain.uploads import Issued, Upload


class FakeMediaStore:
    def __init__(self, fail: Exception | None = None) -> None:
        self.saved: list[tuple[bytes, ContentType]] = []
        self.fail = fail
        self.deleted: list[str] = []

    async def save(self, data: bytes, content: ContentType) -> str:
        if self.fail is not None:
            raise self.fail
        self.saved.append((data, content))
        return f"/media/{len(self.saved)}.{content.extension}"

    async def delete(self, url: str) -> None:
        self.deleted.append(url)


class FakeUploadLedger:
    def __init__(self) -> None:
        self.used: dict[int, int] = {}
        self.uploads: dict[str, Upload] = {}

    async def reserve(self, user_id: int, size: int, quota: int) -> bool:
        if self.used.get(user_id, 0) + size > quota:
            return False
        self.used[user_id] = self.used.get(user_id, 0) + size
        return True

    async def release(self, user_id: int, size: int) -> None:
        self.used[user_id] = max(0, self.used.get(user_id, 0) - size)

    async def record(self, upload: Upload) -> None:
        self.uploads[upload.url] = upload

    async def usage(self, user_id: int) -> tuple[int, int]:
        files = sum(1 for u in self.uploads.values() if u.owner_id == user_id)
        return self.used.get(user_id, 0), files

    async def issued(self, urls: Sequence[str]) -> Mapping[str, Issued]:
        return {u: Issued(self.uploads[u].owner_id, self.uploads[u].content.kind,
                          self.uploads[u].size) for u in urls if u in self.uploads}

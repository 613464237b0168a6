"""Uploads against the real server and disk, for the tests of reservations, the sweep and
the giving back of a gone process's bytes: the caller's id and usage, an upload over HTTP,
the files on disk, and a disk whose saves wait for the test."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nirvana.storage.media import LocalMediaStore
from tests.support.http import bearer


async def me(client, session) -> int:
    return (await client.get("/api/v1/user/me", headers=bearer(session))).json()["id"]


async def usage(client, session) -> dict:
    return (await client.get("/api/v1/media/usage", headers=bearer(session))).json()


async def upload(client, session, data: bytes, name: str = "pic.png"):
    return await client.post("/api/v1/media/upload", headers=bearer(session),
                             files={"file": (name, data, "application/octet-stream")})


def files(settings) -> set[str]:
    root = settings.data_dir / "media"
    return {p.name for p in root.iterdir()} if root.exists() else set()


class HeldStore(LocalMediaStore):
    """The local disk, whose saves wait for `go` once `begun` is set."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.begun, self.go = asyncio.Event(), asyncio.Event()

    async def save(self, data, content, url):
        self.begun.set()
        await self.go.wait()
        return await super().save(data, content, url)

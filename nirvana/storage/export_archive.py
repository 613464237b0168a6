"""Export archives as zip files under the data directory (`exports/`), one per export id.

Built in a worker thread (zipping and reading the uploads is blocking file work), written
aside and renamed, so a download never meets half an archive.
"""

from __future__ import annotations

import asyncio
import os
import uuid
import zipfile
from pathlib import Path
from typing import Any, Sequence

import orjson

from .media import PUBLIC_PREFIX, LocalMediaStore


class LocalExportArchives:
    def __init__(self, root: Path, media: LocalMediaStore) -> None:
        self.root = root
        self._media = media

    def path(self, export_id: str) -> Path | None:
        """The archive of `export_id`, if it is there."""
        try:
            name = f"{uuid.UUID(export_id)}.zip"
        except ValueError:
            return None
        found = self.root / name
        return found if found.is_file() else None

    async def write(self, export_id: str, files: dict[str, Any],
                    uploads: Sequence[str]) -> int:
        return await asyncio.to_thread(self._write, str(uuid.UUID(export_id)), files, uploads)

    def _write(self, export_id: str, files: dict[str, Any], uploads: Sequence[str]) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / f"{export_id}.zip"
        tmp = self.root / f".{export_id}.zip.tmp"
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, content in files.items():
                data = content.encode() if isinstance(content, str) else orjson.dumps(
                    content, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
                archive.writestr(name, data)
            for url in uploads:
                # Only files this server stores: others (Cloudinary, links) are listed in
                # uploads.json by their address.
                if not url.startswith(PUBLIC_PREFIX):
                    continue
                found = self._media.find(url[len(PUBLIC_PREFIX):])
                if found is None:
                    continue
                try:
                    archive.write(found[0], f"uploads/{found[0].name}")
                except FileNotFoundError:
                    # Deleted since it was found (DELETE /api/v1/media): listed by its address
                    # only, as a file that was gone already. The stat and the open that
                    # failed come before the entry is begun, so the archive stays whole.
                    continue
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
        return final.stat().st_size

    async def delete(self, export_id: str) -> None:
        found = self.path(export_id)
        if found is not None:
            await asyncio.to_thread(found.unlink, True)

    async def stored_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return [p.name[:-len(".zip")] for p in self.root.glob("*.zip")]

"""An export archive's uploads, on the real disk: a file deleted while the archive is built
(DELETE /api/v1/media between finding it and zipping it) is left out, and the build
finishes with everything else rather than failing its attempt."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from nirvana.domain.sniffing import sniff
from nirvana.storage.export_archive import LocalExportArchives
from nirvana.storage.media import LocalMediaStore
from tests.support.media_files import pdf

pytestmark = pytest.mark.anyio

EXPORT_ID = "6f1c8a52-0d4e-4c53-9a11-52c9e0d1b7a3"


class DeletedOnceFound(LocalMediaStore):
    """The disk store, where `doomed` is deleted just after the archive finds it."""

    def __init__(self, root: Path, doomed: str) -> None:
        super().__init__(root)
        self.doomed = doomed

    def find(self, name: str):
        found = super().find(name)
        if found is not None and name == self.doomed:
            found[0].unlink()
        return found


async def test_a_file_deleted_while_the_archive_is_built_is_left_out(tmp_path):
    media = LocalMediaStore(tmp_path / "media")
    kept = await media.save(pdf(), sniff(pdf()), media.new_url(sniff(pdf())))
    doomed = await media.save(pdf(), sniff(pdf()), media.new_url(sniff(pdf())))
    archives = LocalExportArchives(tmp_path / "exports",
                                   DeletedOnceFound(media.root, doomed.rsplit("/", 1)[1]))
    await archives.write(EXPORT_ID, {"uploads.json": [kept, doomed]}, [doomed, kept])
    with zipfile.ZipFile(archives.path(EXPORT_ID)) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == ["uploads.json",
                                              "uploads/" + kept.rsplit("/", 1)[1]]

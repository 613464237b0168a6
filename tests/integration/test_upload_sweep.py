"""Reservations as pending rows, against the real PostgreSQL and the local disk: what an upload
cut off between its reservation and its row leaves (the reservation, its file, a partial copy)
is swept, also after its account was deleted; a release after the row's insert committed gives
nothing back; uploads racing near the quota never pass it."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from nirvana.domain.errors import UnavailableError
from nirvana.domain.sniffing import sniff
from nirvana.domain.upload_sweep import PENDING_BOUND, sweep
from nirvana.domain.uploads import Upload, UploadLimits
from nirvana.storage.media import aside
from tests.support.http import PASSWORD, bearer, sign_up
from tests.support.images import png
from tests.support.media_files import pdf
from tests.support.pg_races import waiting_on_locks
from tests.support.upload_calls import HeldStore, files, me, upload, usage


async def cut_off(services, user_id: int, data: bytes, *, written: bool = True) -> str:
    """What a kill -9 after the reservation leaves: the pending row, and the file (or only
    the copy being written). The URL it was saved at."""
    uploads = services.uploads
    content = sniff(data)
    url = uploads.store.new_url(content)
    assert await uploads.ledger.reserve(user_id, len(data), uploads.limits.quota, url)
    if written:
        await uploads.store.save(data, content, url)
    else:
        path = uploads.store.root / url.rsplit("/", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        aside(path).write_bytes(data[:3])
    return url


async def test_a_cut_off_upload_is_swept_and_its_bytes_given_back(client, services, settings):
    ann = await sign_up(client)
    kept = await upload(client, ann, png(3, 3))
    assert kept.status_code == 201, kept.text
    whole = await cut_off(services, await me(client, ann), pdf())
    partial = await cut_off(services, await me(client, ann), pdf(), written=False)
    assert (await usage(client, ann))["used_bytes"] == len(png(3, 3)) + 2 * len(pdf())
    assert len(files(settings)) == 3

    # A reservation younger than the bound may be an upload still at work: left alone.
    assert await sweep(services.uploads, PENDING_BOUND) == 0
    assert len(files(settings)) == 3

    assert await sweep(services.uploads, older_than=0) == 2
    assert await usage(client, ann) == {"used_bytes": len(png(3, 3)),
                                        "quota_bytes": services.uploads.limits.quota,
                                        "files": 1}
    assert files(settings) == {kept.json()["name"]}
    for url in (whole, partial):
        assert (await client.get(url)).status_code == 404
    assert await services.pool.fetchval("SELECT count(*) FROM media_pending") == 0
    assert await sweep(services.uploads, older_than=0) == 0


async def test_a_cut_off_upload_of_a_deleted_account_is_swept(client, services, settings):
    zed = await sign_up(client)
    zid = await me(client, zed)
    assert (await upload(client, zed, png(3, 3))).status_code == 201
    await cut_off(services, zid, pdf())
    await cut_off(services, zid, pdf(), written=False)
    r = await client.request("DELETE", "/api/v1/user/me", headers=bearer(zed),
                             json={"password": PASSWORD})
    assert r.status_code == 204
    await services.erasure.erase_pending()
    assert len(files(settings)) == 2  # the account's erasure knows nothing of them

    assert await sweep(services.uploads, older_than=0) == 2
    assert files(settings) == set()
    assert await services.pool.fetchval("SELECT count(*) FROM media_pending") == 0


async def test_two_sweeps_at_once_give_each_reservation_back_once(client, services, settings):
    ann = await sign_up(client)
    aid = await me(client, ann)
    for _ in range(3):
        assert (await upload(client, ann, png(3, 3))).status_code == 201
    for _ in range(40):
        await cut_off(services, aid, pdf())
    swept = await asyncio.gather(*(sweep(services.uploads, older_than=0, batch=7)
                                   for _ in range(4)))
    assert sum(swept) == 40
    assert (await usage(client, ann))["used_bytes"] == 3 * len(png(3, 3))
    assert len(files(settings)) == 3


async def test_a_file_that_will_not_go_does_not_stop_the_sweep_for_good(client, services,
                                                                        settings):
    """A removal that always fails (here a directory where the file was) ends one sweep, and
    its reservation goes to the back of the line, so the next sweep reaches the rows behind."""
    ann = await sign_up(client)
    aid = await me(client, ann)
    stuck, other = (await cut_off(services, aid, pdf()), await cut_off(services, aid, pdf()))
    for url, hours in ((stuck, 3), (other, 2)):  # the stuck one first in line
        await services.pool.execute(
            "UPDATE media_pending SET reserved_at = now() - make_interval(hours => $2) "
            "WHERE url = $1", url, hours)
    path = services.uploads.store.root / stuck.rsplit("/", 1)[1]
    path.unlink()
    path.mkdir()
    assert await sweep(services.uploads, older_than=PENDING_BOUND) == 0  # refused: it ends
    assert await sweep(services.uploads, older_than=PENDING_BOUND) == 1
    assert files(settings) == {path.name}
    assert (await usage(client, ann))["used_bytes"] == len(pdf())  # the stuck one's
    assert await services.pool.fetchval("SELECT array_agg(url) FROM media_pending") == [stuck]


async def test_a_release_after_the_rows_insert_committed_gives_nothing_back(client, services):
    """The case of an insert whose answer was lost: the upload answers 503 and releases, but
    its row took the reservation with it, so the count stays that of the rows."""
    ann = await sign_up(client)
    aid = await me(client, ann)
    ledger, store = services.uploads.ledger, services.uploads.store
    url = store.new_url(sniff(pdf()))
    assert await ledger.reserve(aid, len(pdf()), 10**9, url)
    await store.save(pdf(), sniff(pdf()), url)
    assert await ledger.record(Upload(url, aid, sniff(pdf()), len(pdf())), url)

    assert await ledger.release(url) is False
    assert await usage(client, ann) == {"used_bytes": len(pdf()), "files": 1,
                                        "quota_bytes": services.uploads.limits.quota}
    assert await sweep(services.uploads, older_than=0) == 0
    assert (await client.get(url)).status_code == 200
    # Deleting it gives its bytes back once: the count is that of the rows, nothing.
    r = await client.delete(f"/api/v1/media/{url.rsplit('/', 1)[1]}", headers=bearer(ann))
    assert r.status_code == 204
    assert (await usage(client, ann))["used_bytes"] == 0


async def test_bytes_given_back_keep_the_file_named_until_it_is_removed(client, services,
                                                                        settings):
    """A failed upload whose insert may have committed gives its bytes back first; a crash
    (or a store down) before its file is removed leaves a reservation of no bytes naming the
    file, which no upload's row can take and which the sweep finishes."""
    ann = await sign_up(client)
    aid = await me(client, ann)
    url = await cut_off(services, aid, pdf())
    ledger = services.uploads.ledger
    assert await ledger.give_back(url) is True
    assert await ledger.give_back(url) is False  # given back once
    assert (await usage(client, ann))["used_bytes"] == 0
    with pytest.raises(UnavailableError):
        await ledger.record(Upload(url, aid, sniff(pdf()), len(pdf())), url)
    assert len(files(settings)) == 1  # the crash: named by its reservation, not removed
    assert await sweep(services.uploads, older_than=0) == 1
    assert files(settings) == set()
    assert await usage(client, ann) == {"used_bytes": 0, "files": 0,
                                        "quota_bytes": services.uploads.limits.quota}
    assert await services.pool.fetchval("SELECT count(*) FROM media_pending") == 0


async def test_a_file_saved_after_its_reservation_was_swept_is_removed(client, services,
                                                                       settings):
    ann = await sign_up(client)
    aid = await me(client, ann)
    services.uploads.store = held = HeldStore(services.uploads.store.root)
    uploading = asyncio.create_task(services.uploads.upload(aid, pdf()))
    await held.begun.wait()
    assert await sweep(services.uploads, older_than=0) == 1  # nothing written yet
    held.go.set()
    with pytest.raises(UnavailableError):
        await uploading
    assert files(settings) == set()
    assert await usage(client, ann) == {"used_bytes": 0, "files": 0,
                                        "quota_bytes": services.uploads.limits.quota}


class RefusingHeldStore(HeldStore):
    """HeldStore whose deletions fail while `refuse` is set (a store down)."""

    refuse = True

    async def delete(self, url):
        if self.refuse:
            raise UnavailableError("down")
        return await super().delete(url)


async def test_a_file_saved_after_its_swept_reservation_stays_named_if_not_removed(
        client, services, settings):
    ann = await sign_up(client)
    aid = await me(client, ann)
    services.uploads.store = held = RefusingHeldStore(services.uploads.store.root)
    services.uploads.earlier_stores = ()  # the disk is this store
    uploading = asyncio.create_task(services.uploads.upload(aid, pdf()))
    await held.begun.wait()
    held.refuse = False
    assert await sweep(services.uploads, older_than=0) == 1  # nothing written yet
    held.refuse = True
    held.go.set()
    with pytest.raises(UnavailableError):
        await uploading
    assert len(files(settings)) == 1  # the store did not answer: named again, of no bytes
    assert (await services.pool.fetchrow("SELECT user_id, size FROM media_pending")) == (aid, 0)
    held.refuse = False
    assert await sweep(services.uploads, older_than=0) == 1
    assert files(settings) == set()
    assert await usage(client, ann) == {"used_bytes": 0, "files": 0,
                                        "quota_bytes": services.uploads.limits.quota}


async def test_uploads_racing_near_the_quota_never_pass_it(client, services, settings):
    ann = await sign_up(client)
    size = len(pdf())
    services.uploads.limits = UploadLimits(quota=3 * size + size // 2)
    answers = await asyncio.gather(*(upload(client, ann, pdf(), f"{n}.pdf")
                                     for n in range(12)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 3 + [413] * 9, [r.text for r in answers]
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 413} == {
        "quota_exceeded"}
    assert (await usage(client, ann))["used_bytes"] == 3 * size
    assert len(files(settings)) == 3
    assert await services.pool.fetchval("SELECT count(*) FROM media_pending") == 0


async def test_an_insert_that_outlived_the_bound_stores_no_row_of_a_swept_file(client, services,
                                                                               settings):
    """The row of an upload goes in only with its reservation: swept meanwhile, the file is
    gone and the insert stores nothing (the upload fails), never a row naming no file."""
    ann = await sign_up(client)
    aid = await me(client, ann)
    url = await cut_off(services, aid, pdf())
    async with services.pool.acquire() as holder, holder.transaction():
        await holder.execute("LOCK TABLE media_uploads IN SHARE MODE")
        recording = asyncio.create_task(services.uploads.ledger.record(
            Upload(url, aid, sniff(pdf()), len(pdf())), url))
        await waiting_on_locks(services.pool, recording, holder.get_server_pid())
        assert await sweep(services.uploads, older_than=0) == 1
    with pytest.raises(UnavailableError):
        await recording
    assert await usage(client, ann) == {"used_bytes": 0, "files": 0,
                                        "quota_bytes": services.uploads.limits.quota}
    assert files(settings) == set()


async def test_a_sweep_skips_a_reservation_being_stored(client, services, settings):
    ann = await sign_up(client)
    url = await cut_off(services, await me(client, ann), pdf())
    async with services.pool.acquire() as holder, holder.transaction():
        # What the insert of the upload's row holds while it runs.
        await holder.execute("SELECT FROM media_pending WHERE url = $1 FOR UPDATE", url)
        assert await sweep(services.uploads, older_than=0) == 0
    assert len(files(settings)) == 1
    assert await sweep(services.uploads, older_than=0) == 1


async def orphans_tool(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nirvana.media_orphans", *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


async def test_the_orphans_tool_lists_and_removes_old_files_no_row_names(client, services,
                                                                         settings, server_urls):
    ann = await sign_up(client)
    listed = await upload(client, ann, png(3, 3))
    await cut_off(services, await me(client, ann), pdf())  # under way: named by its row
    media = settings.data_dir / "media"
    for stray in ("A" * 24 + ".bin", ".B" + "b" * 23 + ".pdf.tmp", "C" * 24 + ".png"):
        (media / stray).write_bytes(b"left")
    hour_ago = time.time() - PENDING_BOUND - 60
    for path in media.iterdir():
        if not path.name.startswith("C"):  # C... is as new as an upload being written
            os.utime(path, (hour_ago, hour_ago))
    # The ledger began two days ago: a file from before it (an avatar saved with no row) is
    # still in use, as are an operator's notes and a symlink, whatever their age.
    await services.pool.execute("UPDATE schema_migrations SET applied_at = now() - "
                                "interval '2 days' WHERE version = 12")
    before_ledger = time.time() - 3 * 86400
    (media / ("D" * 24 + ".png")).write_bytes(b"avatar")
    (media / "notes.txt").write_bytes(b"mine")
    (media / ("E" * 24 + ".png")).symlink_to(media / "notes.txt")
    os.utime(media / ("D" * 24 + ".png"), (before_ledger, before_ledger))
    os.utime(media / "notes.txt", (hour_ago, hour_ago))
    os.utime(media / ("E" * 24 + ".png"), (hour_ago, hour_ago), follow_symlinks=False)
    env = {"DATABASE_URL": server_urls[0], "DATA_DIR": str(settings.data_dir)}

    code, out, err = await orphans_tool(env)
    assert code == 0, err
    assert sorted(Path(line).name for line in out.splitlines()) == [
        ".B" + "b" * 23 + ".pdf.tmp", "A" * 24 + ".bin"]
    assert len(files(settings)) == 8  # listed only

    code, out, err = await orphans_tool(env, "--remove")
    assert code == 0 and "2 file(s) no upload names, removed" in err, err
    assert len(files(settings)) == 6 and listed.json()["name"] in files(settings)
    assert {"D" * 24 + ".png", "notes.txt", "E" * 24 + ".png"} <= files(settings)
    assert (await client.get(listed.json()["url"])).status_code == 200

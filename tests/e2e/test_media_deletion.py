"""A user's own uploads on the real server: listed newest first in pages, nobody else's;
deleted by their owner only (404 alike for another's, an unknown and a deleted one), the file
no longer served, no longer attachable, and its bytes given back to the quota exactly once."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest
from pymongo import AsyncMongoClient

from nirvana.bootstrap import build_services
from nirvana.domain.uploads import UploadLimits, Uploads, name_of
from nirvana.storage.media import PUBLIC_PREFIX, LocalMediaStore
from nirvana.storage.postgres.pool import create_pool
from nirvana.storage.postgres.uploads import FIND_BY_NAME, PAGE_AFTER, PAGE_FIRST
from tests.support.chat_client import Client
from tests.support.images import png
from tests.support.media_files import pdf
from tests.support.people import befriend, user
from tests.support.pg_races import WAIT, waiting_on_locks
from tests.support.waiting import wait_until

LIST = "/api/v1/media"


def auth(who: dict) -> dict:
    return {"Authorization": f"Bearer {who['jwt']}"}


async def upload(live, who: dict, data: bytes | None = None) -> dict:
    r = await live.http.post("/api/v1/media/upload", headers=auth(who),
                             files={"file": ("a.pdf", data or pdf(), "application/pdf")})
    assert r.status_code == 201, r.text
    return r.json()


async def usage(live, who: dict) -> dict:
    return (await live.http.get("/api/v1/media/usage", headers=auth(who))).json()


async def delete(live, who: dict, name: str):
    return await live.http.delete(f"{LIST}/{name}", headers=auth(who))


async def test_the_list_is_your_own_uploads_newest_first_in_pages(live):
    ann, bob = await user(live.http), await user(live.http)
    mine = [await upload(live, ann, data) for data in (pdf(), png(), pdf())]
    await upload(live, bob)
    seen, cursor = [], None
    while True:
        r = await live.http.get(LIST, headers=auth(ann),
                                params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i["url"] for i in seen] == [u["url"] for u in reversed(mine)]
    first = seen[-1]
    shown = ("url", "name", "kind", "mime", "size", "original_name")
    assert {k: first[k] for k in shown} == mine[0]
    assert first["name"] == first["url"].removeprefix("/media/") and first["created_at"]
    bobs = (await live.http.get(LIST, headers=auth(bob))).json()["items"]
    assert len(bobs) == 1 and bobs[0]["url"] not in {u["url"] for u in mine}


@pytest.mark.parametrize("params,code", [({"limit": 0}, "greater_than_equal"),
                                         ({"limit": 101}, "less_than_equal"),
                                         ({"cursor": "bm9wZQ"}, "invalid_cursor"),
                                         ({"cursor": "dTowOgA"}, "invalid_cursor")])  # a NUL
async def test_the_lists_bounds_and_cursor_are_checked(live, params, code):
    ann = await user(live.http)
    r = await live.http.get(LIST, headers=auth(ann), params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["code"] == code


async def test_deleting_gives_the_quota_back_and_the_file_is_no_longer_served(live):
    size = len(pdf())
    live.services.uploads.limits = UploadLimits(quota=size * 2)
    ann = await user(live.http)
    first, _ = await upload(live, ann), await upload(live, ann)
    refused = await live.http.post("/api/v1/media/upload", headers=auth(ann),
                                   files={"file": ("c.pdf", pdf(), "application/pdf")})
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "quota_exceeded"

    r = await delete(live, ann, first["name"])
    assert r.status_code == 204, r.text
    assert r.headers["RateLimit-Policy"].startswith('"writes"')  # a write like the others
    assert (await live.http.get(first["url"])).status_code == 404
    assert await usage(live, ann) == {"used_bytes": size, "quota_bytes": size * 2, "files": 1}
    assert first["url"] not in {i["url"] for i in
                                (await live.http.get(LIST, headers=auth(ann))).json()["items"]}
    await upload(live, ann)  # refused before, there is room now


async def test_anothers_an_unknown_and_a_deleted_upload_are_404_alike(live):
    ann, bob = await user(live.http), await user(live.http)
    anns = await upload(live, ann)
    before = await usage(live, ann)
    # The name with one character that is not "_" made "_" (names are url-safe base64, so
    # one may start with "_"): a LIKE pattern would match it.
    wild = anns["name"].replace(next(ch for ch in anns["name"] if ch != "_"), "_", 1)
    answers = [await delete(live, bob, anns["name"]),
               await delete(live, ann, "AAAAAAAAAAAAAAAAAAAAAAAA.pdf"),
               await delete(live, ann, "x%27%20OR%201=1--.pdf"),
               # A name's end is not its name: the whole last segment must match.
               await delete(live, ann, anns["name"][1:]),
               await delete(live, ann, wild)]  # no LIKE wildcard either
    assert (await delete(live, ann, anns["name"])).status_code == 204
    answers.append(await delete(live, ann, anns["name"]))
    assert [a.status_code for a in answers] == [404] * 6, [a.text for a in answers]
    assert {a.json()["error"]["code"] for a in answers} == {"not_found"}
    assert len({a.json()["error"]["message"] for a in answers}) == 1
    assert before["files"] == 1 and (await usage(live, ann))["files"] == 0
    unauthenticated = await live.http.delete(f"{LIST}/{anns['name']}")
    assert unauthenticated.status_code == 401


async def test_two_deletions_at_once_give_the_bytes_back_once(live):
    ann = await user(live.http)
    await upload(live, ann)
    doomed = await upload(live, ann)
    pool, here = live.services.pool, live.services.uploads
    # Another instance on the same database (one server's second deletion waits on its
    # first's removal instead: tests/unit/test_uploads.py).
    there = Uploads(here.store, here.ledger, here.limits, here.earlier_stores)
    # The row held locked, both deletions reach the ledger and wait there together.
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("SELECT 1 FROM media_uploads WHERE url = $1 FOR UPDATE",
                           doomed["url"])
        both = asyncio.ensure_future(asyncio.gather(delete(live, ann, doomed["name"]),
                                                    there.delete(ann["id"], doomed["name"])))
        await waiting_on_locks(pool, both, conn.get_server_pid(), count=2)
        await transaction.commit()
    answer, _ = await asyncio.wait_for(both, WAIT)
    assert answer.status_code == 204, answer.text
    assert await usage(live, ann) == {"used_bytes": len(pdf()), "quota_bytes": 500_000_000,
                                      "files": 1}


async def test_a_deletion_cut_short_after_the_file_went_is_finished_by_a_retry(live):
    ann = await user(live.http)
    done = await upload(live, ann)
    # As if a crash came between removing the file and the ledger: the row and count stay.
    (live.services.local_media.root / done["name"]).unlink()
    assert (await usage(live, ann))["used_bytes"] == len(pdf())
    assert (await delete(live, ann, done["name"])).status_code == 204
    assert await usage(live, ann) == {"used_bytes": 0, "quota_bytes": 500_000_000, "files": 0}
    assert await live.services.pool.fetchval("SELECT count(*) FROM media_orphans") == 0


class RemovedInItsThread(LocalMediaStore):
    """The disk store, whose removal waits in a worker thread for `go`, as a Cloudinary
    destroy runs in the SDK's thread: no cancellation of the request reaches it."""

    def __init__(self, root) -> None:
        super().__init__(root)
        self.began = threading.Event()
        self.go = threading.Event()

    async def delete(self, url: str) -> bool:
        await asyncio.to_thread(self._remove, url.removeprefix(PUBLIC_PREFIX))
        return True

    def _remove(self, name: str) -> None:
        self.began.set()
        self.go.wait(WAIT)
        (self.root / name).unlink()


async def test_a_deletion_answered_at_the_deadline_still_finishes_whole(live):
    ann = await user(live.http)
    done = await upload(live, ann)
    services = live.services
    store = RemovedInItsThread(services.local_media.root)
    services.uploads.store, services.uploads.earlier_stores = store, ()
    settings = services.settings
    services.settings = replace(settings, store_timeout=0.5)  # the route's deadline: 0.75 s
    try:
        r = await delete(live, ann, done["name"])
    finally:
        services.settings = settings
    assert r.status_code == 503, r.text  # the file's removal still under way
    store.go.set()

    async def finished() -> bool:
        return (await usage(live, ann))["files"] == 0

    # The ledger follows the file: no row, count or attachable URL left for a file gone.
    await wait_until(finished, "the deletion to finish after its 503")
    assert (await usage(live, ann))["used_bytes"] == 0
    assert (await live.http.get(done["url"])).status_code == 404
    assert (await delete(live, ann, done["name"])).status_code == 404


async def test_a_stop_waits_for_a_deletion_its_caller_left(live, settings, server_urls):
    ann = await user(live.http)
    # Services of their own, as a process that stops, over their own pool and client (not
    # opened by open_stores: its init_beanie would bind the documents to a client closed here).
    pool = await create_pool(server_urls[0], timeout=settings.store_timeout)
    mongo: AsyncMongoClient = AsyncMongoClient(server_urls[1], tz_aware=True)
    stopping = build_services(settings, pool, mongo, secret="t" * 48)
    store = RemovedInItsThread(stopping.local_media.root)
    stopping.uploads.store, stopping.uploads.earlier_stores = store, ()
    closing = None
    try:
        done = await stopping.uploads.upload(ann["id"], pdf())
        caller = asyncio.create_task(stopping.uploads.delete(ann["id"], name_of(done.url)))
        await wait_until(store.began.is_set, "the file's removal to begin in its thread")
        caller.cancel()  # the route's deadline: the client has its 503
        closing = asyncio.create_task(stopping.close())
        ended, _ = await asyncio.wait({closing}, timeout=1.0)
        assert not ended  # the stop waits for the removal, the pool still open
        store.go.set()
        await asyncio.wait_for(closing, WAIT)
        # The ledger followed the file before the pool went: no row left for a file gone.
        assert (await usage(live, ann))["files"] == 0
    finally:
        store.go.set()
        await (closing or stopping.close())


async def a_direct_chat_with_an_upload(live) -> tuple[dict, str, dict]:
    """A user, their direct conversation with a friend, and a file they uploaded."""
    ann, bob = await user(live.http), await user(live.http)
    await befriend(live.services, ann["id"], bob["id"])
    done = await upload(live, ann)
    cid = (await live.http.post("/api/v1/conversations", headers=auth(ann),
                                json={"kind": "direct", "user_id": bob["id"]})).json()["id"]
    return ann, cid, done


async def test_a_deleted_upload_can_no_longer_be_attached(live):
    ann, cid, done = await a_direct_chat_with_an_upload(live)
    assert (await delete(live, ann, done["name"])).status_code == 204
    r = await live.http.post(f"/api/v1/conversations/{cid}/messages", headers=auth(ann), json={
        "kind": "file", "attachments": [{"url": done["url"], "kind": "file"}]})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["code"] == "not_uploaded"


async def test_a_retry_of_a_send_whose_upload_was_deleted_since_gets_the_stored_message(live):
    ann, cid, done = await a_direct_chat_with_an_upload(live)
    send = {"client_id": "c-1", "kind": "file",
            "attachments": [{"url": done["url"], "kind": "file"}]}
    first = await live.http.post(f"/api/v1/conversations/{cid}/messages", headers=auth(ann),
                                 json=send)
    assert first.status_code == 201, first.text
    assert (await delete(live, ann, done["name"])).status_code == 204
    # A retry answers what is stored (docs/protocol.md), on both transports.
    again = await live.http.post(f"/api/v1/conversations/{cid}/messages", headers=auth(ann),
                                 json=send)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    ws = await Client.connect(live.ws, ann)
    try:
        acked = await ws.command("send", conversation_id=cid, **send)
    finally:
        await ws.close()
    assert acked["type"] == "ack" and acked["duplicate"] is True, acked
    assert acked["message"]["id"] == first.json()["id"]


@pytest.mark.parametrize("statement,params,index", [
    (PAGE_FIRST, 2, "media_uploads_owner_newest_idx"),
    (PAGE_AFTER, 4, "media_uploads_owner_newest_idx"),
    (FIND_BY_NAME, 2, "media_uploads_owner_name_idx"),
])
async def test_the_list_and_the_name_lookup_walk_their_indexes(services, statement, params,
                                                               index):
    # An empty table's plan would be any; as on a large one: no scan of all the rows, and
    # for the list no sort of all the owner's. The generic plan, as a prepared statement
    # gets after five runs: EXPLAIN with the values bound plans for those values, and would
    # fold a "$2 IS NULL OR ..." away.
    async with services.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        await conn.execute("SET LOCAL enable_bitmapscan = off")
        if statement != FIND_BY_NAME:
            await conn.execute("SET LOCAL enable_sort = off")
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        # Statistics of a table in use (200 owners, 100 uploads each), rolled back with the
        # rest: on an empty or barely used table the planner's choice turns on what earlier
        # tests left and when the table was last analyzed.
        await conn.execute("SET LOCAL session_replication_role = replica")  # no owner rows
        await conn.execute(
            "INSERT INTO media_uploads (url, owner_id, kind, mime, size, created_at) "
            "SELECT '/media/planned-' || g || '.png', 1000000 + g % 200, 'image', "
            "'image/png', 1, now() - g * interval '1 minute' FROM generate_series(1, 20000) g")
        await conn.execute("ANALYZE media_uploads")
        await conn.execute(f"PREPARE planned AS {statement}")
        try:  # no value enters a generic plan: NULLs will do
            nulls = ", ".join(["NULL"] * params)
            plan = "\n".join(r[0] for r in await conn.fetch(
                f"EXPLAIN EXECUTE planned({nulls})"))
        finally:
            await conn.execute("DEALLOCATE planned")
    assert "$1" in plan, plan  # generic: the values are not in it
    assert index in plan, plan
    # The page starts at the cursor in the index and reads it in order: no sort, no filter.
    assert statement == FIND_BY_NAME or ("Sort" not in plan and "Filter" not in plan), plan


async def test_openapi_declares_the_list_and_the_deletion(live):
    paths = (await live.http.get("/openapi.json")).json()["paths"]
    listing = paths[LIST]["get"]
    assert {"200", "401", "422", "503"} <= set(listing["responses"])
    assert {"limit", "cursor"} <= {p["name"] for p in listing["parameters"]}
    deletion = paths[LIST + "/{name}"]["delete"]
    assert {"204", "401", "404", "429", "503"} <= set(deletion["responses"])

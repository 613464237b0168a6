"""`python -m nirvana.admin unbundle-receipts` refuses while Nirvana runs (docs/operations.md,
"Receipts stored together"): a bundle rewritten while a writer goes on storing them would
leave the last ones for the earlier release's resume to fail on. Over the real stores."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

from nirvana import admin
from nirvana.chat_writer_role import CHAT_WRITER
from nirvana.domain.chat.entities import ReceiptKind
from nirvana.instance_guard import INSTANCE, InstanceRunning, claim_instance, refuse_mixed
from nirvana.storage.datadir_lock import SERVER, DataDirLock
from nirvana.storage.mongo.deployment import COLLECTION as DEPLOYMENT_COLLECTION
from nirvana.storage.mongo.deployment import DOCUMENT_ID as DEPLOYMENT_DOCUMENT
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.unbundle import bundles_left
from nirvana.storage.postgres.leases import PgLeases
from tests.support.admin_cli import run_admin
from tests.support.receipt_runs import queued_together, receipts_world, room_of

ELSEWHERE = {"host": "another-host", "pid": 4242, "url": "http://10.0.0.2:8000"}


async def _a_bundle(services, chats, writers) -> None:
    """One run of a room's read marks, stored as a bundle, its writer then closed."""
    _, store, (a, _, _), _ = await receipts_world(services, chats, writers)
    room = await room_of(store, a)
    await queued_together(store, [(room, m, ReceiptKind.READ, 1) for m in room.member_ids[1:]])
    await store.close()
    assert await _bundles() == 1


def _external(server_urls, settings) -> dict[str, str]:
    """The settings of instances on servers of their own: DATABASE_URL and MONGODB_URL."""
    return {**os.environ, "DATABASE_URL": server_urls[0], "MONGODB_URL": server_urls[1],
            "MONGODB_DB": settings.mongodb_db}


async def _bundles() -> int:
    return await ChatCollections().events.count_documents({"type": "receipts"})


@pytest.mark.parametrize("lease", [INSTANCE, CHAT_WRITER])
async def test_with_mongodb_url_it_refuses_while_an_instance_holds_a_lease(
        services, chats, writers, stores, server_urls, settings, lease):
    """A process without REDIS_URL holds 'instance', instances with it have their writer
    hold 'chat-writer'; each on another machine, as with MONGODB_URL the instances are."""
    await _a_bundle(services, chats, writers)
    await PgLeases(stores[0]).acquire(lease, "another-host:4242:x", 60, ELSEWHERE)
    code, out, err = await run_admin(_external(server_urls, settings), "unbundle-receipts")
    assert code == 1, (out, err)
    assert "Nirvana (pid 4242 on another-host, http://10.0.0.2:8000) is using these " \
           "databases: stop every instance" in err, err
    assert await _bundles() == 1


async def test_with_the_embedded_store_it_refuses_while_nirvana_holds_the_data_dir(
        services, chats, writers, server_urls, settings, tmp_path):
    """A running Nirvana: it holds DATA_DIR and its chat store is up (here the tests')."""
    await _a_bundle(services, chats, writers)
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URL"}
    env.update(DATABASE_URL=server_urls[0], DATA_DIR=str(tmp_path),
               MONGODB_DB=settings.mongodb_db)
    port = urlsplit(server_urls[1]).port
    (tmp_path / "mongo.pid").write_text(f'{{"pid": {os.getpid()}, "port": {port}}}')
    with DataDirLock(tmp_path, holder=SERVER):
        code, out, err = await run_admin(env, "unbundle-receipts")
    assert code == 1, (out, err)
    assert "runs only with every instance stopped, and data directory" in err, err
    assert await _bundles() == 1


async def test_with_mongodb_url_it_refuses_another_deployments_postgresql(
        services, chats, writers, stores, server_urls, settings):
    """Its leases would say nothing of the chat store's instances: a wrong DATABASE_URL."""
    await _a_bundle(services, chats, writers)
    await stores[1][settings.mongodb_db][DEPLOYMENT_COLLECTION].insert_one(
        {"_id": DEPLOYMENT_DOCUMENT, "id": "another-deployment"})
    code, out, err = await run_admin(_external(server_urls, settings), "unbundle-receipts")
    assert code == 1, (out, err)
    assert "holds deployment id another-deployment" in err, err
    assert await _bundles() == 1


def _unbundle(server_urls, settings):
    """The command in this process: its lease's pid is live here, so a lease it left held
    would refuse a start below (a dead pid's is taken at once)."""
    return admin.unbundle(server_urls[0], server_urls[1], settings.mongodb_db, leases=True)


async def test_a_start_beside_it_is_told_to_wait_and_after_it_is_not_refused(
        services, chats, writers, stores, server_urls, settings, monkeypatch):
    """While it works, a start with or without REDIS_URL names the tool and says to wait;
    once it is done, its 'instance' lease is released."""
    await _a_bundle(services, chats, writers)
    leases, refused = PgLeases(stores[0]), []

    async def a_start_meanwhile(chat):
        for start in (claim_instance(leases, "a start", "http://10.0.0.2:8000"),
                      refuse_mixed(leases, with_redis=True)):
            with pytest.raises(InstanceRunning) as exc:
                await start
            refused.append(str(exc.value))
        return await bundles_left(chat)

    monkeypatch.setattr(admin, "bundles_left", a_start_meanwhile)
    said, left = await _unbundle(server_urls, settings)
    assert left == 0 and "0 bundles remain" in said, said
    assert len(refused) == 2
    for message in refused:
        assert message.startswith(f"{admin.UNBUNDLING} is at work on these databases (pid "
                                  f"{os.getpid()} on "), message
        assert "wait for it to finish" in message and "REDIS_URL" not in message, message
    assert (await claim_instance(leases, "a start", None)).lease.holder == "a start"


async def test_a_chat_writer_that_led_meanwhile_fails_it_though_none_remain(
        services, chats, writers, stores, server_urls, settings, monkeypatch):
    """Instances with REDIS_URL hold no lease between one writer and the next: one that
    leads in that gap, even one gone again by the count, may store bundles after it."""
    await _a_bundle(services, chats, writers)
    leases = PgLeases(stores[0])

    async def a_writer_meanwhile(chat):
        _, lease = await leases.acquire(CHAT_WRITER, "another-host:4242:x", 60, ELSEWHERE)
        await leases.release(CHAT_WRITER, lease.holder, lease.epoch)
        return await bundles_left(chat)

    monkeypatch.setattr(admin, "bundles_left", a_writer_meanwhile)
    with pytest.raises(admin.Refused) as refused:
        await _unbundle(server_urls, settings)
    assert str(refused.value) == ("a chat writer led meanwhile (pid 4242 on another-host): "
                                  "stop every instance and run this again.")
    assert await _bundles() == 0


async def test_with_no_chat_store_in_the_data_directory_it_refuses_and_makes_none(
        server_urls, settings, tmp_path):
    """Run from the wrong directory (DATA_DIR unset, say), it would have made a new, empty
    store and reported "0 bundles remain" of stores it never saw."""
    absent = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URL"}
    env.update(DATABASE_URL=server_urls[0], DATA_DIR=str(absent),
               MONGODB_DB=settings.mongodb_db)
    code, out, err = await run_admin(env, "unbundle-receipts")
    assert code == 1, (out, err)
    assert f"no chat store in the data directory {absent}: set DATA_DIR" in err, err
    assert "bundles remain" not in out and not absent.exists()

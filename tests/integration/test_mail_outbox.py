"""The mail outbox against a real SMTP server (aiosmtpd, in the test process): a mail is a
row in PostgreSQL, sent by the sender task; a temporary refusal or an unreachable server is
retried with backoff under the same Message-ID, a permanent refusal is recorded and never
retried."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from nirvana.storage.mail_sender import Backoff
from tests.support.http import sign_up
from tests.support.smtp import Inbox, until

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(base_settings, tmp_path, smtp):
    return replace(base_settings, data_dir=tmp_path,
                   smtp_url=f"smtp://127.0.0.1:{smtp.port}")


@pytest.fixture
def fast_retries(services):
    services.mail_sender.backoff = Backoff(first=timedelta(milliseconds=50),
                                           longest=timedelta(milliseconds=200))


async def outbox_rows(services) -> list[dict]:
    return [dict(r) for r in await services.pool.fetch(
        "SELECT message_id, attempts, sent_at, failed_at, last_error FROM mail_outbox")]


async def forgot(client, address: str) -> None:
    r = await client.post("/api/v1/user/password/forgot", json={"email": address})
    assert r.status_code == 202


async def test_a_temporary_refusal_is_retried_with_the_same_message_id(client, services, smtp,
                                                                       fast_retries):
    inbox: Inbox = smtp.handler
    inbox.refuse = ["451 4.3.0 try again later", "421 4.7.0 busy"]
    await sign_up(client, email="gina@example.com")
    await forgot(client, "gina@example.com")

    async def delivered():
        return inbox.received
    [message] = await until(delivered)
    assert message["To"] == "gina@example.com"
    assert "reset-password?token=" in message.get_body(("plain",)).get_content()

    async def recorded():  # the row is updated a moment after the server's answer
        rows = await outbox_rows(services)
        return rows if rows and rows[0]["sent_at"] is not None else None
    [row] = await until(recorded)
    assert row["attempts"] == 3 and row["sent_at"] is not None and row["last_error"] is None
    assert message["Message-ID"] == row["message_id"]


async def test_a_permanent_refusal_is_recorded_and_not_retried(client, services, smtp,
                                                               fast_retries):
    inbox: Inbox = smtp.handler
    inbox.refuse = ["550 5.1.1 no such mailbox"]
    await sign_up(client, email="hal@example.com")
    await forgot(client, "hal@example.com")

    async def failed():
        rows = await outbox_rows(services)
        return rows if rows and rows[0]["failed_at"] else None
    [row] = await until(failed)
    assert row["attempts"] == 1 and "550" in row["last_error"] and row["sent_at"] is None
    await asyncio.sleep(0.5)  # several backoff periods: nothing more is tried
    assert inbox.received == [] and (await outbox_rows(services))[0]["attempts"] == 1


async def test_an_unreachable_server_is_retried_until_it_is_back(client, services, smtp,
                                                                 fast_retries):
    smtp.stop()
    await sign_up(client, email="ida@example.com")
    await forgot(client, "ida@example.com")

    async def tried_twice():
        rows = await outbox_rows(services)
        return rows if rows and rows[0]["attempts"] >= 2 else None
    [row] = await until(tried_twice)
    assert row["sent_at"] is None and row["failed_at"] is None and row["last_error"]

    smtp.start()

    async def delivered():
        return smtp.handler.received
    [message] = await until(delivered)
    assert message["To"] == "ida@example.com"


def test_backoff_doubles_up_to_its_cap():
    b = Backoff(first=timedelta(seconds=30), longest=timedelta(minutes=5))
    assert [b.after(n).total_seconds() for n in (1, 2, 3, 4, 5)] == [30, 60, 120, 240, 300]

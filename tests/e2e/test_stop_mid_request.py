"""A request still running when the server's stop bound ends (uvicorn's
timeout_graceful_shutdown) is answered 503 with Retry-After in the one error shape, and
logged as one warning with no traceback (docs/operations.md, "How long a stop takes")."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx

from nirvana.app import create_app
from tests.support.images import png
from tests.support.people import user
from tests.support.servers import TEST_ORIGIN, start_server
from tests.support.waiting import wait_until

BOUNDARY = "stopnoise"


def upload_body() -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + png() + (
            f"\r\n--{BOUNDARY}--\r\n").encode()


async def test_an_upload_cut_off_by_the_stop_is_answered_503_and_logged_as_a_warning(
        services, settings, caplog):
    caplog.set_level(logging.INFO)
    server, task, port = await start_server(create_app(settings, services),
                                            services.ws_limits.max_frame_bytes,
                                            settings=settings, timeout_graceful_shutdown=1)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     headers={"Origin": TEST_ORIGIN}) as http:
            who = await user(http)
        body = upload_body()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # The headers and half the body; the rest never comes, like an upload at a slow
        # client's pace.
        writer.write((f"POST /api/v1/media/upload HTTP/1.1\r\nHost: x\r\n"
                      f"Authorization: Bearer {who['jwt']}\r\n"
                      f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:len(body) // 2])
        await writer.drain()
        # Stopped only once the request is running: a connection still without one is
        # simply closed by the stop.
        await wait_until(lambda: server.server_state.tasks, "the upload to reach the app")
        server.should_exit = True
        answer = await asyncio.wait_for(reader.read(), 30)  # then the server closes
        writer.close()
        await task
    finally:
        await services.before_shutdown()
        server.should_exit = True
        await task
    head, _, content = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 503 Service Unavailable", answer
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    assert headers["retry-after"] == "1"
    error = json.loads(content)["error"]
    assert error["code"] == "unavailable" and "stopping" in error["message"]
    cut = [r for r in caplog.records if "cut off by the server's stop" in r.getMessage()]
    assert [(r.levelno, r.exc_info) for r in cut] == [(logging.WARNING, None)]
    assert "answered 503" in cut[0].getMessage()
    assert [r for r in caplog.records
            if r.exc_info or "Exception in ASGI" in r.getMessage()] == []

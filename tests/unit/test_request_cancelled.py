"""CancelledError in a request (http/middleware.py): only a cancel of the request's own task
is the server's stop (503 "stopping"); a read waiting on a page another read is building,
when that build is cut off, gets the answer of a missed deadline (http/page_cache.py)."""

from __future__ import annotations

import asyncio
import logging

import orjson

from nirvana.http.deadline import within
from nirvana.http.errors import handlers
from nirvana.http.middleware import RequestContextMiddleware
from nirvana.http.page_cache import PageCache
from starlette.responses import Response


def scope(path: str) -> dict:
    return {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}


async def call(app, path: str) -> tuple[int, dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope(path), receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], orjson.loads(body)


async def test_a_waiter_on_a_build_its_builder_gave_up_gets_a_missed_deadline_answer():
    cache = PageCache()
    started, never = asyncio.Event(), asyncio.Event()
    builds = []

    async def build() -> bytes:
        builds.append(1)
        started.set()
        await never.wait()  # a store that does not answer
        return b"{}"

    async def endpoint(scope, receive, send) -> None:
        # The first reader has a short deadline, the second a long one (its own task is
        # never cancelled while the first one's build is cut off).
        seconds = 0.05 if scope["path"] == "/first" else 60.0
        page = await within(cache.page("k", 1, build), seconds)
        await Response(page.body, media_type="application/json")(scope, receive, send)

    app = RequestContextMiddleware(endpoint, handlers=handlers())
    first = asyncio.create_task(call(app, "/first"))
    await started.wait()
    second = asyncio.create_task(call(app, "/second"))
    status, body = await first
    assert status == 503 and body["error"]["code"] == "unavailable"
    status, body = await second
    assert status == 503, body
    assert body["error"]["code"] == "unavailable"
    assert "stopping" not in body["error"]["message"]
    assert len(builds) == 1  # the second read waited on the first one's build


async def test_a_cancelled_error_the_request_did_not_get_by_a_stop_is_a_500():
    """Only a cancel of the request's own task is the server's stop; a CancelledError from a
    future someone else cancelled is a bug, answered 500 with the request id."""
    async def endpoint(scope, receive, send) -> None:
        future = asyncio.get_running_loop().create_future()
        future.cancel()
        await future

    app = RequestContextMiddleware(endpoint, handlers=handlers())
    status, body = await call(app, "/x")
    assert status == 500 and body["error"]["code"] == "internal_error"


async def test_a_request_whose_own_task_is_cancelled_is_answered_503_and_not_left_cancelling():
    entered = asyncio.Event()
    cancelling_after: list[int] = []

    async def endpoint(scope, receive, send) -> None:
        entered.set()
        await asyncio.Event().wait()

    app = RequestContextMiddleware(endpoint, handlers=handlers())

    async def request() -> tuple[int, dict]:
        answer = await call(app, "/upload")
        cancelling_after.append(asyncio.current_task().cancelling())
        return answer

    task = asyncio.create_task(request())
    await entered.wait()
    task.cancel()
    status, body = await task
    assert status == 503 and "stopping" in body["error"]["message"]
    assert cancelling_after == [0]


async def test_work_after_a_complete_answer_cut_off_by_a_stop_is_logged_as_such(caplog):
    """A BackgroundTask (a password-reset mail) still running when the stop cancels it: the
    answer went out whole, so nothing is sent again and the warning says what was lost."""
    caplog.set_level(logging.WARNING, logger="nirvana.http")
    entered = asyncio.Event()

    async def endpoint(scope, receive, send) -> None:
        await Response(b"{}", media_type="application/json")(scope, receive, send)
        entered.set()
        await asyncio.Event().wait()  # the work after the answer

    app = RequestContextMiddleware(endpoint, handlers=handlers())
    task = asyncio.create_task(call(app, "/reset"))
    await entered.wait()
    task.cancel()
    status, body = await task
    assert (status, body) == (200, {})
    said = [r.getMessage() for r in caplog.records if r.name == "nirvana.http"]
    assert said == ["request cut off by the server's stop: the work after its answer was cut off"]

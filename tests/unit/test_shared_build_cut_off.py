"""A read waiting on a page another read is building, when that build is cut off: the waiter
was not cancelled, so it gets the answer of a missed deadline (503 unavailable), neither a
500 nor "the server is stopping" (http/page_cache.py, http/middleware.py)."""

from __future__ import annotations

import asyncio

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

    async def build() -> bytes:
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

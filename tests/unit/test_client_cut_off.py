"""A body the client cut off (starlette's ClientDisconnect, from uvicorn's http.disconnect)
ends the request as 499 with one info line and nothing sent, for an API route and for a
page, whose own catch-all would otherwise answer it with a 500 page (http/middleware.py,
web/errors.py page_endpoint)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from starlette.requests import Request
from starlette.responses import Response

from nirvana.http.errors import handlers
from nirvana.http.middleware import RequestContextMiddleware
from nirvana.web.errors import page_endpoint


class Observed:
    def __init__(self) -> None:
        self.statuses: list[int] = []

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.statuses.append(status)


async def read_body(request: Request) -> Response:
    return Response(await request.body())


async def api_route(scope, receive, send) -> None:
    await (await read_body(Request(scope, receive)))(scope, receive, send)


async def page_route(scope, receive, send) -> None:
    response = await page_endpoint(read_body)(Request(scope, receive))
    await response(scope, receive, send)


@pytest.mark.parametrize("route", [api_route, page_route], ids=["api", "page"])
async def test_a_body_cut_off_by_the_client_is_a_499_sent_nothing_logged_at_info(
        route, caplog):
    caplog.set_level(logging.INFO)
    app = RequestContextMiddleware(route, handlers=handlers())
    app.observer = observed = Observed()
    messages = iter([{"type": "http.request", "body": b"half", "more_body": True},
                     {"type": "http.disconnect"}])
    sent: list[dict] = []

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)

    # `app`: what page_endpoint reads to tell the errors the app's table answers.
    await app({"type": "http", "method": "POST", "path": "/upload", "headers": [],
               "query_string": b"", "app": SimpleNamespace(exception_handlers=handlers())},
              receive, send)
    assert sent == []
    assert observed.statuses == [499]
    assert [r.status for r in caplog.records if r.name == "nirvana.access"] == [499]
    assert [(r.name, r.levelno, r.exc_info, r.getMessage()) for r in caplog.records
            if r.name != "nirvana.access"] == [
        ("nirvana.http", logging.INFO, None,
         "request cut off by the client: its body did not arrive whole")]

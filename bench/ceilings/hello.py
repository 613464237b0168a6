"""Ceiling for HTTP: the least Starlette app answering ~2 KB of JSON serialised by orjson,
served by uvicorn with the options (and garbage-collector thresholds) run.py uses. `python -m bench.ceilings.hello [--port N]`"""

from __future__ import annotations

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nirvana.serving import UVICORN_OPTIONS, tune_gc

from ._listen import announce, listening_socket, run_on_servers_loop


# Twenty short posts: about the size of a feed page's JSON without the bodies.
PAYLOAD = {
    "blogs": [
        {"id": i, "title": f"Post number {i} about something",
         "author": {"id": 1000 + i, "username": f"user{i}", "name": "Ann Example"},
         "tags": ["python", "asyncio"], "likes": i * 3,
         "created_at": "2026-11-22T05:00:00Z"}
        for i in range(12)
    ],
    "next_cursor": "MjAyNi0xMS0yMlQwNTowMDowMFp8MTIzNDU2",
}


async def hello(request: Request) -> Response:
    # Serialised per request, as a real route does.
    return Response(orjson.dumps(PAYLOAD), media_type="application/json")


async def health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(routes=[Route("/", hello), Route("/health", health)])


def main() -> None:
    sock = listening_socket()
    announce(sock, "hello-json")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **UVICORN_OPTIONS))
    tune_gc()  # as run.py does: the ratio compares like with like
    run_on_servers_loop(server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()

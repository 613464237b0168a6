"""A TCP proxy in the test's event loop that can cut one client's link to a server (a
network partition of one instance) while others reach the server directly. The server may
listen on a Unix socket (`path`: the embedded PostgreSQL's)."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit


class CuttableProxy:
    def __init__(self, host: str = "", port: int = 0, *, path: str | None = None) -> None:
        self._target = (host, port)
        self._path = path
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.cut = False
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def sever(self) -> None:
        """Cut every open link and refuse new ones until `heal`."""
        self.cut = True
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    def heal(self) -> None:
        self.cut = False

    async def close(self) -> None:
        self.sever()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.transport.abort()
            return
        try:
            if self._path is not None:
                up_reader, up_writer = await asyncio.open_unix_connection(self._path)
            else:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._links.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._links.discard(writer)
        self._links.discard(up_writer)


async def proxied_postgres(database_url: str) -> tuple[CuttableProxy, str]:
    """A started proxy to the PostgreSQL of `database_url`, and the URL that goes through
    it (over TCP, whether the server listens on TCP or on a Unix socket)."""
    url = urlsplit(database_url)
    query = parse_qs(url.query)
    socket_dir = query.pop("host", [None])[0]
    if socket_dir is not None:  # the embedded PostgreSQL: a Unix socket
        link = CuttableProxy(path=f"{socket_dir}/.s.PGSQL.{url.port or 5432}")
    else:
        assert url.hostname is not None
        link = CuttableProxy(url.hostname, url.port or 5432)
    await link.start()
    account = url.netloc.rpartition("@")[0]
    proxied = url._replace(netloc=f"{account}@127.0.0.1:{link.port}",
                           query=urlencode(query, doseq=True))
    return link, urlunsplit(proxied)

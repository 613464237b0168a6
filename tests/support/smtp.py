"""A real SMTP server in the test process (aiosmtpd), for the mail tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.support.system import free_port


class Inbox:
    """An SMTP server's handler: refuses with the queued replies first, then accepts."""

    def __init__(self) -> None:
        self.refuse: list[str] = []
        self.received: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse:
            return self.refuse.pop(0)
        self.received.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        return "250 OK"


class _Session(SMTP):
    """One SMTP session, which knows when its connection is over (socket closed)."""

    over = False

    def connection_lost(self, error) -> None:
        try:
            super().connection_lost(error)
        finally:
            self.over = True  # asyncio closes the socket right after this returns


class _Controller(Controller):
    """aiosmtpd's controller, keeping its sessions: its stop() ends the server's loop without
    closing a session still open (our mail sender mid-conversation when a test ends), and
    that socket was then collected in whatever test ran next, as a ResourceWarning."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sessions: list[_Session] = []

    def factory(self) -> _Session:
        session = _Session(self.handler, **self.SMTP_kwargs)
        self.sessions.append(session)
        return session

    def close_sessions(self, seconds: float = 5.0) -> None:
        """Aborts every session, stops accepting once none is open, and returns once each
        socket is closed. Closing alone was not enough: the loop could stop before
        asyncio's deferred socket close ran, or a connection accepted but not yet made had
        no transport to close. Nor was a sweep of the sessions alone: a connection accepted
        after it (a mail sender cancelled at the test's end had connected) was still in
        asyncio's accept task when stop() cancelled it, and its socket was collected in the
        next test. The server is closed in the same callback as the check that nothing is
        open or being set up, so nothing is accepted in between (closed earlier, a
        connection accepted but not yet set up could no longer be attached to it)."""
        closed = threading.Event()

        def sweep() -> None:  # on the server's loop, until every connection is over
            for session in self.sessions:
                if not session.over and session.transport is not None:
                    session.transport.abort()
            if (all(session.over for session in self.sessions)
                    and all(task.done() for task in asyncio.all_tasks(self.loop))):
                if self.server is not None:
                    self.server.close()
                closed.set()
            else:
                self.loop.call_later(0.01, sweep)

        self.loop.call_soon_threadsafe(sweep)
        if not closed.wait(seconds):
            raise AssertionError("the test SMTP server's sessions did not close")


class SmtpServer:
    """A real SMTP server on a fixed port, which a test may stop and start again."""

    def __init__(self) -> None:
        self.handler = Inbox()
        self.port = free_port()
        self._running: _Controller | None = None

    def start(self) -> None:
        self._running = _Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._running.start()

    def stop(self) -> None:
        if self._running is not None:
            try:
                self._running.close_sessions()
            finally:  # its thread and port do not outlive a failed close
                self._running.stop()
                self._running = None


async def until(check, seconds: float = 10.0):
    """The first truthy answer of `check()`, polled; AssertionError after `seconds`."""
    for _ in range(int(seconds / 0.02)):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def text_of(message: email.message.EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def html_of(message: email.message.EmailMessage) -> str:
    return message.get_body(("html",)).get_content()

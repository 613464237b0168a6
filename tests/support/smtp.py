"""A real SMTP server in the test process (aiosmtpd), for the mail tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading

from aiosmtpd.controller import Controller

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


class _Controller(Controller):
    """aiosmtpd's controller, keeping its sessions: its stop() ends the server's loop without
    closing a session still open (our mail sender mid-conversation when a test ends), and
    that socket was then collected in whatever test ran next, as a ResourceWarning."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sessions: list = []

    def factory(self):
        session = super().factory()
        self.sessions.append(session)
        return session

    def close_sessions(self) -> None:
        closed = threading.Event()

        def close() -> None:  # on the server's loop, before its tasks are cancelled
            for session in self.sessions:
                if session.transport is not None:
                    session.transport.close()
            closed.set()

        self.loop.call_soon_threadsafe(close)
        closed.wait(5)


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
            self._running.close_sessions()
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

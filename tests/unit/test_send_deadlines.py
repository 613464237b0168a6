"""The queued sends' deadlines (storage/mongo/deadlines.py): one timer serves them all, and
each send that the writer has not answered still hears store_timeout at its own deadline,
in queue order, on both loops Nirvana runs on."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Awaitable, Callable

import pytest

from nirvana.domain.chat.entities import Message, MessageDraft, MessageKind
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.deadlines import SendDeadlines
from nirvana.storage.mongo.work_items import Send

try:
    import uvloop
except ImportError:  # not installed on Windows or PyPy (pyproject.toml)
    uvloop = None

LOOPS = [pytest.param(asyncio.run, id="asyncio"),
         pytest.param(getattr(uvloop, "run", None), id="uvloop", marks=pytest.mark.skipif(
             uvloop is None, reason="uvloop is not installed on this platform"))]
Run = Callable[[Awaitable[None]], None]
AFTER = 0.2


def _send(client_id: str) -> Send:
    draft = MessageDraft(conversation_id="c", sender_id=1, client_id=client_id,
                         kind=MessageKind.TEXT, text=client_id, attachments=(),
                         reply_to=None, audience=(1, 2),
                         created_at=datetime.now(timezone.utc))
    return Send(draft, asyncio.get_running_loop().create_future())


def _message(send: Send) -> Message:
    d = send.draft
    return Message(id=send.key, conversation_id=d.conversation_id, seq=1, pos=1,
                   sender_id=d.sender_id, client_id=d.client_id, kind=d.kind, text=d.text,
                   attachments=d.attachments, reply_to=d.reply_to, created_at=d.created_at,
                   audience=d.audience)


@pytest.mark.parametrize("run", LOOPS)
def test_each_unanswered_send_expires_at_its_own_deadline_in_queue_order(run: Run) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        deadlines = SendDeadlines(AFTER)
        expired: list[tuple[str, float]] = []
        started = loop.time()
        sends = []
        for n, pause in enumerate((0.0, 0.05, 0.0, 0.05, 0.0)):
            await asyncio.sleep(pause)
            send = _send(f"s{n}")
            send.future.add_done_callback(  # the refused ones, when they hear it
                lambda f, n=n: f.exception() and expired.append((f"s{n}", loop.time())))
            deadlines.add(send)
            sends.append((send, loop.time()))
        # The writer answers the second and the last; the others wait past their deadline.
        for answered in (sends[1][0], sends[4][0]):
            answered.answer(_message(answered), True)
        await asyncio.sleep(0.1 + AFTER + 0.3)
        assert [name for name, _ in expired] == ["s0", "s2", "s3"]
        for (name, at), queued in zip(expired, (sends[0][1], sends[2][1], sends[3][1])):
            assert at >= queued + AFTER - 0.002  # never before its deadline
            assert at < queued + AFTER + 0.15  # and at it, not at another send's
        for send, _ in (sends[0], sends[2], sends[3]):
            with pytest.raises(UnavailableError) as refused:
                send.future.result()
            assert refused.value.code == "store_timeout"
        assert loop.time() - started < 2
        deadlines.close()

    run(main())


@pytest.mark.parametrize("run", LOOPS)
def test_a_send_queued_after_the_others_expired_gets_a_deadline_too(run: Run) -> None:
    async def main() -> None:
        deadlines = SendDeadlines(AFTER / 2)
        first = _send("first")
        deadlines.add(first)
        await asyncio.sleep(AFTER)
        assert first.future.done()  # expired; nothing waits now, so no timer is set
        later = _send("later")
        deadlines.add(later)
        await asyncio.sleep(AFTER)
        with pytest.raises(UnavailableError):
            later.future.result()
        deadlines.close()

    run(main())


@pytest.mark.parametrize("run", LOOPS)
def test_an_answered_send_never_hears_its_deadline(run: Run) -> None:
    async def main() -> None:
        deadlines = SendDeadlines(AFTER / 4)
        sends = [_send(f"a{n}") for n in range(3)]
        for send in sends:
            deadlines.add(send)
        for send in sends:
            send.answer(_message(send), True)
        await asyncio.sleep(AFTER)
        assert all(s.future.result()[1] for s in sends)
        refused = _send("refused")
        deadlines.add(refused)
        refused.refuse(UnavailableError("stopping"))
        await asyncio.sleep(AFTER)
        with pytest.raises(UnavailableError) as exc:
            refused.future.result()
        assert exc.value.code != "store_timeout"
        deadlines.close()

    run(main())

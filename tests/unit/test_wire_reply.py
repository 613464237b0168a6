"""The chat writer's wait for the store's reply (storage/mongo/wire.py, `Reply`): a reply read
by the protocol resumes the waiting task at once, in that turn of the event loop, on both
loops Nirvana runs on; everything else behaves as an asyncio future does.

`Reply` relies on a Task accepting any future-like object and on its wake-up being callable
from a plain loop callback: these tests fail clearly if a Python or uvloop release changes
that."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

import pytest


from nirvana.storage.mongo.wire import Reply

try:
    import uvloop
except ImportError:  # not installed on Windows or PyPy (pyproject.toml)
    uvloop = None

async def wait(reply: Reply) -> bytes:
    return await reply


LOOPS = [pytest.param(asyncio.run, id="asyncio"),
         pytest.param(getattr(uvloop, "run", None), id="uvloop", marks=pytest.mark.skipif(
             uvloop is None, reason="uvloop is not installed on this platform"))]
Run = Callable[[Awaitable[None]], None]


@pytest.mark.parametrize("run", LOOPS)
def test_a_reply_read_by_the_protocol_resumes_its_task_in_that_turn(run: Run) -> None:
    seen: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        reply = Reply(loop)

        async def writer() -> None:
            seen.append(f"reply {(await reply).decode()}")
            await asyncio.sleep(0)  # the task's next wait: the callback has returned by then
            seen.append("next turn")

        task = loop.create_task(writer())
        await asyncio.sleep(0)

        def data_received() -> None:  # what the protocol does, from the loop, in no task
            reply.set_result(b"ok")
            seen.append("callback returns")

        loop.call_soon(data_received)
        async with asyncio.timeout(1):  # a wake-up that never comes fails, not hangs
            await task

    run(main())
    assert seen == ["reply ok", "callback returns", "next turn"]


@pytest.mark.parametrize("run", LOOPS)
def test_a_reply_given_inside_a_task_resumes_its_waiter_on_a_later_turn(run: Run) -> None:
    async def main() -> None:
        reply = Reply(asyncio.get_running_loop())
        waiter = asyncio.ensure_future(wait(reply))
        await asyncio.sleep(0)
        reply.set_result(b"later")  # a task cannot be stepped from inside another
        assert not waiter.done()
        assert await waiter == b"later"

    run(main())


@pytest.mark.parametrize("run", LOOPS)
def test_a_lost_connection_fails_the_waiting_task_with_its_error(run: Run) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reply = Reply(loop)
        waiter = asyncio.ensure_future(wait(reply))
        await asyncio.sleep(0)
        loop.call_soon(reply.set_exception, ConnectionResetError("gone"))
        with pytest.raises(ConnectionResetError, match="gone"):
            await waiter

    run(main())


@pytest.mark.parametrize("run", LOOPS)
def test_a_deadline_or_a_cancel_ends_the_wait_as_for_a_future(run: Run) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await Reply(loop)
        reply = Reply(loop)
        waiter = asyncio.ensure_future(wait(reply))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert reply.cancelled()

    run(main())


@pytest.mark.parametrize("run", LOOPS)
def test_a_callback_that_fails_neither_escapes_the_protocol_nor_strands_the_task(
        run: Run) -> None:
    handled: list[BaseException] = []
    calls: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: handled.append(context["exception"]))
        reply = Reply(loop)

        def broken(_: Reply) -> None:
            calls.append("broken")
            raise RuntimeError("a callback's own failure")

        reply.add_done_callback(broken)
        task = loop.create_task(wait(reply))
        await asyncio.sleep(0)  # the task now waits on the reply, after `broken`
        escaped: list[BaseException] = []

        def data_received() -> None:
            try:
                reply.set_result(b"ok")
            except BaseException as exc:  # what would abort the connection
                escaped.append(exc)

        loop.call_soon(data_received)
        async with asyncio.timeout(1):
            assert await task == b"ok"
        assert escaped == []

    run(main())
    assert [str(e) for e in handled] == ["a callback's own failure"]
    assert calls == ["broken"]  # reported, never run again (a future's callbacks are not)

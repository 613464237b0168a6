"""A send's per-send objects around the store, burst 50, old shape against a batch shape,
in one process under uvloop: blocks of batches alternated, process_time, median of paired
differences, µs per send.

A : as released: per send a future, a `Send`, its deadline timer (`call_later`), the
    domain's task awaiting the future (`create_task(_delivered(...))`); answered by
    cancelling the timer and setting the future, then the loop runs the 50 tasks.
B : the batch shape's upper bound: per send a future and a `Send`, no timer of its own (one
    timer per batch, armed once and cancelled once), and a done callback on the future
    instead of a task; answered by setting the futures.
"""
import asyncio, datetime, statistics, sys, time
sys.path.insert(0, ".")
import uvloop
from nirvana.domain.chat.entities import MessageDraft, MessageKind
from nirvana.storage.mongo.work_items import Send

BATCH = 50
now = datetime.datetime.now(datetime.timezone.utc)
drafts = [MessageDraft(conversation_id="c" * 24, sender_id=1 + n % 10,
                       client_id=f"abcd1234|{n}", kind=MessageKind.TEXT, text="x" * 80,
                       attachments=(), reply_to=None, audience=tuple(range(10)),
                       created_at=now) for n in range(BATCH)]
answer = (object(), True)


async def delivered(stored):
    message, created = await stored
    return message, created


def on_stored(m):
    pass


async def old(loop):
    sends, tasks = [], []
    for d in drafts:
        s = Send(d, loop.create_future(), on_stored=on_stored)
        s.deadline = loop.call_later(10.0, s.expire)
        sends.append(s)
        tasks.append(loop.create_task(delivered(s.future)))
    await asyncio.sleep(0)
    for s in sends:
        s.deadline.cancel()
        s.future.set_result(answer)
    for t in tasks:
        await t


def done(f):
    f.result()


async def new(loop):
    sends = []
    timer = loop.call_later(10.0, on_stored, None)
    for d in drafts:
        s = Send(d, loop.create_future(), on_stored=on_stored)
        sends.append(s)
        s.future.add_done_callback(done)
    await asyncio.sleep(0)
    timer.cancel()
    for s in sends:
        s.future.set_result(answer)
    await asyncio.sleep(0)


async def main():
    loop = asyncio.get_running_loop()
    n, pairs = 200, 31
    for rep in range(2):
        ta, tb, diffs = [], [], []
        for i in range(pairs):
            t = {}
            for name, f in ((("old", old), ("new", new)) if i % 2 == 0
                            else (("new", new), ("old", old))):
                c = time.process_time()
                for _ in range(n):
                    await f(loop)
                t[name] = (time.process_time() - c) / n / BATCH * 1e6
            ta.append(t["old"]); tb.append(t["new"]); diffs.append(t["old"] - t["new"])
        d = sorted(diffs)
        print(f"run {rep}: A {statistics.median(ta):.2f} µs/send, B {statistics.median(tb):.2f}, "
              f"A-B {statistics.median(diffs):.2f} (IQR {d[pairs // 4]:.2f}..{d[3 * pairs // 4]:.2f})",
              flush=True)

uvloop.run(main())

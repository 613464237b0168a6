"""The domain's task per send, alone: a future the store resolves later, answered by a done
callback either through a task awaiting it (main) or on the future itself."""
import asyncio, statistics, time, uvloop
N, PAIRS = 20000, 41

async def delivered(conv, stored):
    message, created = await stored
    if message != conv:
        raise RuntimeError
    return message, created

async def main():
    loop = asyncio.get_running_loop()
    answered = 0
    def answer(f):
        nonlocal answered
        f.result(); answered += 1
    async def block(with_task):
        futs = []
        t = time.process_time()
        for _ in range(N // 50):
            batch = []
            for _ in range(50):  # a burst of sends, then the store answers them all
                stored = loop.create_future()
                out = loop.create_task(delivered("c", stored)) if with_task else stored
                out.add_done_callback(answer)
                batch.append(stored)
            await asyncio.sleep(0)
            for s in batch:
                s.set_result(("c", True))
            await asyncio.sleep(0); await asyncio.sleep(0)
        return (time.process_time() - t) / N * 1e6
    a_t, b_t, d = [], [], []
    for i in range(PAIRS):
        if i % 2 == 0:
            a = await block(True); b = await block(False)
        else:
            b = await block(False); a = await block(True)
        a_t.append(a); b_t.append(b); d.append(a - b)
    s = sorted(d)
    print(f"task {statistics.median(a_t):.2f} future {statistics.median(b_t):.2f} µs per send; "
          f"paired difference {statistics.median(d):.2f} (IQR {s[PAIRS//4]:.2f}-{s[3*PAIRS//4]:.2f}); answered {answered}")
uvloop.run(main())

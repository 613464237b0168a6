"""bench.ws_send_cpu's send path at burst 50 (one room of 10, the real embedded store), with
blocks of bursts alternated between the released code (A) and a prototype (B) in one
process; process_time per block, medians and the median of the paired differences, µs per
send. Throwaway: the prototypes are the released functions' source with lines replaced.

Prototypes (each an upper bound of what a batch shape could save there):
  timer : the store's `append` arms no deadline timer per send (a batch shape would arm one
          per queue, whose cost per send is ~0).
  task  : `submit_message` returns the store's future instead of a task awaiting it (the
          endpoint adds its callback to it; the client_id-in-another-conversation check
          is left out, which a real cut must keep).
  pos   : `prepare` builds each Message by position instead of by keyword.
  all   : the three together.
  task2 : the task cut as it could be kept: `submit_message` returns a future of its own,
          answered by a done callback on the store's future that applies the
          client_id-in-another-conversation check (`_checked` below).
  timer+task2 : the two.
  aa    : B is A (the control: what the pairing reads when nothing differs).
Usage: inproc_ab.py PROTOTYPE [pairs]
"""
import asyncio, inspect, json, secrets, statistics, sys, textwrap, time
from pathlib import Path
sys.path.insert(0, ".")
from bench import ws_send_cpu as w
from bench.embedded import throwaway_stores
from nirvana.bootstrap import build_services
from nirvana.serving import loop_factory, tune_gc
from nirvana.settings import Settings
from nirvana.wiring.stores import open_stores
from nirvana.ws.command_table import run as run_command
from nirvana.ws.protocol import Limits, ServerConnection
from nirvana.domain.chat import messaging as messaging_mod
from nirvana.storage.mongo import chat_store as chat_store_mod, sends as sends_mod

BURST, BLOCK = 50, 10  # bursts per block


def variant(func, module, old, new):
    src = inspect.getsource(func)
    assert old in src, (func, old)
    ns = {}
    exec(compile(textwrap.dedent(src.replace(old, new)), f"<{func.__qualname__} B>", "exec"), module.__dict__, ns)
    return ns[func.__name__]


append_b = variant(chat_store_mod.MongoChatStore.append, chat_store_mod,
                   "send.deadline = loop.call_later(self.writer.timeout * 2, send.expire)",
                   "pass")
submit_b = variant(messaging_mod.Messaging.submit_message, messaging_mod,
                   """return asyncio.get_running_loop().create_task(
            self._delivered(conversation, user_id, stored))""", "return stored")
def _checked(conversation_id, answer, stored):
    """`Messaging._delivered` as a done callback."""
    if answer.done():
        return
    if stored.cancelled():
        answer.cancel()
    elif (exc := stored.exception()) is not None:
        answer.set_exception(exc)
    else:
        message, created = result = stored.result()
        if message.conversation_id != conversation_id:
            answer.set_exception(messaging_mod.ConflictError(
                "This client_id was already used for another conversation.",
                code="client_id_reused"))
        else:
            answer.set_result(result)


messaging_mod._checked = _checked
submit_b2 = variant(messaging_mod.Messaging.submit_message, messaging_mod,
                    """return asyncio.get_running_loop().create_task(
            self._delivered(conversation, user_id, stored))""",
                    """answer = asyncio.get_running_loop().create_future()
        stored.add_done_callback(partial(_checked, conversation.id, answer))
        return answer""")
prepare_b = variant(sends_mod.SendCommitter.prepare, sends_mod, """written.append((s, Message(
                id=s.key, conversation_id=d.conversation_id,
                seq=self._last_seq[d.conversation_id], pos=self._positions.allocate(),
                sender_id=d.sender_id, client_id=d.client_id, kind=d.kind, text=d.text,
                attachments=d.attachments, reply_to=d.reply_to, created_at=d.created_at,
                audience=d.audience)))""", """written.append((s, Message(
                s.key, d.conversation_id, self._last_seq[d.conversation_id],
                self._positions.allocate(), d.sender_id, d.client_id, d.kind, d.text,
                d.attachments, d.reply_to, d.created_at, d.audience)))""")


async def run(proto, pairs, database_url, mongodb_url, data_dir):
    settings = Settings(data_dir=data_dir, mongodb_db=f"inproc_ab_{secrets.token_hex(4)}")
    pool, mongo = await open_stores(settings, database_url=database_url, mongodb_url=mongodb_url)
    services = build_services(settings, pool, mongo, secret="b" * 48)
    m = services.chat._messaging
    store_cls = type(m._store)
    assert store_cls is chat_store_mod.MongoChatStore, store_cls
    committer_cls = sends_mod.SendCommitter
    a_fns = (store_cls.append, m.submit_message, committer_cls.prepare)
    b_fns = (append_b if proto in ("timer", "all", "timer+task2") else a_fns[0],
             submit_b.__get__(m) if proto in ("task", "all") else
             submit_b2.__get__(m) if proto in ("task2", "timer+task2") else a_fns[1],
             prepare_b if proto in ("pos", "all") else a_fns[2])

    def use(fns):
        store_cls.append, services.chat.submit_message, committer_cls.prepare = fns

    try:
        users, room = await w.room_of(services)
        written = 0
        waiting = None

        def wrote(frames):
            nonlocal written
            written += frames
            if waiting is not None and written >= waiting[0] and not waiting[1].done():
                waiting[1].set_result(None)

        limits = Limits(commands_per_second=1e9, command_burst=10**9, inflight_sends=BURST)
        sockets = []
        for uid in users:
            conn = await w.connected(services, uid, limits)
            protocol = w.open_socket(wrote)
            conn.direct = protocol.send_now
            sockets.append((conn, ServerConnection(limits, time.monotonic)))
        await asyncio.sleep(0.5)
        for conn, _ in sockets:
            while conn.queued_frames:
                await conn.next()
        nonce = secrets.token_hex(4)
        n = 0

        async def offer(count):
            nonlocal waiting, n
            waiting = (written + count * (w.ROOM + 1), asyncio.get_running_loop().create_future())
            for _ in range(count):
                conn, parser = sockets[n % w.ROOM]
                text = json.dumps({"type": "send", "id": f"r{n}", "conversation_id": room,
                                   "client_id": f"{nonce}|{n}", "text": "x" * 80})
                n += 1
                await run_command(services.chat, conn, parser.receive(text))
            await asyncio.wait_for(waiting[1], 30)

        for fns in (a_fns, b_fns, a_fns):  # warm up both
            use(fns)
            for _ in range(BLOCK):
                await offer(BURST)
        tune_gc()
        ta, tb, diffs = [], [], []
        for i in range(pairs):
            t = {}
            for name, fns in ((("A", a_fns), ("B", b_fns)) if i % 2 == 0
                              else (("B", b_fns), ("A", a_fns))):
                use(fns)
                c = time.process_time()
                for _ in range(BLOCK):
                    await offer(BURST)
                t[name] = (time.process_time() - c) / (BLOCK * BURST) * 1e6
            ta.append(t["A"]); tb.append(t["B"]); diffs.append(t["A"] - t["B"])
        use(a_fns)
        d = sorted(diffs)
        print(f"{proto}: {pairs} pairs of {BLOCK * BURST} sends: A {statistics.median(ta):.1f} "
              f"µs/send, B {statistics.median(tb):.1f}, A-B {statistics.median(diffs):.2f} "
              f"(IQR {d[pairs // 4]:.2f}..{d[3 * pairs // 4]:.2f})", flush=True)
    finally:
        await services.close()


def main():
    proto = sys.argv[1]
    pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 41
    with throwaway_stores("nirvana-inproc-ab-", postgres=True) as stores:
        with asyncio.Runner(loop_factory=loop_factory("uvloop")) as runner:
            runner.run(run(proto, pairs, stores.database_url, stores.mongodb_url,
                           stores.root / "data"))


if __name__ == "__main__":
    main()

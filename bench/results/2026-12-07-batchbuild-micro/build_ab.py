"""The writer's build of a batch of 50 sends (burst 50), old shape against batch shapes, in
one process: blocks of batches alternated, process_time, medians of paired differences,
µs per send. No I/O: from the queued `Send`s to the insert's BSON body (what
`SendCommitter.prepare` and `write` and `WireInserts.__call__` do before the socket).
Each variant is checked to give the same Messages and the same bytes first.

A   : as released: prepare's loop builds each Message, write's listcomp builds each
      `message_doc(m)`, one `bson.encode` of the insert's body.
B1  : one loop builds each Message and its document together, from the draft and locals
      (no second pass reading the Message back).
B2  : B1, and the documents as an OP_MSG document sequence (kind-1 section): each
      document encoded alone and joined, instead of nested in the body's array.
B3  : B1 with the Message built through its slots' descriptors instead of the frozen
      dataclass __init__ (an upper bound for an __init__ of our own).
B4  : the old shape with the Message built by position instead of by keyword.
U   : what remains if no Message and no dict were built per send: one bson.encode of
      prebuilt documents (the floor of any Python shape that keeps pymongo's bson).
"""
import asyncio, datetime, sys
sys.path.insert(0, "bench/results/2026-12-07-batchbuild-micro"); sys.path.insert(0, ".")
import bson
from bson.codec_options import DEFAULT_CODEC_OPTIONS
from pair import pair
from nirvana.domain.chat.entities import Message, MessageDraft, MessageKind
from nirvana.domain.chat.search import terms_of
from nirvana.storage.mongo.codec import message_doc
from nirvana.storage.mongo.work_items import Send

BATCH = 50
loop = asyncio.new_event_loop()
now = datetime.datetime.now(datetime.timezone.utc)
members = tuple(range(1, 11))
sends = [Send(MessageDraft(conversation_id="c" * 24, sender_id=1 + n % 10,
                           client_id=f"abcd1234|{n}", kind=MessageKind.TEXT, text="x" * 80,
                           attachments=(), reply_to=None, audience=members, created_at=now),
              loop.create_future()) for n in range(BATCH)]


class Positions:
    def __init__(self): self._last = 1000
    def allocate(self):
        self._last += 1
        return self._last


def body(docs):
    return bson.encode({"insert": "messages", "documents": docs, "ordered": False,
                        "$db": "nirvana"})


def old(last_seq, positions):
    written = []
    for s in sends:
        d = s.draft
        last_seq[d.conversation_id] += 1
        written.append((s, Message(
            id=s.key, conversation_id=d.conversation_id,
            seq=last_seq[d.conversation_id], pos=positions.allocate(),
            sender_id=d.sender_id, client_id=d.client_id, kind=d.kind, text=d.text,
            attachments=d.attachments, reply_to=d.reply_to, created_at=d.created_at,
            audience=d.audience)))
    docs = [message_doc(m) for _, m in written]
    return written, body(docs)


def fused_docs(last_seq, positions, make=Message):
    written, docs = [], []
    add, add_doc, allocate = written.append, docs.append, positions.allocate
    for s in sends:
        d = s.draft
        cid = d.conversation_id
        seq = last_seq[cid] = last_seq[cid] + 1
        pos = allocate()
        m = make(id=s.key, conversation_id=cid, seq=seq, pos=pos, sender_id=d.sender_id,
                 client_id=d.client_id, kind=d.kind, text=d.text, attachments=d.attachments,
                 reply_to=d.reply_to, created_at=d.created_at, audience=d.audience)
        add((s, m))
        add_doc({"_id": s.key, "conversation_id": cid, "seq": seq, "pos": pos,
                 "sender_id": d.sender_id, "client_id": d.client_id, "kind": d.kind.value,
                 "text": d.text, "reply_to": d.reply_to, "created_at": d.created_at,
                 "attachments": [{"url": a.url, "kind": a.kind.value, "name": a.name,
                                  "size": a.size} for a in d.attachments],
                 "audience": list(d.audience), "edited_at": None, "deleted": False,
                 "hidden_for": [], "terms": terms_of(d.text)})
    return written, docs


def fused(last_seq, positions):
    written, docs = fused_docs(last_seq, positions)
    return written, body(docs)


def sequence(docs):
    head = bson.encode({"insert": "messages", "ordered": False, "$db": "nirvana"})
    seq = b"".join([bson.encode(d) for d in docs])
    return head, seq


def fused_seq(last_seq, positions):
    written, docs = fused_docs(last_seq, positions)
    return written, sequence(docs)


_set = object.__setattr__
_FIELDS = [f for f in Message.__slots__]


def slots_message(**kw):
    m = object.__new__(Message)
    for k in _FIELDS:
        _set(m, k, kw[k] if k in kw else DEFAULTS[k])
    return m


DEFAULTS = {"audience": (), "edited_at": None, "deleted": False, "reactions": (),
            "hidden_for": ()}


def fused_slots(last_seq, positions):
    written, docs = fused_docs(last_seq, positions, make=slots_message)
    return written, body(docs)


def positional(last_seq, positions):
    written = []
    for s in sends:
        d = s.draft
        cid = d.conversation_id
        seq = last_seq[cid] = last_seq[cid] + 1
        written.append((s, Message(s.key, cid, seq, positions.allocate(), d.sender_id,
                                   d.client_id, d.kind, d.text, d.attachments, d.reply_to,
                                   d.created_at, d.audience)))
    docs = [message_doc(m) for _, m in written]
    return written, body(docs)


prebuilt = None


def floor(last_seq, positions):
    return None, body(prebuilt)


def runner(f):
    def go():
        f({"c" * 24: 0}, Positions())
    return go


# Same Messages and bytes first.
wa, ba = old({"c" * 24: 0}, Positions())
for f in (fused, fused_slots, positional):
    w, b = f({"c" * 24: 0}, Positions())
    assert b == ba and [m for _, m in w] == [m for _, m in wa], f
prebuilt = [message_doc(m) for _, m in wa]
n = 400  # batches per block
for name, f in (("B4 positional", positional), ("B1 fused", fused), ("B2 fused+docseq", fused_seq),
                ("B3 fused+slots", fused_slots), ("U floor", floor)):
    for rep in range(2):
        a, b, d, iqr = pair(runner(old), runner(f), n=n, pairs=31)
        print(f"{name} run {rep}: A {a / BATCH:.2f} µs/send, B {b / BATCH:.2f}, "
              f"A-B {d / BATCH:.2f} (IQR {iqr[0] / BATCH:.2f}..{iqr[1] / BATCH:.2f})",
              flush=True)

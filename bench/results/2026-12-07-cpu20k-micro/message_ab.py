"""The domain's frozen `Message` (16 fields) against the same dataclass unfrozen: what
frozen=True costs its construction on Python 3.11 (one per send, in the writer)."""
import datetime, sys
sys.path.insert(0, "bench/results/2026-12-07-cpu20k-micro"); sys.path.insert(0, ".")
from dataclasses import dataclass
from pair import pair
from nirvana.domain.chat.entities import Message, MessageKind
@dataclass(slots=True)
class Thawed:
    id: str; conversation_id: str; seq: int; pos: int; sender_id: int; client_id: str; kind: object; text: str
    attachments: tuple; reply_to: object; created_at: object; audience: tuple = (); edited_at: object = None
    deleted: bool = False; reactions: tuple = (); hidden_for: tuple = ()
now = datetime.datetime.now(datetime.timezone.utc)
kw = dict(id="k", conversation_id="c", seq=1, pos=2, sender_id=3, client_id="x", kind=MessageKind.TEXT,
          text="t", attachments=(), reply_to=None, created_at=now, audience=(1, 2, 3))
print("frozen vs plain: %.2f %.2f diff %.2f IQR %s" % pair(lambda: Message(**kw), lambda: Thawed(**kw)))

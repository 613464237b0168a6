"""parse() of a send and a `delivered` frame: main's body (orjson, then validation with the
check of each field) against the branch's `protocol.parse`. Run from the branch tree:
`python bench/results/2026-12-07-cpu20k-micro/parse_ab.py`."""
import json, sys
sys.path.insert(0, "bench/results/2026-12-07-cpu20k-micro"); sys.path.insert(0, ".")
from pair import pair
import orjson
from nirvana.ws import protocol as p
A = p._COMMAND_ADAPTER
send = json.dumps({"type": "send", "id": "1:12345", "conversation_id": "6571a2b3c4d5e6f708192a3b",
                   "client_id": "a1b2c3d4|1:12345", "text": "x" * 80}, separators=(",", ":"))
mark = json.dumps({"type": "delivered", "id": "m1:12345", "conversation_id": "6571a2b3c4d5e6f708192a3b",
                   "seq": 1234}, separators=(",", ":"))
for name, text in (("send", send), ("delivered", mark)):
    old = lambda: A.validate_python(orjson.loads(text), strict=True)  # main's parse body
    new = lambda: p.parse(text)
    print(name, "old %.2f new %.2f diff %.2f IQR %s" % pair(old, new))

"""Nirvana with chat persistence off, for `make bench` only: `python -m bench.volatile_nirvana`.

Exactly run.py, except that the chat writer gives each message its seq and position and
acknowledges it without writing it (no idempotency lookup, no insert, no summary). Every
other step of a send (validation, membership, the writer's queue, the ack, fan-out to every
device) is the same code, so "persistence on vs off" measures what storing costs. Messages
sent this way are gone after a restart; never run it for real.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nirvana.domain.chat_ports import Message  # noqa: E402
from nirvana.storage import mongo_chat  # noqa: E402
from nirvana.storage.mongo_chat import MongoChatStore, _resolve, message_id  # noqa: E402


async def _commit_sends_volatile(self: MongoChatStore, sends: list) -> None:
    primary: dict = {}
    for s in sends:
        key = (s.draft.sender_id, s.draft.client_id)
        if key in primary:
            primary[key].duplicates.append(s.future)
        else:
            primary[key] = s
    await self._load_last_seqs({s.draft.conversation_id for s in primary.values()})
    for s in primary.values():
        d = s.draft
        self._last_seq[d.conversation_id] += 1
        self._head += 1
        m = Message(id=message_id(d.sender_id, d.client_id), conversation_id=d.conversation_id,
                    seq=self._last_seq[d.conversation_id], pos=self._head,
                    sender_id=d.sender_id, client_id=d.client_id, kind=d.kind, text=d.text,
                    attachments=d.attachments, reply_to=d.reply_to,
                    created_at=d.created_at, audience=d.audience)
        _resolve(s.future, (m, True))
        for dup in s.duplicates:
            _resolve(dup, (m, False))


def main() -> None:
    mongo_chat.MongoChatStore._commit_sends = _commit_sends_volatile  # type: ignore[assignment]
    import run

    print("bench: chat persistence is OFF in this process (bench.volatile_nirvana)",
          file=sys.stderr, flush=True)
    run.main()


if __name__ == "__main__":
    main()

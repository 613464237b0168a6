"""In-memory fakes of the chat change and presence ports, over FakeChatStore."""

from __future__ import annotations

from dataclasses import replace

from nirvana.domain.chat.errors import NotMemberError
from nirvana.domain.chat.changes import ErasedUpTo
from nirvana.domain.chat.entities import ChatEvent
from nirvana.domain.chat.errors import MessageNotFoundError
from nirvana.domain.chat.search import terms_of
from nirvana.storage.mongo.work_items import handed_on
from tests.support.fakes_chat import FakeChatStore


class FakeChatChanges:
    def __init__(self, store: FakeChatStore) -> None:
        self.store = store
        self.events: list[ChatEvent] = []
        self.hidden: set[tuple[str, int]] = set()  # (message id, user id)
        self.floor = 0

    def _next_pos(self) -> int:
        self.store._head += 1
        return self.store._head

    def _record(self, planned, cid, actor, at, message=None) -> ChatEvent:
        e = ChatEvent(self._next_pos(), planned.type, cid, actor, planned.audience, at,
                      planned.data, message)
        self.events.append(e)
        return e

    async def change_message(self, cid, seq, actor_id, at, plan, *, on_applied=None):
        # As the store: the change is handed on before its caller is answered; a failure
        # there is logged.
        changed = await self._change_message(cid, seq, actor_id, at, plan)
        handed_on(on_applied, changed)
        return changed

    async def _change_message(self, cid, seq, actor_id, at, plan):
        conversation = await self.store.get_conversation(cid)
        if conversation is None:
            raise NotMemberError()
        found = [(i, m) for i, m in enumerate(self.store.stored_messages)
                 if m.conversation_id == cid and m.seq == seq]
        if not found:
            raise MessageNotFoundError()
        i, message = found[0]
        planned = plan(message, conversation)
        if planned is None:
            return message, conversation, None
        if planned.hide_for is not None:
            if (message.id, planned.hide_for) in self.hidden:
                return message, conversation, None
            self.hidden.add((message.id, planned.hide_for))
            message = replace(message, hidden_for=(*message.hidden_for, planned.hide_for))
            self.store.stored_messages[i] = message
            return message, conversation, self._record(planned.event, cid, actor_id, at)
        self.store.stored_messages[i] = planned.message
        return planned.message, conversation, self._record(planned.event, cid, actor_id, at,
                                                           planned.message)

    async def change_conversation(self, cid, actor_id, at, plan, *, on_applied=None):
        changed = await self._change_conversation(cid, actor_id, at, plan)
        handed_on(on_applied, changed)
        return changed

    async def _change_conversation(self, cid, actor_id, at, plan):
        conversation = await self.store.get_conversation(cid)
        if conversation is None:
            raise NotMemberError()
        planned = plan(conversation)
        if planned is None:
            return conversation, []
        stored = self.store.conversations[cid]
        stored.members = [replace(m) for m in planned.members]
        for k, v in planned.info.items():
            setattr(stored, k, v)
        events = [self._record(e, cid, actor_id, at) for e in planned.events]
        return await self.store.get_conversation(cid), events

    def _erase(self, user_id, start):
        ms = self.store.stored_messages
        held = set()
        for n in range(start, len(ms)):
            if ms[n].sender_id == user_id:
                held.add(ms[n].conversation_id)
                ms[n] = replace(ms[n], text="", attachments=(), deleted=True)
        return held

    async def erase_sent(self, user_id):
        # A position here is an index in the stored list.
        position = len(self.store.stored_messages)
        return ErasedUpTo(position, tuple(sorted(self._erase(user_id, 0))))

    async def erase_sent_since(self, user_id, erased):
        return sorted(self._erase(user_id, erased.position) - set(erased.conversation_ids))

    async def messages_for(self, user_id, cid, *, before, after, limit):
        ms = await self.store.messages(cid, before=before, after=after, limit=10**9)
        ms = [m for m in ms if (m.id, user_id) not in self.hidden]
        return ms[:limit] if after is not None else ms[-limit:]

    async def search(self, user_id, conversation_ids, terms, prefix, limit):
        out = []
        for m in reversed(self.store.stored_messages):
            have = set(terms_of(m.text))
            if (m.conversation_id in conversation_ids and not m.deleted
                    and (m.id, user_id) not in self.hidden and set(terms) <= have
                    and (prefix is None or any(t.startswith(prefix) for t in have))):
                out.append(m)
        return out[:limit]

    async def co_member_ids(self, user_id):
        return {u for c in self.store.conversations.values() if c.member(user_id)
                for u in c.member_ids} - {user_id}

    async def prune_events(self, before):
        old = [e for e in self.events if e.created_at < before]
        if old:
            self.floor = max(self.floor, max(e.pos for e in old))
        self.events = [e for e in self.events if e.created_at >= before]
        return len(old)

    async def resume_floor(self):
        return self.floor


class FakePresenceStore:
    def __init__(self) -> None:
        self.seen: dict = {}

    async def save_last_seen(self, user_id, at) -> None:
        self.seen[user_id] = max(at, self.seen.get(user_id, at))

    async def last_seen(self, user_ids):
        return {u: self.seen[u] for u in user_ids if u in self.seen}

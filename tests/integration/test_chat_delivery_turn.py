"""A new message reaches its listeners in the turn of the event loop in which the writer
handles the store's answer, not a turn later when the sender's task wakes; a listener that
fails there stops neither the sender's answer nor the next sends (docs/performance.md,
"The same turn as the store's answer"). Against the real MongoDB-wire server, with an insert
the test holds."""

from __future__ import annotations

import asyncio

from nirvana.domain.chat.service import ChatService
from nirvana.storage.mongo.changes import MongoChatChanges
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.postgres.chat_peers import PgChatPeers
from tests.support.chat_store import SwitchableInsert, write
from tests.support.fakes_chat import RecordingPublisher
from tests.support.people import friends


class FailingPublisher(RecordingPublisher):
    def message_posted(self, message, conversation) -> None:
        super().message_posted(message, conversation)
        raise RuntimeError("a listener failed")


def chat_on(services, store: MongoChatStore, publisher: RecordingPublisher) -> ChatService:
    return ChatService(store=store, changes=MongoChatChanges(store),
                       peers=PgChatPeers(services.pool), publisher=publisher,
                       clock=services.clock, limits=services.chat.limits)


def posted(publisher: RecordingPublisher) -> list[tuple]:
    return [e for e in publisher.events if e[0] == "message"]


async def test_a_new_message_is_delivered_in_the_turn_the_store_answers(client, services):
    a, b = await friends(client, services)
    insert = SwitchableInsert()
    store = MongoChatStore(timeout=services.settings.store_timeout, insert=insert)
    publisher = RecordingPublisher()
    chat = chat_on(services, store, publisher)
    try:
        c = await chat.open_direct(a, b)
        loop = asyncio.get_running_loop()
        written, answer = loop.create_future(), loop.create_future()

        async def held(docs) -> None:  # stored, then the store's answer held back
            await write(docs)
            written.set_result(None)
            await answer
        insert.failure = held
        sent = await chat.submit_message(a, c.id, client_id="k", text="hi")
        await written
        answer.set_result(None)
        await asyncio.sleep(0)  # one turn: the writer's, which handles the answer first
        assert posted(publisher) == [("message", c.id, 1)]
        message, created = await sent
        assert (message.seq, created) == (1, True)
        assert posted(publisher) == [("message", c.id, 1)]  # delivered once
    finally:
        await store.close()


async def test_a_failing_listener_stops_neither_the_answer_nor_the_next_send(client, services):
    a, b = await friends(client, services)
    store = MongoChatStore(timeout=services.settings.store_timeout, insert=SwitchableInsert())
    publisher = FailingPublisher()
    chat = chat_on(services, store, publisher)
    try:
        c = await chat.open_direct(a, b)
        first, _ = await chat.send_message(a, c.id, client_id="k1", text="one")
        second, _ = await chat.send_message(b, c.id, client_id="k2", text="two")
        assert (first.seq, second.seq) == (1, 2)
        assert posted(publisher) == [("message", c.id, 1), ("message", c.id, 2)]
    finally:
        await store.close()

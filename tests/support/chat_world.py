"""A chat service over in-memory fakes: user 1 is friends with users 2 to 7."""

from __future__ import annotations

from nirvana.domain.accounts.standing import OpenGate, WriteGate
from nirvana.domain.chat.limits import ChatLimits
from nirvana.domain.chat.service import ChatService
from tests.support.clock import FakeClock
from tests.support.fakes_chat import FakeChatStore, FakePeers, RecordingPublisher
from tests.support.fakes_chat_changes import FakeChatChanges


def build(limits: ChatLimits = ChatLimits(), clock: FakeClock | None = None,
          publisher: RecordingPublisher | None = None, account_gate: WriteGate = OpenGate(),
          write_gate: WriteGate = OpenGate(), store: FakeChatStore | None = None,
          peers: FakePeers | None = None):
    store = store if store is not None else FakeChatStore()
    peers = peers if peers is not None else FakePeers()
    pub = publisher if publisher is not None else RecordingPublisher()
    changes = FakeChatChanges(store)
    chat = ChatService(store=store, changes=changes, peers=peers, publisher=pub,
                       clock=clock or FakeClock(), limits=limits, account_gate=account_gate,
                       write_gate=write_gate)
    for friend in range(2, 8):
        peers.befriend(1, friend)
    return chat, peers, changes, pub

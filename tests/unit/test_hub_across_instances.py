"""The hub across instances (ws/cluster.py) without Redis: two hubs joined by an in-memory
relay that carries operations as the real one does (JSON, in order), a fake clock for the
heartbeats, and real `Connection`s to read what each socket would be sent."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Callable, Iterable

import pytest

from nirvana.domain.presence import Presence, PresenceState
from nirvana.ws.cluster import PAUSED_REASON, RESTORED_REASON, HubAcrossInstances
from nirvana.ws.connection import Connection
from nirvana.ws.hub import Hub
from nirvana.ws.cluster_view import FirstRead
from nirvana.ws.online_sets import FULL_EVERY, StoredStates
from nirvana.ws.presence import PresenceFanout
from tests.support.clock import FakeClock
from tests.support.fakes_chat import FakeChatStore, FakePeers
from tests.support.fakes_chat_changes import FakeChatChanges, FakePresenceStore
from tests.support.waiting import wait_until


class LinkedRelay:
    """One instance's relay; what it sends is handled at once by the others'."""

    def __init__(self, instance_id: str, network: list["LinkedRelay"]) -> None:
        self.instance_id = instance_id
        self._network = network
        network.append(self)
        self._handlers: dict[str, Callable[[str, list[Any]], None]] = {}
        self._frames: Callable[[list[int], str, int | None], None] | None = None
        self.connected = True
        # What it sends while late, ops and frames in one order (as on the one channel).
        self._held: list[tuple[str, Any]] | None = None

    def hold(self) -> None:
        self._held = []

    def release(self) -> None:
        held, self._held = self._held or [], None
        for kind, item in held:
            if kind == "op":
                self.send(item)
            else:
                self.send_frame(*item)

    def on(self, kind: str, handler: Callable[[str, list[Any]], None]) -> None:
        self._handlers[kind] = handler

    def on_frames(self, handler: Callable[[list[int], str, int | None], None]) -> None:
        self._frames = handler

    def send(self, op: list[Any]) -> None:
        if self._held is not None:
            self._held.append(("op", op))
            return
        wire = json.dumps(op)
        for other in self._others():
            handler = other._handlers.get(op[0])
            if handler is not None:
                handler(self.instance_id, json.loads(wire))

    def send_frame(self, user_ids: Iterable[int], text: str, pos: int | None) -> None:
        ids = list(user_ids)
        if self._held is not None:
            self._held.append(("frame", (ids, text, pos)))
            return
        for other in self._others():
            assert other._frames is not None
            other._frames(ids, text, pos)

    def _others(self) -> list["LinkedRelay"]:
        if not self.connected:
            return []
        return [r for r in self._network if r is not self and r.connected]


class FakeOnlineSets:
    """Each instance's set and kept states; a kept state is written at once (the real one
    writes it before the relay's next publish, so it is there before what follows)."""

    def __init__(self) -> None:
        self.sets: dict[str, tuple[int, set[int]]] = {}
        self.states: dict[str, dict[int, tuple[str, int]]] = {}
        # When set, a read answers what was stored when it was made, once this is set.
        self.answer: asyncio.Event | None = None

    def put(self, instance_id: str, seq: int, user_ids: list[int],
            states: dict[int, tuple[str, int]] | None, ttl: float) -> None:
        self.sets[instance_id] = (seq, set(user_ids))
        if states is not None:  # None: the states as kept
            self.states[instance_id] = dict(states)
        else:
            self.states.setdefault(instance_id, {})

    def refused(self) -> bool:
        return False

    async def get(self, instance_id: str) -> tuple[int, set[int], dict] | None:
        found = self.sets.get(instance_id)
        return None if found is None else (*found, self._states(instance_id))

    async def all(self) -> dict[str, tuple[int, set[int], dict]]:
        found = {i: (seq, set(users), self._states(i))
                 for i, (seq, users) in self.sets.items()}
        answer = self.answer  # as set when the read was made
        if answer is not None:
            await answer.wait()
        return found

    def _states(self, instance_id: str) -> dict | None:
        """None: no states stored with the set, as an older instance writes it."""
        kept = self.states.get(instance_id)
        return None if kept is None else dict(kept)

    def remove(self, instance_id: str) -> None:
        self.sets.pop(instance_id, None)
        self.states.pop(instance_id, None)

    def keep(self, instance_id: str, user_id: int, state: tuple[str, int] | None,
             ttl: float) -> None:
        kept = self.states.setdefault(instance_id, {})
        if state is None:
            kept.pop(user_id, None)
        else:
            kept[user_id] = state


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Instance:
    def __init__(self, name: str, peers: FakePeers, network: list[LinkedRelay],
                 sets: FakeOnlineSets, clock: Clock, presence: Presence | None = None,
                 heartbeat: float = 2.0) -> None:
        self.parts = (peers, network, sets, clock, presence)
        self.hub = Hub(peers, presence=presence)
        self.relay = LinkedRelay(name, network)
        self.bus_up = True
        self.cluster = HubAcrossInstances(self.hub, self.relay, sets, heartbeat=heartbeat,
                                          bus_up=lambda: self.bus_up, clock=clock,
                                          pause_clock=clock)

    async def connect(self, user_id: int) -> Connection:
        conn = Connection(user_id, f"s{user_id}", max_queue=100)
        await self.hub.settled()  # as the endpoint does, before its checks
        await self.hub.connected(conn)
        return conn


async def frames(conn: Connection) -> list[dict]:
    """What the socket was sent since the last call."""
    out = []
    while conn.queued_frames:
        out.append(json.loads(await conn.next()))
    return out


def presence(instance: Instance) -> PresenceFanout:
    assert instance.hub.presence is not None
    return instance.hub.presence


def world(with_presence: bool = False, peers: FakePeers | None = None):
    peers = peers or FakePeers()
    network: list[LinkedRelay] = []
    sets, clock = FakeOnlineSets(), Clock()
    presence = None
    if with_presence:  # one domain service over one store, as the instances share a database
        presence = Presence(store=FakePresenceStore(), peers=peers,
                            changes=FakeChatChanges(FakeChatStore()), clock=FakeClock())
    first = Instance("first", peers, network, sets, clock, presence)
    second = Instance("second", peers, network, sets, clock, presence)
    return peers, first, second, sets, clock


async def test_a_frame_reaches_the_listed_users_sockets_on_every_instance():
    _, first, second, _, _ = world()
    ann_here, ann_there = await first.connect(1), await second.connect(1)
    bob, cat = await second.connect(2), await second.connect(3)
    for conn in (ann_here, ann_there, bob, cat):
        await frames(conn)
    first.hub.send_to_user(1, '{"type":"x"}')
    first.hub.typing("c1", 3, True, [1, 2])
    assert [f["type"] for f in await frames(ann_here)] == ["x", "typing"]
    assert [f["type"] for f in await frames(ann_there)] == ["x", "typing"]
    assert [f["type"] for f in await frames(bob)] == ["typing"]
    assert await frames(cat) == []


async def test_online_is_the_union_over_instances():
    peers, first, second, _, _ = world()
    peers.befriend(1, 2)
    bob = await second.connect(2)
    assert (await frames(bob))[-1] == {"type": "getOnlineUsers", "user_ids": []}
    phone = await first.connect(1)
    assert (await frames(bob)) == [{"type": "getOnlineUsers", "user_ids": [1]}]
    assert second.hub.online(1) and not second.hub.here(1)
    assert sorted(second.hub.online_users()) == [1, 2]

    laptop = await second.connect(1)  # a second device, elsewhere: no news for bob
    assert await frames(bob) == []
    first.hub.disconnected(phone)  # still online on the second instance
    assert await frames(bob) == [] and second.hub.online(1)
    second.hub.disconnected(laptop)
    assert await frames(bob) == [{"type": "getOnlineUsers", "user_ids": []}]
    assert not first.hub.online(1) and not second.hub.online(1)


async def test_an_instance_silent_for_two_heartbeats_drops_out_and_its_users_go_offline():
    peers, first, second, sets, clock = world()
    peers.befriend(1, 2)
    ann = await first.connect(1)
    bob = await second.connect(2)
    first.cluster.beat()
    second.cluster.beat()
    await frames(bob)
    clock.t += first.cluster.heartbeat * 2  # two heartbeats: still within the margin
    second.cluster.expire()
    assert second.hub.online(1)
    first.relay.connected = False  # paused: it sends nothing any more
    clock.t += first.cluster.heartbeat
    second.cluster.expire()
    assert not second.hub.online(1)
    assert await frames(bob) == [{"type": "getOnlineUsers", "user_ids": []}]

    first.relay.connected = True  # awake: as after an outage, its sockets close and resume
    first.cluster.beat()
    assert ann.close_request == (1001, PAUSED_REASON)
    first.hub.disconnected(ann)  # as the endpoint does once it is closed
    await first.connect(1)  # ann's client reconnects
    first.cluster.beat()
    await wait_until(lambda: second.hub.online(1), "the set re-read after the heartbeat")
    assert await frames(bob) == [{"type": "getOnlineUsers", "user_ids": [1]}]


async def test_no_instance_drops_out_while_the_bus_is_down():
    peers, first, second, _, clock = world()
    await first.connect(1)
    first.cluster.beat()
    def beats(n: int) -> None:  # the heartbeat loop's checks, one per heartbeat
        for _ in range(n):
            clock.t += first.cluster.heartbeat
            second.cluster.expire()

    second.bus_up = False  # Redis is down: nothing is heard, and nothing may be concluded
    beats(10)
    assert second.hub.online(1)
    second.bus_up = True  # back: the others get two heartbeats' time to be heard again
    beats(2)
    assert second.hub.online(1)
    beats(1)
    assert not second.hub.online(1)


async def test_an_instance_that_was_paused_itself_gives_the_others_time_to_be_heard():
    _, first, second, _, clock = world()
    await first.connect(1)
    first.cluster.beat()
    second.cluster.expire()
    clock.t += first.cluster.heartbeat * 10  # the second instance was stopped (SIGSTOP)
    second.cluster.expire()  # on waking: the first's heartbeats are not read yet
    assert second.hub.online(1)


async def test_a_gap_closes_the_sockets_that_have_not_got_that_far_so_they_resume():
    _, first, second, _, _ = world()
    bob, cat, dan = await second.connect(2), await second.connect(3), await second.connect(4)
    bob.start_live(5)
    cat.start_live(5)
    dan.start_live(12)  # connected after position 12 (a resume, or a fresh start)
    eve = await second.connect(2)  # still connecting: the head it reads will cover 10
    # The first instance dropped frames up to position 10 for users 2 and 4.
    first.relay.send(["gap", [[2, 10], [4, 10]]])
    assert bob.close_request == (1001, RESTORED_REASON)
    assert cat.close_request is None and dan.close_request is None
    assert eve.close_request is None
    first.relay.send(["gap", None])  # too many to name: every socket
    assert cat.close_request == (1001, RESTORED_REASON)


async def test_a_missed_on_or_off_is_repaired_from_the_set_and_never_by_an_older_one():
    peers, first, second, sets, _ = world()
    peers.befriend(1, 2)
    bob = await second.connect(2)
    first.cluster.beat()
    second.cluster.beat()
    first.relay.connected = False  # the second instance misses ann's arrival...
    await first.connect(1)
    first.relay.connected = True
    await first.connect(3)  # ...and hears the next one: a gap in the numbers
    await wait_until(lambda: 3 in second.hub.online_users(), "the next arrival")
    assert not second.hub.online(1)  # the set stored before ann came is older: not applied
    first.cluster.beat()  # the next heartbeat stores the set with ann in it
    await wait_until(lambda: second.hub.online(1), "ann, from the re-read set")
    assert {"type": "getOnlineUsers", "user_ids": [1]} in await frames(bob)


async def test_a_state_holds_on_every_instance_until_the_last_device_anywhere_leaves():
    _, first, second, _, _ = world(with_presence=True)
    instances = (first, second)

    def states() -> list[PresenceState]:
        return [presence(i).state(1) for i in instances]

    phone = await first.connect(1)
    await presence(first).set_state(1, PresenceState.BUSY)
    laptop = await second.connect(1)  # online elsewhere: not a first device
    first.hub.disconnected(phone)
    assert states() == [PresenceState.BUSY] * 2
    await presence(second).set_state(1, PresenceState.AWAY)
    assert states() == [PresenceState.AWAY] * 2
    second.hub.disconnected(laptop)  # the last device anywhere
    assert states() == [PresenceState.OFFLINE] * 2
    await second.connect(1)  # a new first device starts online, on every instance
    assert states() == [PresenceState.ONLINE] * 2
    await presence(second).drain()


async def presence_frames(conn: Connection) -> list[str]:
    return [f["state"] for f in await frames(conn) if f["type"] == "presence"]


async def test_a_reconnect_elsewhere_racing_the_last_close_ends_with_the_state_for_all():
    peers, first, second, _, _ = world(with_presence=True)
    peers.befriend(1, 2)
    bob = await first.connect(2)
    phone = await first.connect(1)
    await presence(first).set_state(1, PresenceState.BUSY)
    second.relay.hold()  # what the second instance says arrives late
    laptop = await second.connect(1)  # it heard of the phone: not a first device
    await frames(bob)
    await frames(laptop)
    first.hub.disconnected(phone)  # not heard of the laptop yet: announced offline
    await presence(first).drain()
    assert await presence_frames(bob) == ["offline"]
    second.relay.release()  # its "on", then its answer to the first's "last"
    await presence(first).drain()
    assert await presence_frames(bob) == ["busy"]
    assert await presence_frames(laptop) == ["offline", "busy"]
    for instance in (first, second):
        assert presence(instance).state(1) is PresenceState.BUSY


class SlowFriends(FakePeers):
    """`hold()`: the next friend list read waits for `go()` (a connect held mid-way)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self._next_waits = False

    def hold(self) -> None:
        self.gate.clear()
        self._next_waits = True

    def go(self) -> None:
        self.gate.set()

    async def friend_ids(self, user_id: int) -> set[int]:
        if self._next_waits:
            self._next_waits = False
            await self.gate.wait()
        return await super().friend_ids(user_id)


async def test_the_answer_to_last_waits_for_a_connect_still_under_way():
    """The last close on the first instance is heard by the second while its new socket of
    the same user is registered but its "on" not sent yet: the answer follows the "on"."""
    peers = SlowFriends()
    peers.befriend(1, 2)
    _, first, second, _, _ = world(with_presence=True, peers=peers)
    bob = await first.connect(2)
    phone = await first.connect(1)
    await frames(bob)
    peers.hold()
    connecting = asyncio.create_task(second.connect(1))
    await wait_until(lambda: second.hub.here(1), "the laptop registered on the second")
    first.hub.disconnected(phone)  # announced offline: the second has not said "on"
    await presence(first).drain()
    assert await presence_frames(bob) == ["offline"]
    peers.go()
    laptop = await connecting
    await presence(first).drain()
    assert await presence_frames(bob) == ["online"]
    assert (await presence_frames(laptop))[-2:] == ["offline", "online"]
    assert first.hub.online(1) and second.hub.online(1)



async def test_a_new_first_device_elsewhere_after_the_last_close_is_never_followed_by_offline():
    """The second hears the first's "off" and "last" before the user's new socket registers
    there (a new first device), while the first's offline frame is still on its way."""
    peers, first, second, _, _ = world(with_presence=True)
    peers.befriend(1, 3)
    carol = await second.connect(3)
    phone = await first.connect(1)
    await frames(carol)
    first.hub.disconnected(phone)
    first.relay.hold()  # the first's offline frame is published late
    await presence(first).drain()
    laptop = await second.connect(1)  # online nowhere: announced online
    await presence(second).drain()
    first.relay.release()
    await presence(first).drain()
    assert (await presence_frames(carol))[-1] == "online"
    assert (await presence_frames(laptop))[-1] == "online"
    assert presence(first).state(1) is presence(second).state(1) is PresenceState.ONLINE


async def test_a_state_set_on_an_instance_the_user_moved_to_carries_last_seen():
    peers, first, second, _, _ = world(with_presence=True)
    peers.befriend(1, 3)
    carol = await first.connect(3)
    await first.connect(1)
    laptop = await second.connect(1)  # online elsewhere: not a first device
    await frames(carol)
    await presence(second).set_state(1, PresenceState.BUSY)
    got = [f for f in await frames(carol) if f["type"] == "presence"]
    assert [f["state"] for f in got] == ["busy"] and got[0]["last_seen"] is not None
    assert [f["last_seen"] for f in await frames(laptop) if f["type"] == "presence"] \
        == [got[0]["last_seen"]]


async def test_last_devices_closing_at_once_on_two_instances_end_offline_for_friends():
    """Each instance closes the user's last socket there before hearing the other's "off"."""
    peers, first, second, _, _ = world(with_presence=True)
    peers.befriend(1, 3)
    carol = await second.connect(3)
    phone, laptop = await first.connect(1), await second.connect(1)
    await presence(first).set_state(1, PresenceState.AWAY)
    await frames(carol)
    first.relay.hold()
    second.relay.hold()
    first.hub.disconnected(phone)
    second.hub.disconnected(laptop)
    first.relay.release()
    second.relay.release()
    await presence(first).drain()
    await presence(second).drain()
    assert (await presence_frames(carol))[-1] == "offline"
    assert presence(first).state(1) is presence(second).state(1) is PresenceState.OFFLINE


async def test_an_instance_that_starts_reads_the_states_kept_with_the_sets():
    peers, network, sets, clock = FakePeers(), [], FakeOnlineSets(), Clock()
    domain = Presence(store=FakePresenceStore(), peers=peers,
                      changes=FakeChatChanges(FakeChatStore()), clock=FakeClock())
    first = Instance("first", peers, network, sets, clock, domain)
    await first.connect(1)
    await presence(first).set_state(1, PresenceState.AWAY)
    first.cluster.beat()
    third = Instance("third", peers, network, sets, clock, domain)
    assert presence(third).state(1) is PresenceState.OFFLINE  # not read yet
    await third.cluster.reread_all()
    assert presence(third).state(1) is PresenceState.AWAY
    await presence(first).drain()


async def test_a_state_moves_with_the_user_to_the_set_of_the_instance_still_holding_them():
    peers, network, sets, clock = FakePeers(), [], FakeOnlineSets(), Clock()
    domain = Presence(store=FakePresenceStore(), peers=peers,
                      changes=FakeChatChanges(FakeChatStore()), clock=FakeClock())
    first = Instance("first", peers, network, sets, clock, domain)
    second = Instance("second", peers, network, sets, clock, domain)
    phone = await first.connect(1)
    await presence(first).set_state(1, PresenceState.BUSY)
    await second.connect(1)  # the second's next set holds ann, with her state
    first.hub.disconnected(phone)
    first.cluster.beat()
    second.cluster.beat()
    third = Instance("third", peers, network, sets, clock, domain)
    await third.cluster.reread_all()
    assert presence(third).state(1) is PresenceState.BUSY
    await presence(second).set_state(1, PresenceState.ONLINE)  # no longer kept anywhere
    fourth = Instance("fourth", peers, network, sets, clock, domain)
    await fourth.cluster.reread_all()
    assert [presence(i).state(1) for i in (second, third, fourth)] == [PresenceState.ONLINE] * 3
    await presence(first).drain()


async def test_a_re_read_set_replaces_a_state_kept_from_before_a_missed_close():
    _, first, second, sets, _ = world(with_presence=True)
    phone = await first.connect(1)
    await presence(first).set_state(1, PresenceState.AWAY)
    assert presence(second).state(1) is PresenceState.AWAY
    second.relay.connected = False  # the second instance misses ann's close and return
    first.hub.disconnected(phone)
    await first.connect(1)  # a new first device: online
    second.relay.connected = True
    first.cluster.beat()
    assert presence(second).state(1) is PresenceState.AWAY  # as heard before
    await second.cluster.reread_all()
    assert presence(second).state(1) is PresenceState.ONLINE
    await presence(first).drain()


async def test_a_state_heard_during_a_read_wins_over_the_read_and_none_comes_back():
    _, first, second, sets, _ = world(with_presence=True)
    await first.connect(1)
    phone = await first.connect(2)
    await presence(first).set_state(1, PresenceState.AWAY)
    await presence(first).set_state(2, PresenceState.BUSY)
    first.cluster.beat()
    sets.answer = asyncio.Event()
    read = asyncio.get_running_loop().create_task(second.cluster.reread_all())
    await asyncio.sleep(0)  # the read is made: away and busy, as stored then
    await presence(first).set_state(1, PresenceState.ONLINE)  # heard while it is answered
    first.hub.disconnected(phone)  # bob goes offline meanwhile
    sets.answer.set()
    await read
    assert presence(second).state(1) is PresenceState.ONLINE
    # The set read may still hold bob (the next heartbeat's set drops him), never his state.
    assert presence(second).state(2) is not PresenceState.BUSY
    first.cluster.beat()
    await wait_until(lambda: presence(second).state(2) is PresenceState.OFFLINE, "bob gone")
    await presence(first).drain()


async def test_a_first_device_on_an_instance_keeps_the_state_there_before_its_heartbeat():
    peers, network, sets, clock = FakePeers(), [], FakeOnlineSets(), Clock()
    domain = Presence(store=FakePresenceStore(), peers=peers,
                      changes=FakeChatChanges(FakeChatStore()), clock=FakeClock())
    first, second, third = (Instance(name, peers, network, sets, clock, domain)
                            for name in ("first", "second", "third"))
    phone = await first.connect(1)
    await presence(first).set_state(1, PresenceState.AWAY)
    first.cluster.beat()
    second.cluster.beat()
    await second.connect(1)  # no heartbeat of the second's after this
    first.hub.disconnected(phone)  # the first's entry is gone: only the second's is left
    assert presence(third).state(1) is PresenceState.AWAY
    await third.cluster.reread_all()  # after a gap, say
    assert presence(third).state(1) is PresenceState.AWAY
    await presence(first).drain()


async def test_a_set_of_an_older_instance_without_states_leaves_states_heard_alone():
    _, first, second, sets, _ = world(with_presence=True)
    await first.connect(1)
    await presence(first).set_state(1, PresenceState.AWAY)
    assert presence(second).state(1) is PresenceState.AWAY
    first.cluster.beat()
    sets.states.pop("first")  # as an older instance writes it: a set, no states
    await second.cluster.reread_all()
    assert presence(second).state(1) is PresenceState.AWAY
    await presence(first).drain()


def three(*names: str) -> tuple[FakeOnlineSets, Clock, list[Instance]]:
    peers, network, sets, clock = FakePeers(), [], FakeOnlineSets(), Clock()
    domain = Presence(store=FakePresenceStore(), peers=peers,
                      changes=FakeChatChanges(FakeChatStore()), clock=FakeClock())
    return sets, clock, [Instance(n, peers, network, sets, clock, domain) for n in names]


async def test_online_again_outvotes_a_state_a_dead_instance_left_stored():
    _, _, (first, second) = three("first", "second")
    await first.connect(1)
    await presence(first).set_state(1, PresenceState.AWAY)
    first.cluster.beat()
    second.cluster.beat()
    await asyncio.sleep(0.01)  # the stamps are wall-clock milliseconds
    await second.connect(1)  # stored in the second's hash as away
    second.relay.connected = False  # the second dies: its set and hash stay until they expire
    await asyncio.sleep(0.01)
    await presence(first).set_state(1, PresenceState.ONLINE)  # back, on the first
    first.cluster.beat()
    third = Instance("third", *first.parts)  # starts now
    await third.cluster.reread_all()
    assert presence(third).state(1) is PresenceState.ONLINE
    await presence(first).drain()


async def test_a_new_session_heard_outvotes_a_state_left_from_the_last_one():
    sets, clock, (first, second, third) = three("first", "second", "third")
    await third.cluster.reread_all()  # started: every set read once
    phone = await first.connect(1)
    await presence(first).set_state(1, PresenceState.AWAY)
    await second.connect(1)  # stored in the second's hash as away
    second.relay.connected = False  # the second dies
    first.hub.disconnected(phone)
    for _ in range(3):
        clock.t += first.cluster.heartbeat
        first.cluster.beat()
        await asyncio.sleep(0)  # the third reads the first's set on its heartbeat
        third.cluster.expire()
    assert presence(third).state(1) is PresenceState.OFFLINE  # the second dropped
    await asyncio.sleep(0.01)
    await first.connect(1)  # a new session: online
    first.cluster.beat()
    await third.cluster.reread_all()  # the second's set and hash not expired yet
    assert presence(third).state(1) is PresenceState.ONLINE
    await presence(first).drain()


async def test_a_state_a_read_brings_for_a_user_held_here_is_stored_here_at_once():
    sets, _, (first, second) = three("first", "second")
    await first.connect(1)
    await second.connect(1)
    first.cluster.beat()
    second.relay.connected = False  # misses the st
    await asyncio.sleep(0.01)  # the stamps are wall-clock milliseconds
    await presence(first).set_state(1, PresenceState.BUSY)
    second.relay.connected = True
    assert presence(second).state(1) is PresenceState.ONLINE
    await second.cluster.reread_all()
    assert presence(second).state(1) is PresenceState.BUSY
    assert sets.states["second"][1][0] == "busy"  # no heartbeat of the second's since
    await presence(first).drain()


async def test_a_read_begun_before_an_outage_leaves_the_view_incomplete_until_the_next():
    sets, _, (first, second, third) = three("first", "second", "third")
    first.cluster.beat()
    second.cluster.beat()
    await third.cluster.reread_all()  # started: every set read once
    sets.answer = before = asyncio.Event()
    late = asyncio.get_running_loop().create_task(third.cluster.reread_all())
    await asyncio.sleep(0)  # made before the outage, answered after it
    third.relay.connected = False  # Redis lost: the third misses ann's on and away
    await first.connect(1)
    await presence(first).set_state(1, PresenceState.AWAY)
    first.cluster.beat()
    third.relay.connected = True
    sets.answer = after = asyncio.Event()
    restored = asyncio.get_running_loop().create_task(third.cluster.restored())
    await asyncio.sleep(0)  # its read is made
    before.set()
    await late
    await asyncio.sleep(0.01)  # the stamps are wall-clock milliseconds
    await second.connect(1)  # heard before the restored read is answered: no new session
    after.set()
    await restored
    assert presence(third).state(1) is PresenceState.AWAY
    await presence(first).drain()


async def test_a_new_session_outvotes_for_a_starting_instance_a_state_a_dead_one_left():
    sets, clock, (first, second) = three("first", "second")
    await second.connect(1)
    await presence(second).set_state(1, PresenceState.AWAY)
    second.cluster.beat()
    await asyncio.sleep(0)  # the first reads the second's set, new to it
    assert presence(first).state(1) is PresenceState.AWAY
    second.relay.connected = False  # the second dies: its set and hash stay until they expire
    for _ in range(3):
        clock.t += first.cluster.heartbeat
        first.cluster.beat()
        first.cluster.expire()
    assert presence(first).state(1) is PresenceState.OFFLINE  # the second dropped
    await asyncio.sleep(0.01)  # the stamps are wall-clock milliseconds
    await first.connect(1)  # a new session: online, stored with its stamp
    assert sets.states["first"][1][0] == "online"  # before any heartbeat of the first's
    third = Instance("third", *first.parts)  # starts now
    await third.cluster.reread_all()
    assert presence(third).state(1) is PresenceState.ONLINE
    await presence(first).drain()


async def test_a_connect_while_an_instance_first_reads_the_sets_waits_for_the_read():
    sets, _, (first,) = three("first")
    first.parts[0].befriend(1, 2)
    await first.connect(1)
    await presence(first).set_state(1, PresenceState.AWAY)
    friend = await first.connect(2)
    first.cluster.beat()
    await frames(friend)
    third = Instance("third", *first.parts)  # starts: its first read is answered late
    sets.answer = asyncio.Event()
    read = asyncio.get_running_loop().create_task(third.cluster.reread_all())
    await asyncio.sleep(0)
    laptop = asyncio.get_running_loop().create_task(third.connect(1))
    await asyncio.sleep(0.01)  # the connect goes as far as it goes before the answer
    sets.answer.set()
    await read
    conn = await laptop
    assert presence(third).state(1) is PresenceState.AWAY
    await presence(third).drain()
    told = [f for f in await frames(friend) + await frames(conn) if f["type"] == "presence"]
    assert told == []  # nobody was told ann is online: she is away, as before
    await presence(first).drain()


async def test_a_connect_waits_for_a_first_read_redis_does_not_answer_only_so_long(caplog):
    peers, network, sets, clock = FakePeers(), [], FakeOnlineSets(), Clock()
    domain = Presence(store=FakePresenceStore(), peers=peers,
                      changes=FakeChatChanges(FakeChatStore()), clock=FakeClock())
    first = Instance("first", peers, network, sets, clock, domain, heartbeat=0.1)
    sets.answer = asyncio.Event()  # Redis does not answer
    read = asyncio.get_running_loop().create_task(first.cluster.reread_all())
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="nirvana.ws.cluster"):
        conn = await asyncio.wait_for(first.connect(1), 5)  # goes on as without the read
    assert "not read after" in caplog.text
    assert presence(first).state(1) is PresenceState.ONLINE
    assert conn.queued_frames
    sets.answer.set()
    await read
    await presence(first).drain()


def test_a_whole_rewrite_leaves_out_an_online_entry_past_what_it_outvotes():
    sets, wall = FakeOnlineSets(), [1000.0]
    states = {1: ("online", 1_000_000), 2: ("away", 1_000_000)}
    stored = StoredStates(sets, "first", 5.0, states.get, heartbeat=2.0,
                          wall=lambda: wall[0])
    stored.keep(1, began=True)  # a new session's first device
    stored.keep(2)
    assert sets.states["first"] == states
    stored.beat(1, [1, 2])  # a first beat rewrites whole
    assert sets.states["first"] == states
    wall[0] += 10.5  # twice the TTL on: any entry it outvoted has expired or been rewritten
    stored.rewrite_next()
    stored.beat(2, [1, 2])
    assert sets.states["first"] == {2: ("away", 1_000_000)}


async def test_once_the_sets_were_read_a_connect_does_not_wait_for_a_later_read(caplog):
    peers, network, sets, clock = FakePeers(), [], FakeOnlineSets(), Clock()
    domain = Presence(store=FakePresenceStore(), peers=peers,
                      changes=FakeChatChanges(FakeChatStore()), clock=FakeClock())
    first = Instance("first", peers, network, sets, clock, domain, heartbeat=0.1)
    await first.cluster.reread_all()  # started
    sets.answer = asyncio.Event()  # Redis back after an outage: this read is slow
    read = asyncio.get_running_loop().create_task(first.cluster.restored())
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="nirvana.ws.cluster"):
        await first.connect(1)
    assert "not read after" not in caplog.text  # it did not wait for that read
    sets.answer.set()
    await read
    await presence(first).drain()


def instances_of(*names: str, heartbeat: float) -> list[Instance]:
    peers, network, sets, clock = FakePeers(), [], FakeOnlineSets(), Clock()
    domain = Presence(store=FakePresenceStore(), peers=peers,
                      changes=FakeChatChanges(FakeChatStore()), clock=FakeClock())
    return [Instance(n, peers, network, sets, clock, domain, heartbeat=heartbeat)
            for n in names]


async def test_a_return_to_online_stays_stored_past_twice_the_ttl_for_an_instance_that_missed_it():
    first, second = instances_of("first", "second", heartbeat=0.02)
    sets = first.parts[2]
    await first.cluster.reread_all()
    await second.cluster.reread_all()
    await second.connect(1)
    await first.connect(1)
    await presence(second).set_state(1, PresenceState.AWAY)
    assert presence(first).state(1) is PresenceState.AWAY
    second.relay.connected = False  # second's link drops: it misses what follows
    await asyncio.sleep(0.01)  # the stamps are wall-clock milliseconds
    await presence(first).set_state(1, PresenceState.ONLINE)  # ann back to online, on first
    await asyncio.sleep(0.2)  # past twice the TTL (0.05 s)
    for _ in range(FULL_EVERY):  # a whole rewrite
        first.cluster.beat()
    assert sets.states["first"][1][0] == "online"
    second.relay.connected = True
    await second.cluster.restored()
    third = Instance("third", *first.parts, heartbeat=0.02)
    await third.cluster.reread_all()
    assert presence(second).state(1) is PresenceState.ONLINE
    assert presence(third).state(1) is PresenceState.ONLINE
    await presence(first).drain()


async def test_an_instance_paused_past_the_ttl_brings_back_no_state_a_new_session_outvoted():
    first, second = instances_of("first", "second", heartbeat=0.02)
    sets, clock = first.parts[2], first.parts[3]
    await first.cluster.reread_all()
    await second.cluster.reread_all()
    phone = await second.connect(1)
    await presence(second).set_state(1, PresenceState.AWAY)
    second.cluster.beat()
    second.relay.connected = False  # second pauses (SIGSTOP): silent, its keys expire
    sets.remove("second")
    for _ in range(4):
        clock.t += first.cluster.heartbeat
        first.cluster.beat()
        first.cluster.expire()
    assert presence(first).state(1) is PresenceState.OFFLINE
    await asyncio.sleep(0.01)  # the stamps are wall-clock milliseconds
    await first.connect(1)  # ann's laptop on first: a new session
    await asyncio.sleep(0.2)  # past twice the TTL (0.05 s)
    for _ in range(FULL_EVERY):  # a whole rewrite leaves the new session's entry out
        first.cluster.beat()
    second.relay.connected = True  # second wakes: its beat is late
    clock.t += 1.0
    second.cluster.beat()
    assert phone.close_request == (1001, PAUSED_REASON)  # its client resumes
    second.hub.disconnected(phone)  # as the endpoint does once it is closed
    third = Instance("third", *first.parts, heartbeat=0.02)
    await third.cluster.reread_all()
    assert presence(third).state(1) is PresenceState.ONLINE
    await presence(first).drain()


def test_a_new_session_entry_left_out_by_a_rewrite_is_stored_again_when_its_state_changes():
    sets, wall = FakeOnlineSets(), [1000.0]
    states = {1: ("online", 1_000_000)}
    stored = StoredStates(sets, "first", 5.0, states.get, heartbeat=2.0,
                          wall=lambda: wall[0])
    stored.keep(1, began=True)  # a new session's first device
    wall[0] += 10.5
    stored.rewrite_next()
    stored.beat(1, [1])
    assert sets.states["first"] == {}  # left out: what it outvoted is gone
    states[1] = ("away", 1_010_500)
    stored.keep(1)
    assert sets.states["first"] == {1: ("away", 1_010_500)}
    states[1] = ("online", 1_010_600)  # back to online: stored, and kept by a rewrite
    stored.keep(1)
    stored.rewrite_next()
    stored.beat(2, [1])
    assert sets.states["first"] == {1: ("online", 1_010_600)}


async def test_a_socket_is_registered_without_waiting_for_the_first_read_once_the_checks_passed():
    """The endpoint waits (`hub.settled`) before its stop and per-user checks; registration
    follows them with no wait, so a check counts every socket that passed it."""
    sets, _, (first,) = three("first")
    sets.answer = asyncio.Event()
    read = asyncio.get_running_loop().create_task(first.cluster.reread_all())
    await asyncio.sleep(0)
    waiting = asyncio.get_running_loop().create_task(first.hub.settled())
    connects = [asyncio.get_running_loop().create_task(
        first.hub.connected(Connection(1, "s1", max_queue=100))) for _ in range(3)]
    await asyncio.sleep(0)
    assert not waiting.done()
    assert first.hub.count(1) == 3
    sets.answer.set()
    await read
    await asyncio.gather(waiting, *connects)
    await presence(first).drain()


async def test_a_first_device_whose_friends_load_while_another_instance_says_on_is_stored():
    """Presence stamps the new session before the friend list is read; an `on` heard
    meanwhile does not make the stored entry disagree with it."""
    peers = SlowFriends()
    _, first, second, sets, _ = world(with_presence=True, peers=peers)
    await first.cluster.reread_all()
    peers.hold()
    connecting = asyncio.create_task(first.connect(1))
    await wait_until(lambda: first.hub.here(1), "ann's phone registered on the first")
    await second.connect(1)  # its "on" is heard while the first reads ann's friends
    peers.go()
    await connecting
    assert sets.states["first"][1][0] == "online"  # the new session's entry, as stamped
    await presence(first).drain()


async def settles(waiting: asyncio.Task) -> bool:
    """Whether a wait ends without the clock moving on (a few turns of the loop)."""
    for _ in range(5):
        await asyncio.sleep(0)
    return waiting.done()


async def test_once_a_connect_gave_up_on_a_first_read_the_next_ones_do_not_wait_for_it():
    first_read, answer = FirstRead(0.05), asyncio.get_running_loop().create_future()
    reading = asyncio.get_running_loop().create_task(first_read.of(answer))
    await asyncio.sleep(0)
    await first_read.wait()  # Redis does not answer: given up after the bound
    assert await settles(asyncio.get_running_loop().create_task(first_read.wait()))
    answer.set_result({})
    await reading


async def test_a_first_read_failing_while_another_is_under_way_leaves_connects_waiting():
    first_read, loop = FirstRead(60.0), asyncio.get_running_loop()
    at_start, after_outage = loop.create_future(), loop.create_future()
    start = loop.create_task(first_read.of(at_start))
    restored = loop.create_task(first_read.of(after_outage))
    await asyncio.sleep(0)
    at_start.set_exception(ConnectionError("redis"))
    with pytest.raises(ConnectionError):
        await start
    waiting = loop.create_task(first_read.wait())
    assert not await settles(waiting)  # the read after the outage is still under way
    after_outage.set_result({})
    assert await restored == {}
    await waiting

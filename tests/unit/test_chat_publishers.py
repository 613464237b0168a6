"""The chat publisher hands a stored message to the hub, then to every watcher that
hears it, also to one that starts watching after messages went out (wiring/events.py)."""

from __future__ import annotations

from nirvana.wiring.events import ChatPublishers


class Hub:
    def __init__(self) -> None:
        self.heard: list[object] = []

    def message_posted(self, message, conversation) -> None:
        self.heard.append(message)


class Watcher:
    def __init__(self, fails: bool = False) -> None:
        self.heard: list[object] = []
        self.fails = fails

    def message_posted(self, message, conversation) -> None:
        self.heard.append(message)
        if self.fails:
            raise RuntimeError("a watcher that fails")


class GroupsOnly:
    def group_created(self, conversation) -> None: ...


def test_each_watcher_hears_what_it_defines_from_when_it_starts_watching():
    hub, first, failing = Hub(), Watcher(), Watcher(fails=True)
    publishers = ChatPublishers(hub, GroupsOnly(), failing, first)
    publishers.message_posted("m1", None)
    late = Watcher()
    publishers.watch(late)
    publishers.message_posted("m2", None)
    assert hub.heard == ["m1", "m2"]
    assert first.heard == failing.heard == ["m1", "m2"]  # one failing stops no other
    assert late.heard == ["m2"]

"""What each user wants to be told, and where: a switch per kind x channel.

Only a user's departures from the defaults are stored, so a default may change, or a kind be
added, without rewriting anyone's choices. Email exists only for what is worth a mail when
you are away: friend requests, mentions and missed chat messages (docs/mail.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ..errors import field_error
from .entities import Kind


class Channel(StrEnum):
    APP = "app"
    EMAIL = "email"


# Not a stored notification: chat messages still unread while you were away, by email.
MISSED_MESSAGES = "missed_messages"

# kind -> {channel: default}. A channel absent here does not exist for that kind.
DEFAULTS: dict[str, dict[Channel, bool]] = {
    Kind.FRIEND_REQUEST: {Channel.APP: True, Channel.EMAIL: True},
    Kind.FRIEND_ACCEPTED: {Channel.APP: True},
    Kind.NEW_FOLLOWER: {Channel.APP: True},
    Kind.BLOG_LIKED: {Channel.APP: True},
    Kind.BLOG_COMMENTED: {Channel.APP: True},
    Kind.MENTIONED: {Channel.APP: True, Channel.EMAIL: True},
    Kind.NEW_BLOG: {Channel.APP: True},
    Kind.ADDED_TO_GROUP: {Channel.APP: True},
    Kind.GROUP_ROLE: {Channel.APP: True},
    MISSED_MESSAGES: {Channel.EMAIL: True},
}
KINDS: tuple[str, ...] = tuple(str(k) for k in DEFAULTS)


@dataclass(frozen=True, slots=True)
class Preference:
    kind: str
    channel: Channel
    enabled: bool


def default(kind: str, channel: Channel) -> bool | None:
    """The default of a switch; None when the kind has no such channel. A kind not listed
    (a system notice) is always told in the app and never mailed."""
    if kind not in DEFAULTS:
        return channel is Channel.APP
    return DEFAULTS[kind].get(channel)


def effective(kind: str, channel: Channel, overrides: dict[tuple[str, Channel], bool]) -> bool:
    return overrides.get((kind, channel), bool(default(kind, channel)))


def matrix(overrides: dict[tuple[str, Channel], bool]) -> dict[str, dict[Channel, bool]]:
    """Every kind with each of its channels, as the user has them."""
    return {kind: {ch: overrides.get((kind, ch), on) for ch, on in channels.items()}
            for kind, channels in DEFAULTS.items()}


def check(change: Preference) -> None:
    if change.kind not in DEFAULTS:
        raise field_error("kind", f"is not one of {', '.join(KINDS)}", "unknown_kind")
    if change.channel not in DEFAULTS[change.kind]:
        raise field_error(change.channel.value, f"does not exist for {change.kind}",
                          "no_such_channel")


class PreferenceStore(Protocol):
    async def overrides(self, user_id: int) -> dict[tuple[str, Channel], bool]:
        """The user's switches that were ever set, default or not."""
        ...

    async def save(self, user_id: int, changes: list[Preference]) -> None: ...

    async def set_off(self, user_id: int, kind: str, channel: Channel) -> None: ...

    async def refusing(self, kind: str, channel: Channel, user_ids: list[int],
                       default_on: bool) -> set[int]:
        """Those of `user_ids` for whom the switch is off."""
        ...


class MuteStore(Protocol):
    async def mute(self, user_id: int, conversation_id: str) -> None: ...

    async def unmute(self, user_id: int, conversation_id: str) -> None: ...

    async def muted(self, user_id: int) -> list[str]: ...

    async def newest_muted(self, user_id: int, limit: int) -> tuple[list[str], int]:
        """The `limit` conversations muted last, newest first, and how many are muted."""
        ...

    async def muted_among(self, conversation_id: str, user_ids: list[int]) -> set[int]:
        """Those of `user_ids` who muted `conversation_id`."""
        ...


class Preferences:
    """The use cases of a user's switches and mutes (HTTP routes, pages and the rules)."""

    def __init__(self, store: PreferenceStore, mutes: MuteStore) -> None:
        self._store = store
        self._mutes = mutes

    async def of(self, user_id: int) -> dict[str, dict[Channel, bool]]:
        return matrix(await self._store.overrides(user_id))

    async def change(self, user_id: int, changes: list[Preference]
                     ) -> dict[str, dict[Channel, bool]]:
        for c in changes:
            check(c)
        await self._store.save(user_id, changes)
        return await self.of(user_id)

    async def turn_off(self, user_id: int, kind: str, channel: Channel) -> None:
        check(Preference(kind, channel, False))
        await self._store.set_off(user_id, kind, channel)

    async def wants(self, user_id: int, kind: str, channel: Channel) -> bool:
        return not await self.refusing(kind, channel, [user_id])

    async def refusing(self, kind: str, channel: Channel, user_ids: list[int]) -> set[int]:
        on = default(kind, channel)
        if on is None:
            return set(user_ids)  # no such channel: nobody gets it
        if not user_ids:
            return set()
        return await self._store.refusing(kind, channel, user_ids, on)

    async def mute(self, user_id: int, conversation_id: str, muted: bool) -> None:
        if muted:
            await self._mutes.mute(user_id, conversation_id)
        else:
            await self._mutes.unmute(user_id, conversation_id)

    async def muted(self, user_id: int) -> list[str]:
        return await self._mutes.muted(user_id)

    async def newest_muted(self, user_id: int, limit: int) -> tuple[list[str], int]:
        return await self._mutes.newest_muted(user_id, limit)

    async def muted_among(self, conversation_id: str, user_ids: list[int]) -> set[int]:
        return await self._mutes.muted_among(conversation_id, user_ids) if user_ids else set()

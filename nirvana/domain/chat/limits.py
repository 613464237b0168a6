"""The chat domain's limits: sizes, pages, the resume window, typing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChatLimits:
    max_text: int = 4000  # characters
    max_attachments: int = 10
    max_url: int = 2048
    max_group_members: int = 256
    max_page: int = 100
    max_conversations: int = 200  # a page of the conversation list: its default and most
    # Message search without a conversation looks in this many of your most recently
    # active conversations (docs/protocol.md): its own scope, not the list's page size.
    max_search_conversations: int = 200
    # Resume: at most this many events are replayed, and non-message events are kept this
    # long (older ones are pruned); beyond either, `resync_required`.
    resume_window: int = 5000
    resume_window_seconds: float = 7 * 24 * 3600.0
    # Resume reads of the store at once; more wait their turn here. After a restart every
    # client resumes together, and unbounded, their reads queued in the store's connection
    # pool until some passed its timeout and were answered `unavailable` (retry in 5 s).
    resume_reads: int = 16
    max_reactions: int = 20  # distinct emoji per message
    typing_ttl_seconds: float = 6.0

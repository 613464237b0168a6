"""In-process caches of the chat domain: conversations (members, roles, summary) and each
conversation's most recent messages. Pure data structures; `ChatService` owns one.

Why: every send and every read checks membership, and the embedded MongoDB-wire store's point
reads are few and shared with the writer, whose share limits chat throughput
(docs/performance.md). A history
page of the latest messages is what clients open most; serving it from memory takes the
store out of that path too.

Correctness rests on two rules, kept by the chat service:
- A cached `Conversation` is the live object: use cases change it in place only after the
  store has the change (as `send_message` and `mark` do), and any use case that changes
  membership or roles in the store calls `forget(conversation_id)`.
- Recent messages are appended after each durable insert; a use case that changes a stored
  message (edit, delete) calls `message_changed` (or `forget`). A page is served from memory
  only when it provably ends at the conversation's last seq, so a missed append costs a
  store query, never a stale page.
Per process: with several instances only the chat writer's cache holds anything (`hold`),
since every change to chat passes through the writer (nirvana/wiring/cluster_chat.py).
"""

from __future__ import annotations

from collections import OrderedDict, deque

from .entities import Conversation, Message


class ChatCache:
    def __init__(self, *, max_conversations: int = 10_000, recent: int = 50,
                 max_histories: int = 2_000) -> None:
        self.recent_size = recent
        self._max_conversations = max_conversations
        self._max_histories = max_histories
        self._conversations: OrderedDict[str, Conversation] = OrderedDict()
        # Contiguous seqs, oldest first; LRU over conversations bounds the memory.
        self._recent: OrderedDict[str, deque[Message]] = OrderedDict()
        # Forgetting bumps `_epoch`; conversation id -> the epoch of its last forget.
        self._epoch = 1
        self._forgotten: OrderedDict[str, int] = OrderedDict()
        self._evicted_floor = 0
        # False on an instance that does not run the chat writer (several instances):
        # changes are made elsewhere and never pass here, so nothing is kept.
        self.holding = True

    # -- conversations ----------------------------------------------------------------

    def conversation(self, conversation_id: str) -> Conversation | None:
        found = self._conversations.get(conversation_id)
        if found is not None:
            self._conversations.move_to_end(conversation_id)
        return found

    def generation(self, conversation_id: str) -> int:
        """Take before reading a conversation or its page from the store; pass to `keep`
        or `fill`."""
        return self._epoch

    def _forgotten_since(self, conversation_id: str, generation: int) -> bool:
        last = self._forgotten.get(conversation_id, self._evicted_floor)
        return last >= generation

    def keep(self, conversation: Conversation, generation: int | None = None) -> Conversation:
        """Cache a conversation just read from the store; returns the cached object (an
        already cached one wins: it may hold changes the store's copy lacks yet). With the
        `generation` taken before the read, a read that raced a `forget` is not cached."""
        held = self._conversations.get(conversation.id)
        if held is not None:
            return held
        if not self.holding:
            return conversation
        if generation is not None and self._forgotten_since(conversation.id, generation):
            return conversation  # possibly stale: used for this request only
        self._conversations[conversation.id] = conversation
        while len(self._conversations) > self._max_conversations:
            self._conversations.popitem(last=False)
        return conversation

    def forget(self, conversation_id: str) -> None:
        self.forget_conversation_only(conversation_id)
        self._recent.pop(conversation_id, None)

    def forget_conversation_only(self, conversation_id: str) -> None:
        """Drop the cached conversation (re-read on next use), keep its recent messages."""
        self._conversations.pop(conversation_id, None)
        self._forgotten[conversation_id] = self._epoch
        self._forgotten.move_to_end(conversation_id)
        self._epoch += 1
        while len(self._forgotten) > self._max_conversations:
            # An evicted entry's epoch becomes the floor for every unknown id: `keep` may
            # then decline more often, never cache a stale read.
            _, epoch = self._forgotten.popitem(last=False)
            self._evicted_floor = max(self._evicted_floor, epoch)

    def hold(self, holding: bool) -> None:
        """Start or stop keeping anything, forgetting what is held (also for reads under
        way): with several instances, only the chat writer's changes pass through its
        cache, so only its cache is kept; it starts empty, since another wrote before."""
        self.holding = holding
        self._conversations.clear()
        self._recent.clear()
        self._forgotten.clear()
        self._evicted_floor = self._epoch
        self._epoch += 1

    # -- recent messages --------------------------------------------------------------

    def latest(self, conversation_id: str, last_seq: int, limit: int) -> list[Message] | None:
        """The newest `limit` messages if memory provably has them, else None."""
        held = self._recent.get(conversation_id)
        if held is None or limit > self.recent_size:
            return None
        tail = held[-1].seq if held else 0
        first = held[0].seq if held else 1
        if tail != last_seq or (first > 1 and len(held) < limit):
            return None
        self._recent.move_to_end(conversation_id)
        return list(held)[-limit:] if limit < len(held) else list(held)

    def fill(self, conversation_id: str, newest: list[Message],
             generation: int | None = None) -> None:
        """Hold a page just read from the store (ascending seq, the newest messages). With
        the `generation` taken before the read, a read that raced a `forget` (an edit, an
        erasure) is not held: it may carry text the store no longer has, and later sends
        would append to it."""
        if not self.holding:
            return
        if generation is not None and self._forgotten_since(conversation_id, generation):
            return
        if any(b.seq != a.seq + 1 for a, b in zip(newest, newest[1:])):
            return
        self._recent[conversation_id] = deque(newest[-self.recent_size:],
                                              maxlen=self.recent_size)
        self._recent.move_to_end(conversation_id)
        while len(self._recent) > self._max_histories:
            self._recent.popitem(last=False)

    def appended(self, message: Message) -> None:
        held = self._recent.get(message.conversation_id)
        if held is None:
            return
        tail = held[-1].seq if held else 0
        if message.seq == tail + 1:
            held.append(message)
        elif message.seq > tail + 1:  # a gap: refill from the store on the next read
            del self._recent[message.conversation_id]

    def message_changed(self, message: Message) -> None:
        held = self._recent.get(message.conversation_id)
        if held:
            index = message.seq - held[0].seq
            if 0 <= index < len(held):
                held[index] = message

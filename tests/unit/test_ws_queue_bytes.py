"""The outgoing queue's byte bounds (ws/connection.py): per socket, per user, released when
a socket is closed or goes, and the close written at once where the transport allows it."""

from __future__ import annotations

from nirvana.ws.close_codes import CloseCode
from nirvana.ws.connection import Connection, UserQueues, frame_bytes

PAGE = "x" * 10_000
SIZE = frame_bytes(PAGE)


def stalled(user_queues: UserQueues, max_bytes: int = 3 * SIZE) -> Connection:
    """A connection whose peer reads nothing: every frame is queued."""
    conn = Connection(1, "s", max_queue=512, max_bytes=max_bytes)
    conn.join(user_queues)
    conn.direct = lambda text: False
    return conn


def test_a_socket_is_closed_before_its_queue_passes_its_byte_bound():
    conn = stalled(UserQueues(100 * SIZE))
    written: list[tuple[int, str]] = []
    conn.close_now = lambda code, reason: written.append((code, reason))
    for _ in range(3):
        conn.push(PAGE)
    assert conn.close_request is None and conn.queued_bytes == 3 * SIZE
    conn.push(PAGE)
    assert conn.close_request == (CloseCode.SLOW_CONSUMER, "outgoing queue overflow; resume")
    assert conn.queued_bytes == 0 and conn.queued_frames == 0  # released at once
    assert written == [conn.close_request] and conn.close_written


def test_a_users_sockets_share_one_bound_and_the_one_furthest_behind_goes():
    shared = UserQueues(4 * SIZE)
    behind, other = stalled(shared), stalled(shared)
    for _ in range(3):
        behind.push(PAGE)
    other.push(PAGE)
    assert shared.queued_bytes == 4 * SIZE
    other.push(PAGE)  # past the user's bound: `behind` holds most, so it is closed
    assert behind.close_request is not None and other.close_request is None
    assert shared.queued_bytes == other.queued_bytes == 2 * SIZE


async def test_frames_taken_by_the_sender_and_a_socket_that_goes_give_their_bytes_back():
    shared = UserQueues(10 * SIZE)
    conn = stalled(shared)
    conn.push(PAGE), conn.push(PAGE)
    assert await conn.next() == PAGE
    assert conn.queued_bytes == shared.queued_bytes == SIZE
    conn.release()
    assert conn.queued_bytes == shared.queued_bytes == 0 and shared.members == set()

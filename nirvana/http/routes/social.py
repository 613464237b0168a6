"""Friends, follows and blocks of the signed-in user: /api/v1/friends, /follows, /blocks.

Adding answers 201 when it created the link and 200 when it already stood; removing answers
204 whether or not there was anything to remove. Both can be retried safely.
"""

from __future__ import annotations

from starlette.responses import Response

from ...domain.social.entities import Change, Direction, FriendRequestOutcome
from ...domain.social.cursors import page_request
from ..api import Api, Call, JsonResponse
from ..schemas.social import FriendRequestOut, ListingOut, PageIn, RelationOut, RequestsIn
from .people import target_id

api = Api()
TAGS = ["social graph"]
CREATED = {FriendRequestOutcome.REQUESTED, FriendRequestOutcome.BECAME_FRIENDS}


def relation_response(user_id: int, change: Change) -> Response:
    body = RelationOut.of(user_id, change.state)
    return JsonResponse(body.model_dump_json(), status_code=201 if change.created else 200)


@api.route("POST", "/api/v1/friends/requests/{user_id:int}",
           summary="Ask to be friends; if they already asked you, you are friends now",
           tags=TAGS, response=FriendRequestOut, status=201, errors=(404, 409), also=(200,))
async def send_friend_request(call: Call[None, None]) -> Response:
    other = target_id(call)
    result = await call.services.social.send_friend_request(call.user_id, other)
    body = FriendRequestOut(outcome=result.outcome.value,
                            relation=RelationOut.of(other, result.state))
    status = 201 if result.outcome in CREATED else 200
    return JsonResponse(body.model_dump_json(), status_code=status)


@api.route("POST", "/api/v1/friends/requests/{user_id:int}/accept",
           summary="Accept their friend request", tags=TAGS, response=RelationOut, status=201,
           errors=(404,), also=(200,))
async def accept_friend_request(call: Call[None, None]) -> Response:
    other = target_id(call)
    change = await call.services.social.accept_friend_request(call.user_id, other)
    return relation_response(other, change)


@api.route("POST", "/api/v1/friends/requests/{user_id:int}/decline",
           summary="Decline their friend request", tags=TAGS, status=204, errors=(404,))
async def decline_friend_request(call: Call[None, None]) -> None:
    await call.services.social.decline_friend_request(call.user_id, target_id(call))


@api.route("DELETE", "/api/v1/friends/requests/{user_id:int}",
           summary="Withdraw your friend request", tags=TAGS, status=204, errors=(404,))
async def cancel_friend_request(call: Call[None, None]) -> None:
    await call.services.social.cancel_friend_request(call.user_id, target_id(call))


@api.route("DELETE", "/api/v1/friends/{user_id:int}", summary="End a friendship", tags=TAGS,
           status=204, errors=(404,))
async def remove_friend(call: Call[None, None]) -> None:
    await call.services.social.remove_friend(call.user_id, target_id(call))


@api.route("GET", "/api/v1/friends", summary="Your friends, newest first", tags=TAGS,
           query=PageIn, response=ListingOut)
async def list_friends(call: Call[None, PageIn]) -> ListingOut:
    page = page_request(call.query.limit, call.query.cursor)
    return ListingOut.of(await call.services.social.friends(call.user_id, page))


@api.route("GET", "/api/v1/friends/requests",
           summary="Pending friend requests to you (incoming) or from you (outgoing)",
           tags=TAGS, query=RequestsIn, response=ListingOut)
async def list_friend_requests(call: Call[None, RequestsIn]) -> ListingOut:
    page = page_request(call.query.limit, call.query.cursor)
    direction = Direction(call.query.direction)
    return ListingOut.of(
        await call.services.social.friend_requests(call.user_id, direction, page))


@api.route("POST", "/api/v1/follows/{user_id:int}", summary="Follow a user", tags=TAGS,
           response=RelationOut, status=201, errors=(404, 409), also=(200,))
async def follow(call: Call[None, None]) -> Response:
    other = target_id(call)
    return relation_response(other, await call.services.social.follow(call.user_id, other))


@api.route("DELETE", "/api/v1/follows/{user_id:int}", summary="Stop following a user",
           tags=TAGS, status=204, errors=(404,))
async def unfollow(call: Call[None, None]) -> None:
    await call.services.social.unfollow(call.user_id, target_id(call))


@api.route("POST", "/api/v1/blocks/{user_id:int}",
           summary="Block a user: ends friendship, requests and follows both ways", tags=TAGS,
           response=RelationOut, status=201, errors=(404,), also=(200,))
async def block(call: Call[None, None]) -> Response:
    other = target_id(call)
    change = await call.services.social.block(call.user_id, other)
    return relation_response(other, change)


@api.route("DELETE", "/api/v1/blocks/{user_id:int}", summary="Lift a block", tags=TAGS,
           status=204, errors=(404,))
async def unblock(call: Call[None, None]) -> None:
    await call.services.social.unblock(call.user_id, target_id(call))


@api.route("GET", "/api/v1/blocks", summary="The users you blocked, newest first", tags=TAGS,
           query=PageIn, response=ListingOut)
async def list_blocks(call: Call[None, PageIn]) -> ListingOut:
    page = page_request(call.query.limit, call.query.cursor)
    return ListingOut.of(await call.services.social.blocked(call.user_id, page))

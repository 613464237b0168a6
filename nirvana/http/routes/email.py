"""The signed-in user's email: verify it by a mailed link, change it: /api/v1/user/email*."""

from __future__ import annotations

from starlette.responses import Response

from ..api import Api, Call, JsonResponse
from ..schemas.users import AcceptedOut, ChangeEmailIn, UserOut, VerifyEmailIn

api = Api()
TAGS = ["account"]


@api.route("POST", "/api/v1/user/email/verification",
           summary="Mail a link that verifies your current email (3 an hour)", tags=TAGS,
           response=AcceptedOut, status=202, errors=(403, 409, 429))
async def send_verification(call: Call[None, None]) -> Response:
    await call.services.accounts.send_verification(call.user_id)
    body = AcceptedOut(message="A link is on its way to your email.")
    return JsonResponse(body.model_dump_json(), status_code=202)


@api.route("POST", "/api/v1/user/email/verify",
           summary="Verify an email with the token of its link (no sign-in needed: the "
                   "link may be opened on another device)", tags=TAGS, body=VerifyEmailIn,
           response=UserOut, auth=False)
async def verify_email(call: Call[VerifyEmailIn, None]) -> UserOut:
    return UserOut.of(await call.services.accounts.verify_email(call.body.token))


@api.route("PUT", "/api/v1/user/email",
           summary="Change your email, confirmed by your password: the new one is mailed a "
                   "link, the old one is told", tags=TAGS, body=ChangeEmailIn,
           response=UserOut, errors=(403, 409, 429))
async def change_email(call: Call[ChangeEmailIn, None]) -> UserOut:
    user = await call.services.accounts.change_email(call.user_id, call.body.password,
                                                     call.body.email)
    return UserOut.of(user)

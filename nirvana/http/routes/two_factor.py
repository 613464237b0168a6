"""The signed-in user's two-factor sign-in: /api/v1/user/two-factor* (docs/accounts.md).

The sign-in's second step is in routes/users.py, beside the first.
"""

from __future__ import annotations

from starlette.responses import Response

from ..api import Api, Call, JsonResponse
from ..schemas.two_factor import (
    CodeIn,
    PasswordAndCodeIn,
    PasswordIn,
    RecoveryCodesOut,
    TwoFactorSetupOut,
    TwoFactorStatusOut,
)

api = Api()
TAGS = ["account"]
# Answers holding a secret or recovery codes are kept by no cache.
NO_STORE = {"Cache-Control": "no-store"}


@api.route("GET", "/api/v1/user/two-factor", summary="Whether two-factor sign-in is on",
           tags=TAGS, response=TwoFactorStatusOut)
async def status(call: Call[None, None]) -> TwoFactorStatusOut:
    s = await call.services.two_factor.status(call.user_id)
    return TwoFactorStatusOut(enabled=s.enabled, enabled_at=s.enabled_at, pending=s.pending,
                              recovery_codes_left=s.recovery_codes_left)


@api.route("POST", "/api/v1/user/two-factor/setup",
           summary="Start setting up two-factor sign-in, confirmed by your password: a new "
                   "secret for your authenticator app (it is on only once confirmed)",
           tags=TAGS, body=PasswordIn, response=TwoFactorSetupOut, status=201,
           errors=(403, 409, 429))
async def set_up(call: Call[PasswordIn, None]) -> Response:
    enrolment = await call.services.two_factor.set_up(call.user_id, call.body.password)
    body = TwoFactorSetupOut(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)
    return JsonResponse(body.model_dump_json(), status_code=201, headers=NO_STORE)


@api.route("POST", "/api/v1/user/two-factor/confirm",
           summary="Turn two-factor sign-in on with a code of your app; answers the "
                   "recovery codes, shown this once", tags=TAGS, body=CodeIn,
           response=RecoveryCodesOut, errors=(403, 409))
async def confirm(call: Call[CodeIn, None]) -> Response:
    codes = await call.services.two_factor.confirm(call.user_id, call.body.code)
    return JsonResponse(RecoveryCodesOut(recovery_codes=codes).model_dump_json(),
                        headers=NO_STORE)


@api.route("POST", "/api/v1/user/two-factor/disable",
           summary="Turn two-factor sign-in off, confirmed by your password and a code",
           tags=TAGS, body=PasswordAndCodeIn, status=204, errors=(403, 409, 429))
async def disable(call: Call[PasswordAndCodeIn, None]) -> None:
    await call.services.two_factor.disable(call.user_id, call.body.password, call.body.code)


@api.route("POST", "/api/v1/user/two-factor/recovery-codes",
           summary="Replace your recovery codes with ten new ones, confirmed by your "
                   "password and a code; shown this once", tags=TAGS, body=PasswordAndCodeIn,
           response=RecoveryCodesOut, errors=(403, 409, 429))
async def new_recovery_codes(call: Call[PasswordAndCodeIn, None]) -> Response:
    codes = await call.services.two_factor.new_recovery_codes(
        call.user_id, call.body.password, call.body.code)
    return JsonResponse(RecoveryCodesOut(recovery_codes=codes).model_dump_json(),
                        headers=NO_STORE)

"""JSON routes for accounts, sessions and two-factor, and the authentication dependencies
every other pillar's routes use."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, Response, UploadFile

from courtyard.accounts.model import (
    AccountOut,
    Actor,
    CodeIn,
    LoginIn,
    LoginOut,
    PasswordChangeIn,
    ProfileIn,
    RecoveryCodesOut,
    RegisterIn,
    SessionOut,
    TermsAcceptanceOut,
    TermsIn,
    TwoFactorDisableIn,
    TwoFactorLoginIn,
    TwoFactorSetupOut,
    VerificationChallengeOut,
    VerificationStartIn,
)
from courtyard.accounts.service import ClientInfo
from courtyard.container import Services, get_services
from courtyard.core.errors import Forbidden, NotFound, Unauthenticated
from courtyard.core.http import client_address
from courtyard.core.ids import is_valid_id

SESSION_COOKIE = "cy_session"
DEVICE_COOKIE = "cy_device"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

router = APIRouter(prefix="/api/v1", tags=["accounts"])

ServicesDep = Annotated[Services, Depends(get_services)]


def client_info(request: Request) -> ClientInfo:
    return ClientInfo(
        ip_address=client_address(request), user_agent=request.headers.get("user-agent")
    )


async def optional_actor(request: Request, services: ServicesDep) -> Actor | None:
    """The actor from a bearer token, or from the session cookie (with CSRF on writes)."""
    cached: Actor | None = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    from_cookie = False
    if scheme.lower() != "bearer" or not token:
        token = request.cookies.get(SESSION_COOKIE, "")
        from_cookie = True
    if not token:
        return None
    actor = await services.accounts.authenticate(token.strip())
    if actor is None:
        return None
    if from_cookie and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent.encode(), actor.csrf_token.encode()):
            raise Forbidden("The request is missing its CSRF token.", code="csrf_failed")
    request.state.actor = actor
    return actor


async def current_actor(actor: Annotated[Actor | None, Depends(optional_actor)]) -> Actor:
    if actor is None:
        raise Unauthenticated
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


def set_session_cookies(response: Response, result: LoginOut, *, secure: bool) -> None:
    """Used by the web pages: the session lives in an HTTP-only cookie."""
    if result.session is not None:
        response.set_cookie(
            SESSION_COOKIE,
            result.session.token,
            httponly=True,
            secure=secure,
            samesite="lax",
            expires=result.session.expires_at,
        )
    if result.device_token is not None:
        response.set_cookie(
            DEVICE_COOKIE,
            result.device_token,
            httponly=True,
            secure=secure,
            samesite="lax",
            max_age=400 * 24 * 3600,
        )


# ---- registration and sessions -------------------------------------------------------------


@router.post("/accounts", status_code=201, response_model=LoginOut, summary="Register")
async def register(body: RegisterIn, request: Request, services: ServicesDep) -> LoginOut:
    account, session = await services.accounts.check_register(body, client_info(request))
    # The device someone registers on is a device they have logged in from.
    return LoginOut(
        account=AccountOut.of(account),
        session=session,
        device_token=services.accounts.device_token(account),
    )


@router.post("/sessions", response_model=LoginOut, summary="Log in")
async def login(body: LoginIn, request: Request, services: ServicesDep) -> LoginOut:
    device = body.device_token or request.cookies.get(DEVICE_COOKIE)
    return await services.accounts.check_login(
        body.handle, body.password, device, client_info(request)
    )


@router.post("/sessions/two-factor", response_model=LoginOut, summary="Complete a two-factor login")
async def login_two_factor(
    body: TwoFactorLoginIn, request: Request, services: ServicesDep
) -> LoginOut:
    return await services.accounts.check_two_factor_login(
        body.ticket, body.code, client_info(request)
    )


@router.get("/sessions", response_model=list[SessionOut])
async def list_sessions(actor: ActorDep, services: ServicesDep) -> list[SessionOut]:
    return await services.accounts.list_sessions(actor)


@router.delete("/sessions/current", status_code=204, summary="Log out")
async def logout(actor: ActorDep, services: ServicesDep) -> Response:
    await services.accounts.logout(actor)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.delete("/sessions/{session_id}", status_code=204, summary="Revoke a session")
async def revoke_session(session_id: str, actor: ActorDep, services: ServicesDep) -> Response:
    if not is_valid_id(session_id):
        raise NotFound("No such session.")
    await services.accounts.revoke_session(actor, session_id)
    return Response(status_code=204)


# ---- own account ---------------------------------------------------------------------------


@router.get("/me", response_model=AccountOut)
async def me(actor: ActorDep) -> AccountOut:
    return AccountOut.of(actor.account)


@router.patch("/me", response_model=AccountOut)
async def update_profile(body: ProfileIn, actor: ActorDep, services: ServicesDep) -> AccountOut:
    return AccountOut.of(await services.accounts.check_update_profile(actor, body))


@router.put("/me/avatar", response_model=AccountOut)
async def set_avatar(
    actor: ActorDep, services: ServicesDep, image: Annotated[UploadFile, File()]
) -> AccountOut:
    data = await image.read(services.settings.avatar_max_bytes + 1)
    return AccountOut.of(await services.accounts.check_set_avatar(actor, data))


@router.post("/me/password", status_code=204)
async def change_password(
    body: PasswordChangeIn, actor: ActorDep, services: ServicesDep
) -> Response:
    await services.accounts.check_change_password(actor, body.current_password, body.new_password)
    return Response(status_code=204)


@router.post("/me/two-factor/setup", response_model=TwoFactorSetupOut)
async def two_factor_setup(actor: ActorDep, services: ServicesDep) -> TwoFactorSetupOut:
    return await services.accounts.begin_two_factor(actor)


@router.post("/me/two-factor/enable", response_model=RecoveryCodesOut)
async def two_factor_enable(
    body: CodeIn, actor: ActorDep, services: ServicesDep
) -> RecoveryCodesOut:
    return RecoveryCodesOut(
        recovery_codes=await services.accounts.enable_two_factor(actor, body.code)
    )


@router.post("/me/two-factor/disable", status_code=204)
async def two_factor_disable(
    body: TwoFactorDisableIn, actor: ActorDep, services: ServicesDep
) -> Response:
    await services.accounts.disable_two_factor(actor, body.password, body.code)
    return Response(status_code=204)


@router.post("/me/two-factor/recovery-codes", response_model=RecoveryCodesOut)
async def two_factor_recovery_codes(
    body: CodeIn, actor: ActorDep, services: ServicesDep
) -> RecoveryCodesOut:
    codes = await services.accounts.regenerate_recovery_codes(actor, body.code)
    return RecoveryCodesOut(recovery_codes=codes)


@router.get("/me/terms", response_model=list[TermsAcceptanceOut])
async def list_terms(actor: ActorDep, services: ServicesDep) -> list[TermsAcceptanceOut]:
    return await services.accounts.list_terms(actor)


@router.post("/me/terms", response_model=list[TermsAcceptanceOut])
async def accept_terms(
    body: TermsIn, actor: ActorDep, services: ServicesDep
) -> list[TermsAcceptanceOut]:
    return await services.accounts.accept_terms(actor, body.version)


@router.post("/me/verification", response_model=VerificationChallengeOut, status_code=201)
async def start_verification(
    body: VerificationStartIn, actor: ActorDep, services: ServicesDep
) -> VerificationChallengeOut:
    return await services.accounts.start_verification(actor, body.level, body.claim)


@router.post("/me/verification/{challenge_id}", response_model=AccountOut)
async def complete_verification(
    challenge_id: str, body: CodeIn, actor: ActorDep, services: ServicesDep
) -> AccountOut:
    if not is_valid_id(challenge_id):
        raise NotFound("No open verification with this id.")
    return AccountOut.of(
        await services.accounts.complete_verification(actor, challenge_id, body.code)
    )

"""The server-rendered web client: landing, registration, login, settings; ``install(app)``.

Routes own nothing: each parses its form, calls one service function (the same the JSON API
calls) and renders the result, or the ``CourtyardError`` inline on the same page. Contacts
pages live in ``contacts_pages.py``. See ``common.py`` for authentication, CSRF and rendering.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from courtyard.accounts.api import DEVICE_COOKIE, SESSION_COOKIE, client_info, set_session_cookies
from courtyard.accounts.model import (
    AccountOut,
    CodeIn,
    LoginIn,
    LoginOut,
    PasswordChangeIn,
    ProfileIn,
    RegisterIn,
    TwoFactorDisableIn,
    TwoFactorLoginIn,
    TwoFactorSetupOut,
)
from courtyard.core.errors import CourtyardError, InvalidInput
from courtyard.core.ids import is_valid_id
from courtyard.web import chats_pages, contacts_pages, due_process_pages, moments_pages
from courtyard.web.common import (
    ERROR_TITLES,
    BadForm,
    CsrfFailed,
    LoginRequired,
    PageError,
    WebContext,
    add_page_headers,
    build_context,
    guest_form,
    htmx_error,
    is_htmx,
    login_url,
    member_form,
    member_page,
    page,
    safe_next,
)
from courtyard.web.i18n import LANG_COOKIE, SUPPORTED_LOCALES, I18n, match_locale

STATIC_DIR = Path(__file__).resolve().parent / "static"

router = APIRouter(include_in_schema=False)

Page = Annotated[WebContext, Depends(page)]
Member = Annotated[WebContext, Depends(member_page)]
MemberForm = Annotated[WebContext, Depends(member_form)]
GuestForm = Annotated[WebContext, Depends(guest_form)]


def install(app: FastAPI) -> None:
    """Mount the static files, the page routes and the HTML error pages on ``app``."""
    app.state.web_i18n = I18n()
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    app.include_router(contacts_pages.router)
    app.include_router(chats_pages.router)
    app.include_router(due_process_pages.router)
    app.include_router(moments_pages.router)
    app.add_exception_handler(LoginRequired, _on_login_required)
    app.add_exception_handler(CsrfFailed, _on_csrf_failed)
    app.add_exception_handler(BadForm, _on_bad_form)
    json_http_handler = app.exception_handlers.get(StarletteHTTPException)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        # Browsers asking for a page get an HTML error page; API clients keep their JSON.
        assert isinstance(exc, StarletteHTTPException)
        wants_html = "text/html" in request.headers.get("accept", "")
        is_page = not request.url.path.startswith("/api/")
        if wants_html and is_page and exc.status_code in {404, 405}:
            ctx = await build_context(request)
            title = ctx._("Page not found.") if exc.status_code == 404 else ctx._("Not allowed.")
            return _error_page(ctx, exc.status_code, "not_found", title)
        if json_http_handler is not None:
            result: Response = await json_http_handler(request, exc)  # type: ignore[misc]
            return result
        raise exc

    app.add_exception_handler(StarletteHTTPException, on_http_error)


def _error_page(ctx: WebContext, status: int, code: str, title: str) -> Response:
    error = PageError(code=code, title=title, status=status)
    if is_htmx(ctx.request):
        return htmx_error(ctx, error)
    return ctx.render("error.html", status=status, error=error)


async def _on_login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    url = login_url(exc.next_path)
    response: Response
    if is_htmx(request):
        response = Response(status_code=200, headers={"HX-Redirect": url})
    else:
        response = Response(status_code=303, headers={"Location": url})
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE)  # it no longer names a live session
    add_page_headers(response)
    return response


async def _on_csrf_failed(request: Request, exc: Exception) -> Response:
    ctx = await build_context(request)
    return _error_page(ctx, 403, "csrf_failed", ctx.translate(ERROR_TITLES["csrf_failed"]))


async def _on_bad_form(request: Request, exc: Exception) -> Response:
    ctx = await build_context(request)
    return _error_page(ctx, 400, "bad_form", ctx._("The form could not be read."))


def _login_response(
    ctx: WebContext, result: LoginOut, next_path: str, notice: str | None
) -> Response:
    response = ctx.redirect(safe_next(next_path), notice=notice)
    set_session_cookies(response, result, secure=ctx.services.settings.secure_cookies)
    return response


# ---- landing, language ----------------------------------------------------------------------


@router.get("/")
async def landing(ctx: Page) -> Response:
    if ctx.actor is not None:
        return ctx.redirect("/contacts")
    return ctx.render("landing.html")


@router.get("/lang/{code}")
async def switch_language(code: str, ctx: Page) -> Response:
    """The language switcher: remember the choice for this browser, then go back."""
    locale = match_locale(code)
    response = ctx.redirect(safe_next(ctx.request.query_params.get("next"), "/"))
    if locale in SUPPORTED_LOCALES:
        response.set_cookie(
            LANG_COOKIE,
            locale,
            max_age=400 * 24 * 3600,
            samesite="lax",
            secure=ctx.services.settings.secure_cookies,
        )
    return response


# ---- registration and login -----------------------------------------------------------------


def _register_page(ctx: WebContext, status: int = 200, **values: Any) -> Response:
    settings = ctx.services.settings
    values.setdefault("form", {})
    return ctx.render(
        "register.html",
        status=status,
        min_length=settings.password_min_length,
        terms_version=settings.current_terms_version,
        **values,
    )


@router.get("/register")
async def register_form(ctx: Page) -> Response:
    if ctx.actor is not None:
        return ctx.redirect("/contacts")
    return _register_page(ctx)


@router.post("/register")
async def register(ctx: GuestForm) -> Response:
    form = {
        "handle": ctx.text("handle", strip=True),
        "display_name": ctx.text("display_name", strip=True),
        "accept_terms": ctx.checked("accept_terms"),
    }
    try:
        data = RegisterIn(
            handle=form["handle"],
            password=ctx.text("password"),
            display_name=form["display_name"] or None,
            accept_terms=bool(form["accept_terms"]),
        )
        account, session = await ctx.services.accounts.check_register(
            data, client_info(ctx.request)
        )
    except (CourtyardError, ValidationError) as exc:
        error = ctx.page_error(exc)
        return _register_page(ctx, error.status, error=error, form=form)
    result = LoginOut(account=AccountOut.of(account), session=session)
    return _login_response(ctx, result, "/contacts", "welcome")


@router.get("/login")
async def login_form(ctx: Page) -> Response:
    next_path = safe_next(ctx.request.query_params.get("next"))
    if ctx.actor is not None:
        return ctx.redirect(next_path)
    return ctx.render("login.html", form={}, next=next_path)


@router.post("/login")
async def login(ctx: GuestForm) -> Response:
    handle = ctx.text("handle", strip=True)
    next_path = safe_next(ctx.text("next"))
    try:
        data = LoginIn(handle=handle, password=ctx.text("password"))
        result = await ctx.services.accounts.check_login(
            data.handle,
            data.password,
            ctx.request.cookies.get(DEVICE_COOKIE),
            client_info(ctx.request),
        )
    except (CourtyardError, ValidationError) as exc:
        error = ctx.page_error(exc)
        return ctx.render(
            "login.html",
            status=error.status,
            error=error,
            form={"handle": handle},
            next=next_path,
        )
    if result.two_factor_required:
        return ctx.render("login_two_factor.html", ticket=result.two_factor_ticket, next=next_path)
    return _login_response(ctx, result, next_path, None)


@router.get("/login/two-factor")
async def login_two_factor_form(ctx: Page) -> Response:
    return ctx.redirect("/login")


@router.post("/login/two-factor")
async def login_two_factor(ctx: GuestForm) -> Response:
    ticket = ctx.text("ticket")
    next_path = safe_next(ctx.text("next"))
    try:
        data = TwoFactorLoginIn(ticket=ticket, code=ctx.text("code", strip=True))
        result = await ctx.services.accounts.check_two_factor_login(
            data.ticket, data.code, client_info(ctx.request)
        )
    except (CourtyardError, ValidationError) as exc:
        error = ctx.page_error(exc)
        return ctx.render(
            "login_two_factor.html",
            status=error.status,
            error=error,
            ticket=ticket,
            next=next_path,
        )
    return _login_response(ctx, result, next_path, None)


@router.post("/logout")
async def logout(ctx: MemberForm) -> Response:
    with contextlib.suppress(CourtyardError):  # signed out elsewhere already: same outcome
        await ctx.services.accounts.logout(ctx.me)
    response = ctx.redirect("/", notice="logged_out")
    response.delete_cookie(SESSION_COOKIE)
    return response


# ---- settings: profile ----------------------------------------------------------------------


def _profile_page(ctx: WebContext, status: int = 200, **values: Any) -> Response:
    account = ctx.me.account
    values.setdefault(
        "form",
        {
            "display_name": account.display_name,
            "bio": account.bio,
            "locale": match_locale(account.locale) or "",
        },
    )
    return ctx.render(
        "settings/profile.html",
        status=status,
        section="profile",
        profile=AccountOut.of(account),
        locales=SUPPORTED_LOCALES,
        **values,
    )


@router.get("/settings")
async def settings_home(ctx: Member) -> Response:
    return ctx.redirect("/settings/profile")


@router.get("/settings/profile")
async def profile_form(ctx: Member) -> Response:
    return _profile_page(ctx)


@router.post("/settings/profile")
async def profile_save(ctx: MemberForm) -> Response:
    form = {
        "display_name": ctx.text("display_name", strip=True),
        "bio": ctx.text("bio", strip=True),
        "locale": ctx.text("locale", strip=True),
    }
    try:
        if form["locale"] and form["locale"] not in SUPPORTED_LOCALES:
            raise InvalidInput(details={"field": "locale"})
        data = ProfileIn(display_name=form["display_name"], bio=form["bio"], locale=form["locale"])
        await ctx.services.accounts.check_update_profile(ctx.me, data)
    except (CourtyardError, ValidationError) as exc:
        error = ctx.page_error(exc)
        return _profile_page(ctx, error.status, error=error, form=form)
    response = ctx.redirect("/settings/profile", notice="profile_saved")
    # The language chosen here also becomes this browser's choice (or the browser's default).
    if form["locale"]:
        response.set_cookie(
            LANG_COOKIE,
            form["locale"],
            max_age=400 * 24 * 3600,
            samesite="lax",
            secure=ctx.services.settings.secure_cookies,
        )
    else:
        response.delete_cookie(LANG_COOKIE)
    return response


@router.post("/settings/profile/avatar")
async def avatar_save(ctx: MemberForm) -> Response:
    upload = ctx.upload("avatar")
    try:
        if upload is None:
            raise InvalidInput(ctx._("Choose an image file."), details={"field": "avatar"})
        data = await upload.read(ctx.services.settings.avatar_max_bytes + 1)
        await ctx.services.accounts.check_set_avatar(ctx.me, data)
    except CourtyardError as exc:
        error = ctx.page_error(exc)
        return _profile_page(ctx, error.status, avatar_error=error)
    return ctx.redirect("/settings/profile", notice="avatar_saved")


# ---- settings: sessions ---------------------------------------------------------------------


async def _sessions_page(ctx: WebContext, status: int = 200, **values: Any) -> Response:
    sessions = await ctx.services.accounts.list_sessions(ctx.me)
    return ctx.render(
        "settings/sessions.html", status=status, section="sessions", sessions=sessions, **values
    )


@router.get("/settings/sessions")
async def sessions(ctx: Member) -> Response:
    return await _sessions_page(ctx)


@router.post("/settings/sessions/{session_id}/revoke")
async def revoke_session(session_id: str, ctx: MemberForm) -> Response:
    try:
        if not is_valid_id(session_id):
            raise InvalidInput(ctx._("No such session."), code="not_found")
        await ctx.services.accounts.revoke_session(ctx.me, session_id)
    except CourtyardError as exc:
        error = ctx.page_error(exc)
        return await _sessions_page(ctx, error.status, error=error)
    if session_id == ctx.me.session_id:
        response = ctx.redirect("/login", notice="logged_out")
        response.delete_cookie(SESSION_COOKIE)
        return response
    return ctx.redirect("/settings/sessions", notice="session_revoked")


# ---- settings: security ---------------------------------------------------------------------


def _security_page(ctx: WebContext, status: int = 200, **values: Any) -> Response:
    values.setdefault("two_factor_enabled", ctx.me.account.two_factor_enabled)
    values.setdefault("setup", None)
    values.setdefault("recovery_codes", None)
    values.setdefault("password_error", None)
    values.setdefault("two_factor_error", None)
    return ctx.render(
        "settings/security.html",
        status=status,
        section="security",
        min_length=ctx.services.settings.password_min_length,
        **values,
    )


@router.get("/settings/security")
async def security(ctx: Member) -> Response:
    return _security_page(ctx)


@router.post("/settings/security/password")
async def change_password(ctx: MemberForm) -> Response:
    try:
        data = PasswordChangeIn(
            current_password=ctx.text("current_password"), new_password=ctx.text("new_password")
        )
        await ctx.services.accounts.check_change_password(
            ctx.me, data.current_password, data.new_password
        )
    except (CourtyardError, ValidationError) as exc:
        error = ctx.page_error(exc)
        return _security_page(ctx, error.status, password_error=error)
    return ctx.redirect("/settings/security", notice="password_changed")


@router.post("/settings/security/two-factor/setup")
async def two_factor_setup(ctx: MemberForm) -> Response:
    try:
        setup = await ctx.services.accounts.begin_two_factor(ctx.me)
    except CourtyardError as exc:
        error = ctx.page_error(exc)
        return _security_page(ctx, error.status, two_factor_error=error)
    return _security_page(ctx, setup=setup)


@router.post("/settings/security/two-factor/enable")
async def two_factor_enable(ctx: MemberForm) -> Response:
    # The secret travels back only so the page can show it again after a mistyped code; the
    # service checks the code against the secret it stored, never against this field.
    secret, uri = ctx.text("secret", strip=True), ctx.text("otpauth_uri", strip=True)
    setup = TwoFactorSetupOut(secret=secret, otpauth_uri=uri) if secret and uri else None
    try:
        data = CodeIn(code=ctx.text("code", strip=True))
        codes = await ctx.services.accounts.enable_two_factor(ctx.me, data.code)
    except (CourtyardError, ValidationError) as exc:
        error = ctx.page_error(exc)
        return _security_page(ctx, error.status, setup=setup, two_factor_error=error)
    return _security_page(ctx, two_factor_enabled=True, recovery_codes=codes)


@router.post("/settings/security/two-factor/recovery-codes")
async def two_factor_recovery_codes(ctx: MemberForm) -> Response:
    try:
        data = CodeIn(code=ctx.text("code", strip=True))
        codes = await ctx.services.accounts.regenerate_recovery_codes(ctx.me, data.code)
    except (CourtyardError, ValidationError) as exc:
        error = ctx.page_error(exc)
        return _security_page(ctx, error.status, two_factor_error=error)
    return _security_page(ctx, recovery_codes=codes)


@router.post("/settings/security/two-factor/disable")
async def two_factor_disable(ctx: MemberForm) -> Response:
    try:
        data = TwoFactorDisableIn(password=ctx.text("password"), code=ctx.text("code", strip=True))
        await ctx.services.accounts.disable_two_factor(ctx.me, data.password, data.code)
    except (CourtyardError, ValidationError) as exc:
        error = ctx.page_error(exc)
        return _security_page(ctx, error.status, two_factor_error=error)
    return ctx.redirect("/settings/security", notice="two_factor_disabled")

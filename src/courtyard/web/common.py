"""What every page shares: who is asking, in which language, CSRF, rendering and errors.

Pages call the same services as the JSON API (``request.app.state.services``); this module
only turns requests into service calls' inputs and their results or ``CourtyardError`` into
HTML. A domain error is shown inline on the page it came from, with its code, never as a 500.

CSRF: a logged-in form carries the session's CSRF token in a hidden ``csrf_token`` field (htmx
requests also send it as ``X-CSRF-Token``, set once on ``<body hx-headers>``). The logged-out
forms (register, login, the two-factor step) use a double-submit token: a random ``cy_csrf``
cookie and the same value in the form. A mismatch gets a 403 page.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from courtyard.accounts.api import CSRF_HEADER, SESSION_COOKIE
from courtyard.accounts.model import Actor
from courtyard.container import Services
from courtyard.core.errors import CourtyardError, RateLimited
from courtyard.web.i18n import LANG_COOKIE, N_, I18n, choose_locale

GUEST_CSRF_COOKIE = "cy_csrf"
CSRF_FIELD = "csrf_token"
MAX_FORM_FIELDS = 200
MAX_FIELD_LENGTH = 10_000

# Headlines for the error codes a page can meet; the service's own message is shown under it
# (translated too when the catalog knows it).
ERROR_TITLES: dict[str, str] = {
    "handle_taken": N_("This handle is already taken."),
    "invalid_handle": N_("This handle cannot be used."),
    "weak_password": N_("Choose a stronger password."),
    "terms_not_accepted": N_("You need to accept the terms of service to register."),
    "invalid_credentials": N_("The handle or password is not correct."),
    "two_factor_invalid": N_("The two-factor code is not correct or has expired."),
    "two_factor_enabled": N_("Two-factor authentication is already on."),
    "two_factor_not_started": N_("Start two-factor setup first."),
    "account_unavailable": N_("This account no longer exists."),
    "unauthenticated": N_("You need to log in."),
    "rate_limited": N_("Too many attempts. Try again later."),
    "invalid_input": N_("Some of the input is not valid."),
    "not_found": N_("Not found."),
    "conflict": N_("The request conflicts with the current state."),
    "forbidden": N_("You are not allowed to do this."),
    "csrf_failed": N_("The form expired or came from another site. Reload the page and try again."),
    "capability_denied": N_("Your account cannot do this right now."),
    "policy_blocked": N_("This was not published because it breaks a rule."),
    "payload_too_large": N_("The file is too large."),
    "unsupported_media": N_("This kind of file is not supported."),
    "cannot_befriend_self": N_("You cannot send a friend request to yourself."),
    "cannot_block_self": N_("You cannot block yourself."),
    "already_friends": N_("You are already friends."),
    "blocked_by_you": N_("You have blocked this account."),
    "friend_cap_reached": N_("The friend limit is reached."),
    "label_exists": N_("You already have a label with this name."),
    "label_limit_reached": N_("You have too many labels."),
    "invalid_label_name": N_("This label name cannot be used."),
    "message_too_long": N_("The verification message is too long."),
}

# Messages the services raise that the catalogs translate; anything else is shown as sent.
SERVICE_MESSAGES = (
    N_(
        "A handle is 3 to 32 characters: lowercase letters, digits and underscores, "
        "starting with a letter."
    ),
    N_("This handle is reserved."),
    N_("Use at least 10 characters."),
    N_("This password is in lists of commonly used and leaked passwords."),
    N_("Do not build your password from your handle or name."),
    N_("This password is too easy to guess."),
    N_("The current password is not correct."),
    N_("The password is not correct."),
    N_("The sign-in step expired; log in again."),
    N_("A display name cannot be empty."),
    N_("No such session."),
    N_("The file is not an image we can read."),
    N_("Use a JPEG, PNG, WebP or GIF image."),
    N_("The request is missing its CSRF token."),
    N_("You have blocked this account. Unblock it first to send a request."),
    N_("No account with this handle or id."),
    N_("No such friend request."),
    N_("This account is not in your friends."),
    N_("No such label."),
    N_("You have not blocked this account."),
    N_("A label name is 1 to 32 characters."),
    N_("A label name cannot contain control characters."),
    N_("A remark is at most 64 characters."),
    N_("A remark cannot contain control characters."),
    N_("A verification message is at most 200 characters."),
    N_("You have reached the limit of 10000 friends. Remove someone to add more."),
    N_("They have reached their limit of friends, so the request cannot be accepted."),
)

# Short confirmations shown after a redirect (``?notice=<key>``); only these keys are shown.
NOTICES: dict[str, str] = {
    "welcome": N_("Welcome to Courtyard."),
    "logged_out": N_("You have logged out."),
    "profile_saved": N_("Your profile is saved."),
    "avatar_saved": N_("Your avatar is updated."),
    "session_revoked": N_("The session is signed out."),
    "password_changed": N_("Your password is changed. Your other sessions were signed out."),
    "two_factor_disabled": N_("Two-factor authentication is off."),
    "request_sent": N_("Friend request sent."),
    "now_friends": N_("They had already sent you a request, so you are now friends."),
    "request_accepted": N_("Request accepted. You are now friends."),
    "request_declined": N_("Request declined."),
    "request_ignored": N_("Request ignored."),
    "request_cancelled": N_("Request cancelled."),
    "friend_updated": N_("Saved."),
    "friend_removed": N_("Removed from your friends."),
    "blocked": N_("Blocked. They can no longer send you requests or messages."),
    "unblocked": N_("Unblocked."),
    "label_created": N_("Label created."),
    "label_renamed": N_("Label renamed."),
    "label_deleted": N_("Label deleted."),
}


class LoginRequired(Exception):
    """A page needs a logged-in account; the handler redirects to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfFailed(Exception):
    """A form's CSRF token does not match; the handler answers with a 403 page."""


class BadForm(Exception):
    """The body is not a form we can read (or holds a value no database stores): a 400 page."""


@dataclass(frozen=True, slots=True)
class PageError:
    """A domain error as a page shows it: a translated headline, the detail, the code."""

    code: str
    title: str
    message: str | None = None
    field: str | None = None
    status: int = 400

    def on(self, name: str) -> bool:
        return self.field == name


def safe_next(value: str | None, default: str = "/contacts") -> str:
    """A local path to go to after a form, never another site (``//host`` or ``/\\host``)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ch in value for ch in "\r\n\t") or len(value) > 512:
        return default
    return value


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


@dataclass
class WebContext:
    request: Request
    services: Services
    i18n: I18n
    locale: str
    actor: Actor | None
    csrf_token: str
    form: FormData | None = None
    new_guest_token: bool = False

    @property
    def me(self) -> Actor:
        """The logged-in actor of a member page (the dependencies guarantee there is one)."""
        if self.actor is None:
            raise LoginRequired(self.request.url.path)
        return self.actor

    # -- translation ---------------------------------------------------------------------

    def _(self, message: str, **values: Any) -> str:
        """Translate a literal message (extracted into the catalogs), then fill ``values``."""
        text = self.translate(message)
        return text % values if values else text

    def translate(self, message: str) -> str:
        """Translate a message known only at run time (a service's, or a table's entry)."""
        return self.i18n.gettext(self.locale)(message)

    # -- form values ---------------------------------------------------------------------

    def text(self, name: str, *, strip: bool = False) -> str:
        """A text field of the submitted form ("" when missing); files are not text."""
        value = self.form.get(name) if self.form is not None else None
        if not isinstance(value, str):
            return ""
        return value.strip() if strip else value

    def texts(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [v for v in self.form.getlist(name) if isinstance(v, str)]

    def checked(self, name: str) -> bool:
        return self.text(name) in {"on", "true", "1", "yes"}

    def upload(self, name: str) -> UploadFile | None:
        value = self.form.get(name) if self.form is not None else None
        if isinstance(value, UploadFile) and value.filename:
            return value
        return None

    # -- errors --------------------------------------------------------------------------

    def page_error(self, exc: CourtyardError | ValidationError) -> PageError:
        if isinstance(exc, ValidationError):
            # The same input models as the API; the first problem is shown at its field.
            problems = exc.errors()
            problem = problems[0] if problems else None
            loc = problem["loc"] if problem else ()
            kind = problem["type"] if problem else ""
            limits = (problem.get("ctx") or {}) if problem else {}
            if kind in {"missing", "string_too_short"}:
                detail = self._("This field is required.")
            elif kind == "string_too_long":
                detail = self._(
                    "This is too long: at most %(n)s characters.", n=limits.get("max_length")
                )
            else:
                detail = self._("Check this field.")
            return PageError(
                code="invalid_input",
                title=self.translate(ERROR_TITLES["invalid_input"]),
                message=detail,
                field=str(loc[0]) if loc else None,
                status=422,
            )
        title_msgid = ERROR_TITLES.get(exc.code)
        detail = self.translate(exc.message)
        title = self.translate(title_msgid) if title_msgid else detail
        message: str | None = detail
        if isinstance(exc, RateLimited):
            message = self._("Try again in %(seconds)s seconds.", seconds=exc.retry_after_seconds)
        if message == title:
            message = None
        field_name = exc.details.get("field")
        return PageError(
            code=exc.code,
            title=title,
            message=message,
            field=field_name if isinstance(field_name, str) else None,
            status=exc.http_status,
        )

    # -- responses -----------------------------------------------------------------------

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        env = self.i18n.environment(self.locale)
        notice_key = self.request.query_params.get("notice", "")
        notice = self.translate(NOTICES[notice_key]) if notice_key in NOTICES else None
        context: dict[str, Any] = {
            "actor": self.actor,
            "account": self.actor.account if self.actor else None,
            "csrf_token": self.csrf_token,
            "current_path": self.request.url.path,
            "return_to": self._return_to(),
            "notice": notice,
            "error": None,
        }
        context.update(values)
        html = env.get_template(template).render(context)
        response = HTMLResponse(html, status_code=status)
        self.finish(response)
        return response

    def _return_to(self) -> str:
        """Where the language switcher comes back to: this page, or for a page that answers a
        POST, the page the form was on (a GET to the form's action could be a 405)."""
        url = self.request.url
        if self.request.method != "GET":
            referer = urlsplit(self.request.headers.get("referer", ""))
            if referer.netloc != url.netloc:
                return "/"
            path, query = referer.path or "/", referer.query
        else:
            path, query = url.path, url.query
        kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "notice"]
        return safe_next(path + ("?" + urlencode(kept) if kept else ""), "/")

    def redirect(self, url: str, *, notice: str | None = None) -> Response:
        if notice is not None:
            url += ("&" if "?" in url else "?") + urlencode({"notice": notice})
        response: Response
        if is_htmx(self.request):
            # htmx follows a 303 inside the XHR and would swap a whole page into a fragment.
            response = Response(status_code=200, headers={"HX-Redirect": url})
        else:
            response = RedirectResponse(url, status_code=303)
        self.finish(response)
        return response

    def finish(self, response: Response) -> None:
        secure = self.services.settings.secure_cookies
        if self.new_guest_token:
            response.set_cookie(
                GUEST_CSRF_COOKIE, self.csrf_token, httponly=True, secure=secure, samesite="lax"
            )
        add_page_headers(response)


def htmx_error(ctx: WebContext, error: PageError) -> HTMLResponse:
    """A failed htmx action: the error goes to the page's message area, not into the target."""
    response = ctx.render("_flash.html", status=error.status, error=error)
    response.headers["HX-Retarget"] = "#flash"
    response.headers["HX-Reswap"] = "innerHTML"
    return response


def add_page_headers(response: Response) -> None:
    """Pages carry CSRF tokens and sometimes secrets: never cache them, never frame them."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    )


# ---- building the context --------------------------------------------------------------------


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _i18n(request: Request) -> I18n:
    i18n: I18n = request.app.state.web_i18n
    return i18n


async def _actor(request: Request, services: Services) -> Actor | None:
    cached: Actor | None = getattr(request.state, "web_actor", None)
    if cached is not None:
        return cached
    token = request.cookies.get(SESSION_COOKIE, "").strip()
    if not token or len(token) > 512:
        return None
    actor = await services.accounts.authenticate(token)
    request.state.web_actor = actor
    return actor


def _guest_token(request: Request) -> tuple[str, bool]:
    existing = request.cookies.get(GUEST_CSRF_COOKIE, "")
    if 20 <= len(existing) <= 128 and existing.replace("-", "").replace("_", "").isalnum():
        return existing, False
    return secrets.token_urlsafe(24), True


async def build_context(request: Request) -> WebContext:
    services = _services(request)
    actor = await _actor(request, services)
    locale = choose_locale(
        cookie=request.cookies.get(LANG_COOKIE),
        account_locale=actor.account.locale if actor else None,
        accept_language=request.headers.get("accept-language"),
    )
    if actor is not None:
        token, new = actor.csrf_token, False
    else:
        token, new = _guest_token(request)
    return WebContext(
        request=request,
        services=services,
        i18n=_i18n(request),
        locale=locale,
        actor=actor,
        csrf_token=token,
        new_guest_token=new,
    )


async def read_form(request: Request) -> FormData:
    """The submitted form, with limits; text containing NUL is refused (no database stores it)."""
    try:
        form = await request.form(max_fields=MAX_FORM_FIELDS, max_files=4)
    except StarletteHTTPException as exc:
        raise BadForm from exc
    for value in form.values():
        if isinstance(value, str) and ("\x00" in value or len(value) > MAX_FIELD_LENGTH):
            await form.close()
            raise BadForm
    return form


def _tokens_match(sent: str, expected: str) -> bool:
    return bool(sent) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


# FastAPI dependencies: ``Depends(page)``, ``Depends(member_page)``, ``Depends(member_form)``,
# ``Depends(guest_form)``.


async def page(request: Request) -> WebContext:
    return await build_context(request)


async def member_page(request: Request) -> WebContext:
    ctx = await build_context(request)
    if ctx.actor is None:
        raise LoginRequired(request.url.path)
    return ctx


async def member_form(request: Request) -> AsyncIterator[WebContext]:
    """A logged-in POST: the form must carry the session's CSRF token (field or header)."""
    ctx = await build_context(request)
    if ctx.actor is None:
        raise LoginRequired("/contacts")
    form = ctx.form = await read_form(request)
    try:
        sent = ctx.text(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
        if not _tokens_match(sent, ctx.actor.csrf_token):
            raise CsrfFailed
        yield ctx
    finally:
        await form.close()  # uploaded files are spooled to temporary files


async def guest_form(request: Request) -> AsyncIterator[WebContext]:
    """A logged-out POST: the double-submit cookie and the form field must agree."""
    ctx = await build_context(request)
    form = ctx.form = await read_form(request)
    try:
        cookie = request.cookies.get(GUEST_CSRF_COOKIE, "")
        if not _tokens_match(ctx.text(CSRF_FIELD), cookie):
            raise CsrfFailed
        ctx.csrf_token, ctx.new_guest_token = cookie, False
        yield ctx
    finally:
        await form.close()


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(safe_next(next_path), safe="/")

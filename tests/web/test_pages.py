"""Account pages through their forms, as a browser submits them: register, log in, log out,
CSRF, inline errors, and no 500 on bad input."""

from __future__ import annotations

import gc
import io

import pyotp
import pytest
from PIL import Image

from courtyard.core.clock import FakeClock
from tests.conftest import PASSWORD
from tests.web.conftest import BrowserFactory, csrf_of


async def test_landing_page_links_to_register_and_login(browser: BrowserFactory) -> None:
    page = await browser().page("/")
    assert '<html lang="en">' in page
    assert 'href="/register"' in page
    assert 'href="/login"' in page


async def test_static_files_and_htmx_are_served(browser: BrowserFactory) -> None:
    b = browser()
    css = await b.get("/static/courtyard.css")
    assert css.status_code == 200
    assert "--green" in css.text
    htmx = await b.get("/static/htmx.min.js")
    assert htmx.status_code == 200
    assert "htmx" in htmx.text[:200]


async def test_register_logout_login_through_the_forms(browser: BrowserFactory) -> None:
    b = browser()
    response = await b.register("alice", "Alice Liddell")
    assert response.headers["location"] == "/contacts?notice=welcome"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("cy_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()

    home = await b.get("/")
    assert (home.status_code, home.headers["location"]) == (303, "/contacts")
    contacts = await b.page("/contacts?notice=welcome")
    assert "Welcome to Courtyard." in contacts
    assert "No friends yet." in contacts

    out = await b.submit("/contacts", "/logout")
    assert (out.status_code, out.headers["location"]) == (303, "/?notice=logged_out")
    again = await b.get("/contacts")
    assert again.status_code == 303
    assert again.headers["location"] == "/login?next=/contacts"

    login = await b.submit("/login", "/login", {"handle": "Alice", "password": PASSWORD})
    assert (login.status_code, login.headers["location"]) == (303, "/contacts")
    assert "Alice Liddell" in await b.page("/settings/profile")


async def test_login_returns_to_the_page_asked_for_but_never_to_another_site(
    browser: BrowserFactory,
) -> None:
    b = browser()
    await b.register("bruno")
    await b.submit("/contacts", "/logout")
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        page = await b.page(f"/login?next={evil}")
        assert 'name="next" value="/contacts"' in page
        lang = await b.get(f"/lang/en?next={evil}")
        assert lang.headers["location"] == "/"
    page = await b.page("/login?next=/settings/security")
    assert 'name="next" value="/settings/security"' in page
    login = await b.submit(
        "/login", "/login", {"handle": "bruno", "password": PASSWORD, "next": "/settings/security"}
    )
    assert login.headers["location"] == "/settings/security"
    already = await b.get("/login?next=//evil.example/")
    assert already.headers["location"] == "/contacts"


async def test_wrong_password_is_shown_inline(browser: BrowserFactory) -> None:
    b = browser()
    await b.register("carla")
    await b.submit("/contacts", "/logout")
    response = await b.submit(
        "/login", "/login", {"handle": "carla", "password": "not the right one at all"}
    )
    assert response.status_code == 401
    assert "The handle or password is not correct." in response.text
    assert "invalid_credentials" in response.text
    assert 'value="carla"' in response.text  # the handle is kept, the password is not


# ---- CSRF ------------------------------------------------------------------------------------


async def test_logged_out_form_without_matching_double_submit_token_is_403(
    browser: BrowserFactory,
) -> None:
    b = browser()
    await b.page("/register")  # sets the cy_csrf cookie
    data = {"handle": "dora", "password": PASSWORD, "accept_terms": "on"}
    wrong = await b.http.post("/register", data={**data, "csrf_token": "x" * 32})
    assert wrong.status_code == 403
    assert "csrf_failed" in wrong.text
    missing = await b.http.post("/register", data=data)
    assert missing.status_code == 403

    stranger = browser()  # no cookie at all, as a cross-site form post would arrive
    forged = await stranger.http.post("/login", data={"handle": "dora", "password": PASSWORD})
    assert forged.status_code == 403
    # Nothing was registered by the refused posts.
    ok = await b.register("dora")
    assert ok.status_code == 303


async def test_logged_in_form_with_wrong_csrf_token_is_403_and_changes_nothing(
    browser: BrowserFactory,
) -> None:
    b = browser()
    await b.register("emil", "Emil")
    wrong = await b.http.post(
        "/settings/profile", data={"csrf_token": "not-the-token", "display_name": "Mallory"}
    )
    assert wrong.status_code == 403
    assert "csrf_failed" in wrong.text
    no_token = await b.http.post("/settings/profile", data={"display_name": "Mallory"})
    assert no_token.status_code == 403
    logout = await b.http.post("/logout", data={})
    assert logout.status_code == 403
    page = await b.page("/settings/profile")
    assert "Mallory" not in page
    assert 'value="Emil"' in page


async def test_htmx_requests_may_send_the_token_as_a_header(browser: BrowserFactory) -> None:
    b = browser()
    await b.register("fiona")
    page = await b.page("/contacts")
    token = csrf_of(page)
    assert f'"X-CSRF-Token": "{token}"' in page.replace("&#34;", '"')
    response = await b.http.post(
        "/contacts/labels",
        data={"name": "Family"},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert response.status_code == 200
    assert "Family" in response.text
    assert "<html" not in response.text  # a fragment, not a page


# ---- inline errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "Use at least 10 characters."),
        ("password123", "This password is in lists of commonly used and leaked passwords."),
    ],
)
async def test_weak_password_shows_its_reason_inline(
    browser: BrowserFactory, password: str, reason: str
) -> None:
    response = await browser().submit(
        "/register",
        "/register",
        {"handle": "gus", "password": password, "accept_terms": "on"},
    )
    assert response.status_code == 422
    text = response.text
    assert "weak_password" in text
    assert "Choose a stronger password." in text
    assert reason in text
    assert 'id="f-password-error"' in text  # next to the password field
    assert 'aria-invalid="true"' in text
    assert 'value="gus"' in text


async def test_duplicate_handle_is_shown_inline(browser: BrowserFactory) -> None:
    await browser().register("hana")
    response = await browser(ip="203.0.113.51").submit(
        "/register",
        "/register",
        {"handle": "HANA", "password": PASSWORD, "accept_terms": "on"},
    )
    assert response.status_code == 409
    assert "handle_taken" in response.text
    assert "This handle is already taken." in response.text
    assert 'id="f-handle-error"' in response.text


@pytest.mark.parametrize(
    ("data", "code", "status"),
    [
        ({"handle": "9lives", "accept_terms": "on"}, "invalid_handle", 422),
        ({"handle": "admin", "accept_terms": "on"}, "invalid_handle", 422),
        ({"handle": "ivan"}, "terms_not_accepted", 422),
        ({"handle": "", "accept_terms": "on"}, "invalid_input", 422),
    ],
)
async def test_registration_errors_are_inline_with_their_code(
    browser: BrowserFactory, data: dict[str, str], code: str, status: int
) -> None:
    response = await browser().submit("/register", "/register", {"password": PASSWORD, **data})
    assert response.status_code == status
    assert code in response.text
    assert 'role="alert"' in response.text


# ---- access --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/contacts",
        "/contacts/requests",
        "/contacts/add",
        "/contacts/blocked",
        "/settings/profile",
        "/settings/sessions",
        "/settings/security",
    ],
)
async def test_logged_out_member_pages_redirect_to_login(
    browser: BrowserFactory, path: str
) -> None:
    response = await browser().get(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path}"


async def test_a_revoked_session_cookie_sends_you_to_login(browser: BrowserFactory) -> None:
    b = browser()
    await b.register("jonas")
    b.http.cookies.clear()
    b.http.cookies.set("cy_session", "forged-or-expired-token")
    response = await b.get("/contacts")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


async def test_unknown_page_is_an_html_404_and_the_api_keeps_json(
    browser: BrowserFactory,
) -> None:
    b = browser()
    page = await b.get("/no/such/page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    api = await b.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/json")


async def test_pages_send_protective_headers(browser: BrowserFactory) -> None:
    response = await browser().get("/login")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


# ---- bad input never 500s ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("/register", {"handle": "x" * 5000, "password": "p" * 5000, "accept_terms": "on"}),
        ("/register", {"handle": "nul\x00byte", "password": PASSWORD, "accept_terms": "on"}),
        ("/register", {"handle": "kim", "display_name": "d" * 500, "password": PASSWORD}),
        ("/login", {"handle": "", "password": ""}),
        ("/login", {"handle": "💥" * 40, "password": "x"}),
        ("/login/two-factor", {"ticket": "garbage", "code": "123456"}),
        ("/login/two-factor", {}),
    ],
)
async def test_logged_out_forms_never_500(
    browser: BrowserFactory, action: str, data: dict[str, str]
) -> None:
    response = await browser().submit("/login", action, data)
    assert response.status_code < 500, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("/settings/profile", {"display_name": "", "bio": "b" * 1000, "locale": "xx"}),
        ("/settings/profile", {"display_name": "ok\x00"}),
        ("/settings/profile", {"locale": "klingon"}),
        ("/settings/profile/avatar", {}),
        ("/settings/sessions/not-an-id/revoke", {}),
        ("/settings/sessions/01ARZ3NDEKTSV4RRFFQ69G5FAV/revoke", {}),
        ("/settings/security/password", {"current_password": "", "new_password": ""}),
        ("/settings/security/password", {"current_password": "wrong one", "new_password": "x"}),
        ("/settings/security/two-factor/enable", {"code": "000000"}),
        ("/settings/security/two-factor/disable", {"password": "nope", "code": "1"}),
        ("/contacts/labels", {"name": ""}),
        ("/contacts/labels", {"name": "l" * 500}),
        ("/contacts/labels/../../etc/rename", {"name": "x"}),
        ("/contacts/labels/01ARZ3NDEKTSV4RRFFQ69G5FAV/rename", {"name": "x"}),
        ("/contacts/labels/nope/delete", {}),
        ("/contacts/friends/nope", {"remark": "r", "label_ids": "zzz"}),
        ("/contacts/friends/01ARZ3NDEKTSV4RRFFQ69G5FAV", {"remark": "r" * 500}),
        ("/contacts/friends/01ARZ3NDEKTSV4RRFFQ69G5FAV/remove", {}),
        ("/contacts/blocked", {"account_id": "bogus"}),
        ("/contacts/blocked", {}),
        ("/contacts/blocked/01ARZ3NDEKTSV4RRFFQ69G5FAV/unblock", {}),
        ("/contacts/requests/bogus/accept", {"label_ids": "nope"}),
        ("/contacts/requests/01ARZ3NDEKTSV4RRFFQ69G5FAV/decline", {}),
        ("/contacts/requests/01ARZ3NDEKTSV4RRFFQ69G5FAV/ignore", {}),
        ("/contacts/requests/01ARZ3NDEKTSV4RRFFQ69G5FAV/cancel", {}),
        ("/contacts/add", {}),
        ("/contacts/add", {"handle": "nobody_here", "message": "hi"}),
        ("/contacts/add", {"handle": "lena", "message": "m" * 5000}),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
async def test_member_forms_never_500(
    browser: BrowserFactory, action: str, data: dict[str, str], htmx: bool
) -> None:
    b = browser()
    await b.register("lena")
    response = await b.submit("/contacts", action, data, htmx=htmx)
    assert response.status_code < 500, response.text[:500]


@pytest.mark.parametrize(
    "path",
    [
        "/contacts?label=nope",
        "/contacts?cursor=%%%",
        "/contacts?cursor=WyJ4Il0",
        "/contacts/requests?in=!!&out=zz",
        "/contacts/add?handle=" + "x" * 300,
        "/contacts/add?handle=nobody_at_all",
        "/contacts/add?handle=%00",
        "/contacts/add?handle=bob%00",
        "/contacts?cursor=WyJcdTAwMDAiXQ",
        "/contacts/requests?in=WyJcdTAwMDAiXQ&out=WyJcdTAwMDAiXQ",
    ],
)
async def test_member_pages_never_500_on_odd_query_strings(
    browser: BrowserFactory, path: str
) -> None:
    b = browser()
    await b.register("milo")
    response = await b.get(path)
    assert response.status_code < 500, response.text[:500]


async def test_unreadable_bodies_are_a_400_page(browser: BrowserFactory) -> None:
    b = browser()
    await b.page("/register")
    response = await b.http.post(
        "/register",
        content=b"--boundary\r\nnonsense",
        headers={"content-type": "multipart/form-data; boundary=boundary"},
    )
    assert response.status_code in {400, 403}
    assert response.headers["content-type"].startswith("text/html")


async def test_files_posted_to_any_form_are_closed(browser: BrowserFactory) -> None:
    """Uploads are spooled to temporary files; one left open is a ResourceWarning (an error)."""
    b = browser()
    await b.register("rosa")
    token = csrf_of(await b.page("/contacts"))
    for data in ({"csrf_token": token, "name": "x"}, {"csrf_token": "wrong"}):
        response = await b.http.post(
            "/contacts/labels", data=data, files={"f": ("big.bin", b"x" * 2_000_000)}
        )
        assert response.status_code < 500
    gc.collect()


# ---- settings --------------------------------------------------------------------------------


async def test_profile_and_avatar(browser: BrowserFactory) -> None:
    b = browser()
    await b.register("nina", "Nina")
    saved = await b.submit(
        "/settings/profile",
        "/settings/profile",
        {"display_name": "Nina S.", "bio": "Hello there", "locale": ""},
    )
    assert (saved.status_code, saved.headers["location"]) == (
        303,
        "/settings/profile?notice=profile_saved",
    )
    page = await b.page("/settings/profile")
    assert 'value="Nina S."' in page
    assert "Hello there" in page

    image = io.BytesIO()
    Image.new("RGB", (64, 40), (10, 200, 90)).save(image, format="PNG")
    uploaded = await b.submit(
        "/settings/profile",
        "/settings/profile/avatar",
        files={"avatar": ("me.png", image.getvalue(), "image/png")},
    )
    assert uploaded.status_code == 303
    page = await b.page("/settings/profile")
    src = page.split('<img class="avatar large" src="')[1].split('"')[0]
    assert src.startswith("/api/v1/accounts/")
    avatar = await b.get(src.replace("&amp;", "&"))  # the page's cookie is enough for <img>
    assert avatar.status_code == 200
    assert avatar.headers["content-type"] == "image/png"

    bad = await b.submit(
        "/settings/profile",
        "/settings/profile/avatar",
        files={"avatar": ("me.png", b"not an image", "image/png")},
    )
    assert bad.status_code == 422
    assert "The file is not an image we can read." in bad.text
    assert 'id="f-avatar-error"' in bad.text


async def test_sessions_list_and_revoke(browser: BrowserFactory) -> None:
    first, second = browser(), browser(ip="198.51.100.7")
    await first.register("olga")
    await second.submit("/login", "/login", {"handle": "olga", "password": PASSWORD})
    page = await first.page("/settings/sessions")
    assert page.count("/revoke") == 2
    assert "198.51.100.7" in page
    # Revoke whichever of the two is not the current one.
    marker = page.index("This session")
    ids = [part.split("/revoke")[0] for part in page.split("/settings/sessions/")[1:]]
    current_id = next(i for i in ids if page.index(i) > marker)
    other_id = next(i for i in ids if i != current_id)
    revoked = await first.submit("/settings/sessions", f"/settings/sessions/{other_id}/revoke")
    assert revoked.headers["location"] == "/settings/sessions?notice=session_revoked"
    assert (await second.get("/contacts")).status_code == 303
    assert (await first.get("/contacts")).status_code == 200


async def test_change_password_errors_inline_then_succeeds(browser: BrowserFactory) -> None:
    b = browser()
    await b.register("pavel")
    wrong = await b.submit(
        "/settings/security",
        "/settings/security/password",
        {"current_password": "not it at all", "new_password": "another long passphrase here"},
    )
    assert wrong.status_code == 401
    assert "The current password is not correct." in wrong.text
    weak = await b.submit(
        "/settings/security",
        "/settings/security/password",
        {"current_password": PASSWORD, "new_password": "short"},
    )
    assert weak.status_code == 422
    assert "weak_password" in weak.text
    assert 'id="f-new_password-error"' in weak.text
    ok = await b.submit(
        "/settings/security",
        "/settings/security/password",
        {"current_password": PASSWORD, "new_password": "another long passphrase here"},
    )
    assert ok.headers["location"] == "/settings/security?notice=password_changed"


async def test_two_factor_setup_enable_login_and_disable(
    browser: BrowserFactory, clock: FakeClock
) -> None:
    b = browser()
    await b.register("quinn")
    setup = await b.submit("/settings/security", "/settings/security/two-factor/setup")
    assert setup.status_code == 200
    secret = setup.text.split('name="secret" value="')[1].split('"')[0]
    assert "otpauth://totp/" in setup.text

    token = csrf_of(setup.text)
    wrong = await b.http.post(
        "/settings/security/two-factor/enable",
        data={"csrf_token": token, "code": "000000", "secret": secret, "otpauth_uri": "x"},
    )
    assert wrong.status_code == 401
    assert "two_factor_invalid" in wrong.text
    assert secret in wrong.text  # still shown, so the user can try again

    code = pyotp.TOTP(secret).at(clock.now())
    enabled = await b.http.post(
        "/settings/security/two-factor/enable", data={"csrf_token": token, "code": code}
    )
    assert enabled.status_code == 200
    recovery = enabled.text.split('<ul class="codes">')[1].split("</ul>")[0]
    codes = [part.split("</code>")[0] for part in recovery.split("<code>")[1:]]
    assert len(codes) == 10
    assert codes[0] not in await b.page("/settings/security")  # shown once only

    await b.submit("/contacts", "/logout")
    step = await b.submit("/login", "/login", {"handle": "quinn", "password": PASSWORD})
    assert step.status_code == 200
    assert 'name="ticket"' in step.text
    ticket = step.text.split('name="ticket" value="')[1].split('"')[0]
    token = csrf_of(step.text)
    bad = await b.http.post(
        "/login/two-factor", data={"csrf_token": token, "ticket": ticket, "code": "111111"}
    )
    assert bad.status_code == 401
    assert 'name="ticket"' in bad.text
    done = await b.http.post(
        "/login/two-factor",
        data={"csrf_token": token, "ticket": ticket, "code": codes[0], "next": "/contacts"},
    )
    assert (done.status_code, done.headers["location"]) == (303, "/contacts")

    clock.advance(seconds=60)
    fresh = await b.submit(
        "/settings/security",
        "/settings/security/two-factor/recovery-codes",
        {"code": pyotp.TOTP(secret).at(clock.now())},
    )
    assert fresh.status_code == 200
    listed = fresh.text.split('<ul class="codes">')[1].split("</ul>")[0]
    new_codes = [part.split("</code>")[0] for part in listed.split("<code>")[1:]]
    assert len(new_codes) == 10
    assert not set(new_codes) & set(codes)  # the old set no longer counts

    clock.advance(seconds=60)
    off = await b.submit(
        "/settings/security",
        "/settings/security/two-factor/disable",
        {"password": PASSWORD, "code": pyotp.TOTP(secret).at(clock.now())},
    )
    assert off.headers["location"] == "/settings/security?notice=two_factor_disabled"
    assert "Set up two-factor authentication" in await b.page("/settings/security")

"""Sessions: bearer tokens, listing and revoking, logout, expiry, CSRF on cookie sessions."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from courtyard.client import ApiError, CourtyardClient
from courtyard.container import Services
from courtyard.core.clock import FakeClock
from tests.accounts._helpers import assert_error, raw
from tests.conftest import PASSWORD, ClientFactory, UserFactory


async def test_bearer_token_authenticates_and_garbage_does_not(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    alice = await make_user("alice")
    assert (await alice.me())["handle"] == "alice"
    stranger = make_client()
    assert_error(await raw(stranger, "GET", "/api/v1/me"), 401, "unauthenticated")
    stranger.token = "not-a-real-token"
    assert_error(await raw(stranger, "GET", "/api/v1/me"), 401, "unauthenticated")
    stranger.token = alice.token + "x"  # type: ignore[operator]
    assert_error(await raw(stranger, "GET", "/api/v1/me"), 401, "unauthenticated")


async def test_session_list_marks_the_current_one(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    phone = await make_user("bob")
    laptop = make_client(ip="192.0.2.7")
    await laptop.login("bob", PASSWORD)

    from_phone = await phone.sessions()
    from_laptop = await laptop.sessions()
    assert len(from_phone) == len(from_laptop) == 2
    assert [s["current"] for s in from_phone].count(True) == 1
    current_phone = next(s for s in from_phone if s["current"])
    current_laptop = next(s for s in from_laptop if s["current"])
    assert current_phone["id"] != current_laptop["id"]
    assert current_laptop["ip_address"] == "192.0.2.7"
    for session in from_phone:
        assert "token" not in session  # a token is shown once, at creation


async def test_revoking_another_session_stops_its_token(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    phone = await make_user("carol")
    laptop = make_client()
    await laptop.login("carol", PASSWORD)
    laptop_id = next(s["id"] for s in await laptop.sessions() if s["current"])

    await phone.revoke_session(laptop_id)

    assert_error(await raw(laptop, "GET", "/api/v1/me"), 401, "unauthenticated")
    assert (await phone.me())["handle"] == "carol"
    assert [s["id"] for s in await phone.sessions()] != [laptop_id]
    assert len(await phone.sessions()) == 1
    # Revoking it again, or a session id that does not exist, is a 404.
    with pytest.raises(ApiError) as err:
        await phone.revoke_session(laptop_id)
    assert err.value.status == 404
    with pytest.raises(ApiError) as err:
        await phone.revoke_session("not-an-id")
    assert err.value.status == 404


async def test_cannot_revoke_someone_elses_session(
    make_user: UserFactory,
) -> None:
    dave = await make_user("dave")
    erin = await make_user("erin")
    erin_session = (await erin.sessions())[0]["id"]
    with pytest.raises(ApiError) as err:
        await dave.revoke_session(erin_session)
    assert err.value.status == 404
    assert (await erin.me())["handle"] == "erin"


async def test_logout_ends_only_this_session(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    phone = await make_user("frank")
    laptop = make_client()
    await laptop.login("frank", PASSWORD)
    token = laptop.token
    await laptop.logout()
    laptop.token = token
    assert_error(await raw(laptop, "GET", "/api/v1/me"), 401, "unauthenticated")
    assert (await phone.me())["handle"] == "frank"


async def test_sessions_expire_after_the_configured_lifetime(
    make_user: UserFactory, services: Services, clock: FakeClock
) -> None:
    grace = await make_user("grace")
    ttl = services.settings.session_ttl_days
    clock.advance(days=ttl, seconds=-60)
    assert (await grace.me())["handle"] == "grace"
    listed = await grace.sessions()
    assert len(listed) == 1
    clock.advance(seconds=61)
    assert_error(await raw(grace, "GET", "/api/v1/me"), 401, "unauthenticated")
    # and a fresh login works
    await grace.login("grace", PASSWORD)
    assert (await grace.me())["handle"] == "grace"


async def test_last_seen_is_updated_as_the_session_is_used(
    make_user: UserFactory, clock: FakeClock
) -> None:
    henry = await make_user("henry")
    before = (await henry.sessions())[0]["last_seen_at"]
    clock.advance(hours=1)
    after = (await henry.sessions())[0]["last_seen_at"]
    assert after > before


async def test_password_change_revokes_other_sessions_and_keeps_this_one(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    phone = await make_user("ivy")
    laptop = make_client()
    await laptop.login("ivy", PASSWORD)
    new_password = "a completely different passphrase 9"

    await phone.change_password(PASSWORD, new_password)

    assert (await phone.me())["handle"] == "ivy"
    assert_error(await raw(laptop, "GET", "/api/v1/me"), 401, "unauthenticated")
    with pytest.raises(ApiError) as err:
        await make_client().login("ivy", PASSWORD)
    assert err.value.code == "invalid_credentials"
    await make_client().login("ivy", new_password)


async def test_password_change_needs_the_current_password_and_a_strong_new_one(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    jack = await make_user("jack")
    with pytest.raises(ApiError) as err:
        await jack.change_password("wrong current password", "another good passphrase 1")
    assert (err.value.status, err.value.code) == (401, "invalid_credentials")
    with pytest.raises(ApiError) as err:
        await jack.change_password(PASSWORD, "password1")
    assert (err.value.status, err.value.code) == (422, "weak_password")
    assert err.value.details["field"] == "new_password"
    # Neither attempt changed anything.
    await make_client().login("jack", PASSWORD)


def cookie_client(app: FastAPI, token: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.50", 50000))
    client = httpx.AsyncClient(base_url="http://testserver", transport=transport)
    client.cookies.set("cy_session", token)
    return client


async def test_cookie_session_reads_without_csrf_but_writes_need_it(
    app: FastAPI, make_client: ClientFactory
) -> None:
    kim = make_client()
    result = await kim.register("kim", PASSWORD)
    token, csrf = result["session"]["token"], result["session"]["csrf_token"]

    async with cookie_client(app, token) as browser:
        me = await browser.get("/api/v1/me")
        assert me.status_code == 200
        assert me.json()["handle"] == "kim"

        refused = await browser.patch("/api/v1/me", json={"bio": "hello"})
        assert_error(refused, 403, "csrf_failed")
        wrong = await browser.patch(
            "/api/v1/me", json={"bio": "hello"}, headers={"X-CSRF-Token": csrf + "x"}
        )
        assert_error(wrong, 403, "csrf_failed")
        assert (await kim.me())["bio"] == ""

        accepted = await browser.patch(
            "/api/v1/me", json={"bio": "hello"}, headers={"X-CSRF-Token": csrf}
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["bio"] == "hello"

        # Logging out through the cookie is a write too.
        assert_error(await browser.delete("/api/v1/sessions/current"), 403, "csrf_failed")
        out = await browser.delete("/api/v1/sessions/current", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        assert_error(await browser.get("/api/v1/me"), 401, "unauthenticated")


async def test_csrf_token_of_another_session_is_refused(
    app: FastAPI, make_client: ClientFactory
) -> None:
    one = await make_client().register("lena", PASSWORD)
    other = await make_client().login("lena", PASSWORD)
    async with cookie_client(app, one["session"]["token"]) as browser:
        response = await browser.patch(
            "/api/v1/me",
            json={"bio": "x"},
            headers={"X-CSRF-Token": other["session"]["csrf_token"]},
        )
        assert_error(response, 403, "csrf_failed")


async def test_bearer_requests_need_no_csrf_token(make_user: UserFactory) -> None:
    mona = await make_user("mona")
    updated = await mona.update_profile(bio="via bearer")
    assert updated["bio"] == "via bearer"


async def test_login_returns_a_device_token_and_the_account(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    await make_user("nick")
    client: CourtyardClient = make_client()
    result = await client.login("nick", PASSWORD)
    assert result["account"]["handle"] == "nick"
    assert result["session"]["token"]
    assert result["device_token"]
    assert client.device_token == result["device_token"]

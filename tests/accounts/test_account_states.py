"""What an account can still do in each state of the enforcement ladder, through the API."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest

from courtyard.client import ApiError
from courtyard.container import Services
from courtyard.core.clock import FakeClock
from courtyard.governance.model import AccountState
from tests.accounts._helpers import assert_error, raw, set_state
from tests.conftest import PASSWORD, ClientFactory, UserFactory


def account_id(client: object) -> str:
    return str(client.account["id"])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "state", [AccountState.LIMITED, AccountState.SUSPENDED, AccountState.TERMINATED]
)
async def test_restricted_accounts_cannot_edit_their_profile(
    make_user: UserFactory, services: Services, state: AccountState
) -> None:
    alice = await make_user("alice", display_name="Alice")
    await set_state(services, account_id(alice), state)
    response = await raw(alice, "PATCH", "/api/v1/me", json={"display_name": "Changed"})
    error = assert_error(response, 403, "capability_denied")
    assert error["details"] == {"capability": "edit_profile", "account_state": state.value}
    assert state.value in error["message"]
    assert (await alice.me())["display_name"] == "Alice"
    avatar = await raw(
        alice, "PUT", "/api/v1/me/avatar", files={"image": ("a.png", _png(), "image/png")}
    )
    assert_error(avatar, 403, "capability_denied")


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 40), (9, 9, 9)).save(out, format="PNG")
    return out.getvalue()


async def test_limited_account_can_log_in_read_and_manage_security(
    make_user: UserFactory, make_client: ClientFactory, services: Services, clock: FakeClock
) -> None:
    bob = await make_user("bob")
    await set_state(services, account_id(bob), AccountState.LIMITED)

    laptop = make_client()
    result = await laptop.login("bob", PASSWORD)
    assert result["account"]["state"] == "limited"
    assert (await laptop.me())["state"] == "limited"
    assert len(await laptop.sessions()) == 2

    new_password = "limited but still mine 2026"
    await laptop.change_password(PASSWORD, new_password)
    setup = await laptop.two_factor_setup()
    codes = await laptop.two_factor_enable(pyotp.TOTP(setup["secret"]).at(clock.now()))
    assert len(codes) == 10
    challenge = await laptop.start_verification("phone", "+1 555 0199")
    assert challenge["development_code"]
    await laptop.logout()


async def test_suspended_and_terminated_accounts_can_still_log_in(
    make_user: UserFactory, make_client: ClientFactory, services: Services
) -> None:
    cara = await make_user("cara")
    dan = await make_user("dan")
    await set_state(services, account_id(cara), AccountState.SUSPENDED)
    await set_state(services, account_id(dan), AccountState.TERMINATED)
    assert (await make_client().login("cara", PASSWORD))["account"]["state"] == "suspended"
    assert (await make_client().login("dan", PASSWORD))["account"]["state"] == "terminated"
    # The session they already had keeps working for what they may still do.
    assert (await cara.me())["state"] == "suspended"
    assert (await dan.terms())[0]["version"]


async def test_deleted_account_cannot_log_in_and_its_sessions_stop(
    make_user: UserFactory, make_client: ClientFactory, services: Services
) -> None:
    eve = await make_user("eve")
    await set_state(services, account_id(eve), AccountState.DELETED)
    assert_error(await raw(eve, "GET", "/api/v1/me"), 401, "unauthenticated")
    with pytest.raises(ApiError) as err:
        await make_client().login("eve", PASSWORD)
    assert (err.value.status, err.value.code) == (401, "account_unavailable")
    # A wrong password gets the ordinary answer, so a deleted account is not confirmed to
    # someone who does not know its password.
    with pytest.raises(ApiError) as err:
        await make_client().login("eve", "not the password at all")
    assert (err.value.status, err.value.code) == (401, "invalid_credentials")


async def test_deleted_account_cannot_finish_a_two_factor_login(
    make_user: UserFactory, make_client: ClientFactory, services: Services, clock: FakeClock
) -> None:
    fay = await make_user("fay")
    setup = await fay.two_factor_setup()
    totp = pyotp.TOTP(setup["secret"])
    await fay.two_factor_enable(totp.at(clock.now()))
    laptop = make_client()
    ticket = (await laptop.login("fay", PASSWORD))["two_factor_ticket"]
    await set_state(services, account_id(fay), AccountState.DELETED)
    clock.advance(seconds=30)
    with pytest.raises(ApiError) as err:
        await laptop.login_two_factor(ticket, totp.at(clock.now()))
    assert err.value.status == 401
    assert laptop.token is None


async def test_a_restriction_with_an_end_lapses_at_that_time(
    make_user: UserFactory, services: Services, clock: FakeClock
) -> None:
    gus = await make_user("gus")
    until = clock.now() + timedelta(days=3)
    await set_state(services, account_id(gus), AccountState.LIMITED, until=until)
    with pytest.raises(ApiError) as err:
        await gus.update_profile(bio="still limited")
    assert err.value.code == "capability_denied"
    assert (await gus.me())["state_until"] is not None

    clock.advance(days=3, seconds=1)
    me = await gus.me()
    assert (me["state"], me["state_until"]) == ("active", None)
    updated = await gus.update_profile(bio="free again")
    assert (updated["bio"], updated["state"]) == ("free again", "active")


async def test_restored_account_can_edit_again(make_user: UserFactory, services: Services) -> None:
    hal = await make_user("hal")
    await set_state(services, account_id(hal), AccountState.SUSPENDED)
    with pytest.raises(ApiError):
        await hal.update_profile(bio="x")
    await set_state(services, account_id(hal), AccountState.ACTIVE)
    assert (await hal.update_profile(bio="back"))["bio"] == "back"

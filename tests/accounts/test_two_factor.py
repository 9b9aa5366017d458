"""Two-factor authentication with TOTP and recovery codes."""

from __future__ import annotations

import pyotp
import pytest

from courtyard.client import ApiError, CourtyardClient
from courtyard.core.clock import FakeClock
from tests.accounts._helpers import assert_error, raw
from tests.conftest import PASSWORD, ClientFactory, UserFactory


def code_at(secret: str, clock: FakeClock) -> str:
    return str(pyotp.TOTP(secret).at(clock.now()))


def wrong_code(secret: str, clock: FakeClock, offset: int = 1) -> str:
    """A well-formed code that is none of those accepted now (previous, current, next step)."""
    totp = pyotp.TOTP(secret)
    now = clock.now().timestamp()
    accepted = {totp.at(now + drift) for drift in (-30, 0, 30)}
    candidate = int(totp.at(now))
    while True:
        candidate = (candidate + offset) % 1_000_000
        if f"{candidate:06d}" not in accepted:
            return f"{candidate:06d}"


async def enable_two_factor(client: CourtyardClient, clock: FakeClock) -> tuple[str, list[str]]:
    setup = await client.two_factor_setup()
    secret = setup["secret"]
    codes = await client.two_factor_enable(code_at(secret, clock))
    return secret, codes


async def test_setup_and_enable_gives_ten_recovery_codes(
    make_user: UserFactory, clock: FakeClock
) -> None:
    alice = await make_user("alice")
    setup = await alice.two_factor_setup()
    assert setup["otpauth_uri"].startswith("otpauth://totp/")
    assert setup["secret"] in setup["otpauth_uri"]
    assert "alice" in setup["otpauth_uri"]
    assert (await alice.me())["two_factor_enabled"] is False  # not until a code is confirmed

    codes = await alice.two_factor_enable(code_at(setup["secret"], clock))
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert (await alice.me())["two_factor_enabled"] is True


async def test_enable_refuses_a_wrong_code_and_needs_setup_first(
    make_user: UserFactory, clock: FakeClock
) -> None:
    bob = await make_user("bob")
    with pytest.raises(ApiError) as err:
        await bob.two_factor_enable("123456")
    assert (err.value.status, err.value.code) == (409, "two_factor_not_started")
    setup = await bob.two_factor_setup()
    wrong = wrong_code(setup["secret"], clock)
    with pytest.raises(ApiError) as err:
        await bob.two_factor_enable(wrong)
    assert (err.value.status, err.value.code) == (401, "two_factor_invalid")
    assert (await bob.me())["two_factor_enabled"] is False


async def test_setup_again_while_enabled_is_a_conflict(
    make_user: UserFactory, clock: FakeClock
) -> None:
    cara = await make_user("cara")
    await enable_two_factor(cara, clock)
    with pytest.raises(ApiError) as err:
        await cara.two_factor_setup()
    assert (err.value.status, err.value.code) == (409, "two_factor_enabled")


async def test_login_then_needs_the_second_step(
    make_user: UserFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    dan = await make_user("dan")
    secret, _codes = await enable_two_factor(dan, clock)
    clock.advance(seconds=30)

    laptop = make_client()
    first = await laptop.login("dan", PASSWORD)
    assert first["two_factor_required"] is True
    assert first["two_factor_ticket"]
    assert first["session"] is None
    assert first["account"] is None
    assert laptop.token is None

    second = await laptop.login_two_factor(first["two_factor_ticket"], code_at(secret, clock))
    assert second["session"]["token"]
    assert second["account"]["handle"] == "dan"
    assert (await laptop.me())["handle"] == "dan"


async def test_wrong_code_is_two_factor_invalid(
    make_user: UserFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    eve = await make_user("eve")
    secret, _ = await enable_two_factor(eve, clock)
    clock.advance(seconds=30)
    laptop = make_client()
    ticket = (await laptop.login("eve", PASSWORD))["two_factor_ticket"]
    for wrong in (wrong_code(secret, clock), "abcdef", "12345", "0000000"):
        response = await raw(
            laptop, "POST", "/api/v1/sessions/two-factor", json={"ticket": ticket, "code": wrong}
        )
        assert_error(response, 401, "two_factor_invalid")
    # The ticket alone is not a session.
    laptop.token = ticket
    assert_error(await raw(laptop, "GET", "/api/v1/me"), 401, "unauthenticated")


async def test_a_forged_ticket_is_refused(
    make_user: UserFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    fay = await make_user("fay")
    secret, _ = await enable_two_factor(fay, clock)
    clock.advance(seconds=30)
    ticket = (await make_client().login("fay", PASSWORD))["two_factor_ticket"]
    body, _, mac = ticket.partition(".")
    for forged in (f"{body}x.{mac}", f"{body}.{mac[:-2]}", "garbage", ""):
        with pytest.raises(ApiError) as err:
            await make_client().login_two_factor(forged, code_at(secret, clock))
        assert err.value.status in {401, 422}


async def test_the_same_code_cannot_be_used_twice(
    make_user: UserFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    gus = await make_user("gus")
    secret, _ = await enable_two_factor(gus, clock)
    enable_code = code_at(secret, clock)
    # The code that switched 2FA on cannot be replayed to log in within the same time step.
    ticket = (await make_client().login("gus", PASSWORD))["two_factor_ticket"]
    with pytest.raises(ApiError) as err:
        await make_client().login_two_factor(ticket, enable_code)
    assert err.value.code == "two_factor_invalid"

    clock.advance(seconds=30)
    code = code_at(secret, clock)
    first = make_client()
    ticket = (await first.login("gus", PASSWORD))["two_factor_ticket"]
    await first.login_two_factor(ticket, code)
    # Someone who watched that code being typed cannot reuse it, even with a fresh ticket.
    second = make_client()
    ticket = (await second.login("gus", PASSWORD))["two_factor_ticket"]
    with pytest.raises(ApiError) as err:
        await second.login_two_factor(ticket, code)
    assert err.value.code == "two_factor_invalid"
    # The next time step's code works.
    clock.advance(seconds=30)
    await second.login_two_factor(ticket, code_at(secret, clock))


async def test_a_recovery_code_works_exactly_once(
    make_user: UserFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    hal = await make_user("hal")
    _secret, codes = await enable_two_factor(hal, clock)
    first = make_client()
    ticket = (await first.login("hal", PASSWORD))["two_factor_ticket"]
    # Typed in capitals with spaces, as people do.
    typed = codes[3].upper().replace("-", " ")
    result = await first.login_two_factor(ticket, typed)
    assert result["session"]["token"]

    second = make_client()
    ticket = (await second.login("hal", PASSWORD))["two_factor_ticket"]
    with pytest.raises(ApiError) as err:
        await second.login_two_factor(ticket, codes[3])
    assert err.value.code == "two_factor_invalid"
    # Other recovery codes still work.
    await second.login_two_factor(ticket, codes[4])


async def test_an_expired_ticket_is_refused(
    make_user: UserFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    ivy = await make_user("ivy")
    secret, codes = await enable_two_factor(ivy, clock)
    laptop = make_client()
    ticket = (await laptop.login("ivy", PASSWORD))["two_factor_ticket"]
    clock.advance(seconds=301)
    with pytest.raises(ApiError) as err:
        await laptop.login_two_factor(ticket, code_at(secret, clock))
    assert (err.value.status, err.value.code) == (401, "two_factor_invalid")
    with pytest.raises(ApiError) as err:
        await laptop.login_two_factor(ticket, codes[0])
    assert err.value.code == "two_factor_invalid"
    # The recovery code was not spent by the refused attempt.
    ticket = (await laptop.login("ivy", PASSWORD))["two_factor_ticket"]
    await laptop.login_two_factor(ticket, codes[0])


async def test_guessing_codes_is_rate_limited(
    make_user: UserFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    jay = await make_user("jay")
    secret, _ = await enable_two_factor(jay, clock)
    clock.advance(seconds=30)
    laptop = make_client()
    ticket = (await laptop.login("jay", PASSWORD))["two_factor_ticket"]
    right = code_at(secret, clock)
    statuses = []
    for i in range(8):
        guess = wrong_code(secret, clock, offset=1 + i)
        response = await raw(
            laptop, "POST", "/api/v1/sessions/two-factor", json={"ticket": ticket, "code": guess}
        )
        statuses.append(response.status_code)
    limit = 5  # settings.login_failures_per_account_address
    assert statuses == [401] * limit + [429] * (8 - limit)
    limited = await raw(
        laptop, "POST", "/api/v1/sessions/two-factor", json={"ticket": ticket, "code": right}
    )
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1


async def test_disable_needs_password_and_code(
    make_user: UserFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    kim = await make_user("kim")
    secret, _ = await enable_two_factor(kim, clock)
    clock.advance(seconds=30)
    with pytest.raises(ApiError) as err:
        await kim.two_factor_disable("not my password", code_at(secret, clock))
    assert (err.value.status, err.value.code) == (401, "invalid_credentials")
    with pytest.raises(ApiError) as err:
        await kim.two_factor_disable(PASSWORD, wrong_code(secret, clock))
    assert (err.value.status, err.value.code) == (401, "two_factor_invalid")
    assert (await kim.me())["two_factor_enabled"] is True

    await kim.two_factor_disable(PASSWORD, code_at(secret, clock))
    assert (await kim.me())["two_factor_enabled"] is False
    result = await make_client().login("kim", PASSWORD)
    assert result["two_factor_required"] is False
    assert result["session"]["token"]


async def test_regenerating_recovery_codes_invalidates_the_old_ones(
    make_user: UserFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    lou = await make_user("lou")
    secret, old_codes = await enable_two_factor(lou, clock)
    clock.advance(seconds=30)
    # A recovery code cannot stand in for the authenticator here.
    with pytest.raises(ApiError) as err:
        await lou.regenerate_recovery_codes(old_codes[0])
    assert err.value.code == "two_factor_invalid"
    new_codes = await lou.regenerate_recovery_codes(code_at(secret, clock))
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)

    laptop = make_client()
    ticket = (await laptop.login("lou", PASSWORD))["two_factor_ticket"]
    with pytest.raises(ApiError) as err:
        await laptop.login_two_factor(ticket, old_codes[1])
    assert err.value.code == "two_factor_invalid"
    await laptop.login_two_factor(ticket, new_codes[1])


async def test_regenerating_without_two_factor_is_a_conflict(make_user: UserFactory) -> None:
    max_ = await make_user("max")
    with pytest.raises(ApiError) as err:
        await max_.regenerate_recovery_codes("123456")
    assert (err.value.status, err.value.code) == (409, "two_factor_disabled")


async def test_one_code_racing_in_two_logins_lets_only_one_in(
    make_user: UserFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    import asyncio

    ned = await make_user("ned")
    secret, _ = await enable_two_factor(ned, clock)
    clock.advance(seconds=30)
    clients = [make_client(ip=f"192.0.2.{60 + i}") for i in range(4)]
    tickets = [(await c.login("ned", PASSWORD))["two_factor_ticket"] for c in clients]
    code = code_at(secret, clock)
    results = await asyncio.gather(
        *(c.login_two_factor(t, code) for c, t in zip(clients, tickets, strict=True)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, dict) for r in results) == 1, results
    assert all(isinstance(r, dict) or r.code == "two_factor_invalid" for r in results)  # type: ignore[union-attr]


async def test_enabling_twice_at_once_gives_one_set_of_recovery_codes(
    make_user: UserFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    import asyncio

    oli = await make_user("oli")
    secret = (await oli.two_factor_setup())["secret"]
    code = code_at(secret, clock)
    results = await asyncio.gather(
        oli.two_factor_enable(code), oli.two_factor_enable(code), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, list)]
    assert len(winners) == 1, results
    loser = next(r for r in results if isinstance(r, ApiError))
    assert loser.status == 409
    # Every code of the winning set works; nothing else does.
    clock.advance(seconds=30)
    laptop = make_client()
    ticket = (await laptop.login("oli", PASSWORD))["two_factor_ticket"]
    await laptop.login_two_factor(ticket, winners[0][0])

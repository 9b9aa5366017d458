"""Login throttling: back-off per account and address, per account, per address; never a
permanent lockout, and a device that has logged in before is not held back by strangers."""

from __future__ import annotations

import httpx
import pytest

from courtyard.client import CourtyardClient
from courtyard.core.clock import FakeClock
from tests.accounts._helpers import assert_error, raw
from tests.conftest import PASSWORD, ClientFactory, UserFactory

PER_ACCOUNT_ADDRESS = 3
PER_ACCOUNT = 6
PER_ADDRESS = 10
MAX_BACKOFF = 60
WRONG = "definitely not the password"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {
        "login_failures_per_account_address": PER_ACCOUNT_ADDRESS,
        "login_failures_per_account": PER_ACCOUNT,
        "login_failures_per_address": PER_ADDRESS,
        "login_window_seconds": 900,
        "login_max_backoff_seconds": MAX_BACKOFF,
    }


async def attempt(client: CourtyardClient, handle: str, password: str) -> httpx.Response:
    body: dict[str, object] = {"handle": handle, "password": password}
    if client.device_token:
        body["device_token"] = client.device_token
    return await raw(client, "POST", "/api/v1/sessions", json=body)


def assert_rate_limited(response: httpx.Response) -> int:
    error = assert_error(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    assert error["details"]["retry_after_seconds"] == retry_after
    return retry_after


async def test_back_off_after_failures_from_one_address_then_it_ends(
    make_user: UserFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    await make_user("alice")
    client = make_client(ip="198.51.100.1")
    for _ in range(PER_ACCOUNT_ADDRESS):
        assert_error(await attempt(client, "alice", WRONG), 401, "invalid_credentials")

    retry_after = assert_rate_limited(await attempt(client, "alice", WRONG))
    # The right password does not get through during the back-off either.
    assert_rate_limited(await attempt(client, "alice", PASSWORD))

    clock.advance(seconds=retry_after)
    ok = await attempt(client, "alice", PASSWORD)
    assert ok.status_code == 200, ok.text


async def test_back_off_grows_but_is_bounded_never_permanent(
    make_user: UserFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    await make_user("bob")
    client = make_client(ip="198.51.100.2")
    waits = []
    for _ in range(25):  # stays inside one 900 s window
        response = await attempt(client, "bob", WRONG)
        if response.status_code == 429:
            wait = assert_rate_limited(response)
            waits.append(wait)
            clock.advance(seconds=wait)
        else:
            assert_error(response, 401, "invalid_credentials")
    assert waits, "no back-off at all"
    assert waits == sorted(waits)  # it grows ...
    assert max(waits) <= MAX_BACKOFF  # ... up to a bound
    assert waits[-1] == MAX_BACKOFF
    # After the longest back-off the owner gets in with the right password.
    response = await attempt(client, "bob", PASSWORD)
    if response.status_code == 429:
        clock.advance(seconds=assert_rate_limited(response))
        response = await attempt(client, "bob", PASSWORD)
    assert response.status_code == 200, response.text


async def test_failures_are_forgotten_after_the_window(
    make_user: UserFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    await make_user("cara")
    client = make_client(ip="198.51.100.3")
    for _ in range(PER_ACCOUNT_ADDRESS - 1):
        assert_error(await attempt(client, "cara", WRONG), 401, "invalid_credentials")
    clock.advance(seconds=901)
    # The old failures no longer count: a fresh run of failures is needed before back-off.
    for _ in range(PER_ACCOUNT_ADDRESS - 1):
        assert_error(await attempt(client, "cara", WRONG), 401, "invalid_credentials")
    assert (await attempt(client, "cara", PASSWORD)).status_code == 200


async def test_success_resets_the_account_address_count(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    await make_user("dina")
    client = make_client(ip="198.51.100.4")
    for _ in range(PER_ACCOUNT_ADDRESS - 1):
        assert_error(await attempt(client, "dina", WRONG), 401, "invalid_credentials")
    assert (await attempt(client, "dina", PASSWORD)).status_code == 200
    for _ in range(PER_ACCOUNT_ADDRESS - 1):
        assert_error(await attempt(client, "dina", WRONG), 401, "invalid_credentials")
    assert (await attempt(client, "dina", PASSWORD)).status_code == 200


async def test_back_off_on_one_address_does_not_hold_back_another(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    await make_user("emma")
    attacker = make_client(ip="198.51.100.5")
    for _ in range(PER_ACCOUNT_ADDRESS):
        await attempt(attacker, "emma", WRONG)
    assert_rate_limited(await attempt(attacker, "emma", PASSWORD))
    elsewhere = make_client(ip="198.51.100.6")
    assert (await attempt(elsewhere, "emma", PASSWORD)).status_code == 200


async def test_known_device_is_not_locked_out_by_failures_elsewhere(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    await make_user("fay")
    phone = make_client(ip="192.0.2.10")
    await phone.login("fay", PASSWORD)
    assert phone.device_token

    # Strangers fail against the account from many addresses, one attempt each, so no single
    # address reaches its own limit but the account as a whole does.
    for i in range(PER_ACCOUNT):
        stranger = make_client(ip=f"203.0.113.{100 + i}")
        assert_error(await attempt(stranger, "fay", WRONG), 401, "invalid_credentials")

    # An unknown device, even with the right password, waits ...
    new_laptop = make_client(ip="192.0.2.11")
    assert_rate_limited(await attempt(new_laptop, "fay", PASSWORD))
    # ... but the phone that logged in before gets in, from its usual address or a new one.
    assert (await attempt(phone, "fay", PASSWORD)).status_code == 200
    travelling = make_client(ip="192.0.2.12")
    travelling.device_token = phone.device_token
    assert (await attempt(travelling, "fay", PASSWORD)).status_code == 200


async def test_a_device_token_of_another_account_is_not_a_known_device(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    await make_user("gina")
    await make_user("hugo")
    hugo_phone = make_client(ip="192.0.2.20")
    await hugo_phone.login("hugo", PASSWORD)
    for i in range(PER_ACCOUNT):
        await attempt(make_client(ip=f"203.0.113.{150 + i}"), "gina", WRONG)
    impostor = make_client(ip="192.0.2.21")
    impostor.device_token = hugo_phone.device_token
    assert_rate_limited(await attempt(impostor, "gina", PASSWORD))
    forged = make_client(ip="192.0.2.22")
    forged.device_token = "eyJhIjoiMDAwMDAwIn0.forged"
    assert_rate_limited(await attempt(forged, "gina", PASSWORD))


async def test_one_address_failing_across_many_accounts_is_held_back(
    make_user: UserFactory, make_client: ClientFactory, clock: FakeClock
) -> None:
    for name in ("ida", "jon", "kai"):
        await make_user(name)
    sprayer = make_client(ip="198.51.100.77")
    handles = ["ida", "jon", "kai", "nobody_1", "nobody_2"]
    for i in range(PER_ADDRESS):
        response = await attempt(sprayer, handles[i % len(handles)], WRONG)
        assert_error(response, 401, "invalid_credentials")
    # Now even a right password for an untouched account waits, from this address only.
    retry_after = assert_rate_limited(await attempt(sprayer, "kai", PASSWORD))
    assert (await attempt(make_client(ip="198.51.100.78"), "kai", PASSWORD)).status_code == 200
    clock.advance(seconds=retry_after)
    assert (await attempt(sprayer, "kai", PASSWORD)).status_code == 200


async def test_unknown_handles_count_against_the_address(
    make_client: ClientFactory,
) -> None:
    prober = make_client(ip="198.51.100.90")
    for i in range(PER_ADDRESS):
        assert_error(await attempt(prober, f"ghost_{i}", WRONG), 401, "invalid_credentials")
    assert_rate_limited(await attempt(prober, "ghost_x", WRONG))


async def test_parallel_failures_are_all_counted_and_never_a_500(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    import asyncio

    await make_user("lia")
    client = make_client(ip="198.51.100.91")
    responses = await asyncio.gather(*(attempt(client, "lia", WRONG) for _ in range(8)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {401, 429}, [r.text for r in responses]
    # However they interleaved, the failures were counted: the account is now backing off here.
    assert_rate_limited(await attempt(client, "lia", PASSWORD))


async def test_the_device_someone_registered_on_counts_as_known(
    make_client: ClientFactory,
) -> None:
    phone = make_client(ip="192.0.2.30")
    result = await phone.register("mae", PASSWORD)
    assert result["device_token"]
    assert phone.device_token == result["device_token"]
    for i in range(PER_ACCOUNT):
        await attempt(make_client(ip=f"203.0.113.{200 + i}"), "mae", WRONG)
    assert_rate_limited(await attempt(make_client(ip="192.0.2.31"), "mae", PASSWORD))
    assert (await attempt(phone, "mae", PASSWORD)).status_code == 200

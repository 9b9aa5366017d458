"""Registration and login through the HTTP API, as a client would."""

from __future__ import annotations

import pytest

from courtyard.client import ApiError
from tests.conftest import PASSWORD, ClientFactory, UserFactory


async def test_register_then_login_then_me(make_client: ClientFactory) -> None:
    alice = make_client()
    registered = await alice.register("alice", PASSWORD, display_name="Alice")
    assert registered["account"]["handle"] == "alice"
    assert registered["account"]["state"] == "active"
    assert registered["session"]["token"]

    other_device = make_client()
    result = await other_device.login("Alice", PASSWORD)
    assert result["two_factor_required"] is False
    me = await other_device.me()
    assert me["id"] == registered["account"]["id"]
    assert me["display_name"] == "Alice"


async def test_duplicate_handle_is_409_handle_taken(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    await make_user("bob")
    with pytest.raises(ApiError) as err:
        await make_client().register("BOB", PASSWORD)
    assert err.value.status == 409
    assert err.value.code == "handle_taken"


@pytest.mark.parametrize("password", ["short", "password123", "qwertyuiop", "carol_carol"])
async def test_weak_password_is_422_with_reason(make_client: ClientFactory, password: str) -> None:
    with pytest.raises(ApiError) as err:
        await make_client().register("carol", password)
    assert err.value.status == 422
    assert err.value.code == "weak_password"
    assert err.value.details["reason"]


async def test_wrong_password_is_401_and_unknown_handle_looks_the_same(
    make_user: UserFactory, make_client: ClientFactory
) -> None:
    await make_user("dave")
    client = make_client()
    with pytest.raises(ApiError) as wrong:
        await client.login("dave", "not the right password at all")
    with pytest.raises(ApiError) as unknown:
        await client.login("nobody_here", "not the right password at all")
    assert (wrong.value.status, wrong.value.code) == (401, "invalid_credentials")
    assert (unknown.value.status, unknown.value.code) == (401, "invalid_credentials")
    assert wrong.value.message == unknown.value.message

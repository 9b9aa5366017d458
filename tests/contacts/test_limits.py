"""Friend cap, label limit and message length, with small limits set for this module."""

from __future__ import annotations

from typing import Any

import pytest

from courtyard.client import ApiError, CourtyardClient
from tests.conftest import UserFactory


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"friend_cap": 2, "labels_per_account_max": 3, "friend_request_message_max": 10}


def me(client: CourtyardClient) -> dict[str, str]:
    account: dict[str, str] = client.account  # type: ignore[attr-defined]
    return account


async def befriend(a: CourtyardClient, b: CourtyardClient) -> None:
    request = await a.send_friend_request(account_id=me(b)["id"])
    await b.accept_request(request["id"])


async def expect(call: Any, status: int, code: str) -> ApiError:
    with pytest.raises(ApiError) as err:
        await call
    assert (err.value.status, err.value.code) == (status, code), err.value.message
    return err.value


async def test_friend_cap(make_user: UserFactory) -> None:
    full = await make_user("full")
    one = await make_user("one")
    two = await make_user("two")
    newcomer = await make_user("newcomer")
    other = await make_user("other")
    await befriend(one, full)
    await befriend(two, full)

    # Accepting when the accepter is full.
    request = await newcomer.send_friend_request(handle="full")
    error = await expect(full.accept_request(request["id"]), 409, "friend_cap_reached")
    assert error.details["whose"] == "yours"
    assert "You have reached" in error.message
    # The request stays pending: nothing was half-done.
    assert len((await full.friend_requests("incoming"))["items"]) == 1

    # A full account cannot send new requests either.
    error = await expect(full.send_friend_request(handle="other"), 409, "friend_cap_reached")
    assert error.details["whose"] == "yours"

    # Accepting a request from someone who is full.
    await full.remove_friend(me(two)["id"])
    from_full = await full.send_friend_request(handle="other")
    await befriend(two, full)  # full is at the cap again
    error = await expect(other.accept_request(from_full["id"]), 409, "friend_cap_reached")
    assert error.details["whose"] == "theirs"
    assert "They have reached" in error.message

    # A mutual request when the other side is full.
    error = await expect(other.send_friend_request(handle="full"), 409, "friend_cap_reached")
    assert error.details["whose"] == "theirs"
    assert (await other.friends())["items"] == []

    # Room again after a removal.
    await full.remove_friend(me(one)["id"])
    friend = await full.accept_request(request["id"])
    assert friend["profile"]["handle"] == "newcomer"


async def test_label_limit(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    for name in ("a", "b", "c"):
        await alice.create_label(name)
    error = await expect(alice.create_label("d"), 409, "label_limit_reached")
    assert error.details["labels_per_account_max"] == 3


async def test_message_length_follows_settings(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    await make_user("bob")
    error = await expect(
        alice.send_friend_request(handle="bob", message="x" * 11), 422, "message_too_long"
    )
    assert error.details["max_length"] == 10
    sent = await alice.send_friend_request(handle="bob", message="  " + "y" * 10 + "  ")
    assert sent["message"] == "y" * 10

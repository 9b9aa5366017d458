"""Typed errors: every bad request gets a status, a code and a message, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from courtyard.client import ApiError, CourtyardClient
from tests.conftest import ClientFactory, UserFactory

GHOST = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def me(client: CourtyardClient) -> dict[str, str]:
    account: dict[str, str] = client.account  # type: ignore[attr-defined]
    return account


async def expect(call: Any, status: int, code: str) -> ApiError:
    with pytest.raises(ApiError) as err:
        await call
    assert (err.value.status, err.value.code) == (status, code), err.value.message
    assert err.value.message
    return err.value


async def test_request_to_self(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    await expect(alice.send_friend_request(handle="Alice"), 422, "cannot_befriend_self")
    await expect(alice.send_friend_request(account_id=me(alice)["id"]), 422, "cannot_befriend_self")


async def test_request_to_existing_friend(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    request = await alice.send_friend_request(handle="bob")
    await bob.accept_request(request["id"])
    await expect(alice.send_friend_request(handle="bob"), 409, "already_friends")
    await expect(bob.send_friend_request(handle="alice"), 409, "already_friends")


async def test_unknown_handles_and_ids_are_404(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    await expect(alice.send_friend_request(handle="nobody_here"), 404, "not_found")
    await expect(alice.send_friend_request(account_id=GHOST), 404, "not_found")
    await expect(alice.send_friend_request(account_id="not-an-id"), 404, "not_found")
    await expect(alice.lookup("nobody_here"), 404, "not_found")
    for bad in (GHOST, "not-an-id", "x" * 40):
        await expect(alice.public_profile(bad), 404, "not_found")
        await expect(alice.avatar(bad), 404, "not_found")
        await expect(alice.accept_request(bad), 404, "not_found")
        await expect(alice.decline_request(bad), 404, "not_found")
        await expect(alice.ignore_request(bad), 404, "not_found")
        await expect(alice.cancel_request(bad), 404, "not_found")
        await expect(alice.update_friend(bad, remark="x"), 404, "not_found")
        await expect(alice.remove_friend(bad), 404, "not_found")
        await expect(alice.block(bad), 404, "not_found")
        await expect(alice.unblock(bad), 404, "not_found")
        await expect(alice.rename_label(bad, "x"), 404, "not_found")
        await expect(alice.delete_label(bad), 404, "not_found")
        await expect(alice.friends(label_id=bad), 404, "not_found")


async def test_account_without_avatar_is_404(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await expect(alice.avatar(me(bob)["id"]), 404, "not_found")


async def test_request_of_others_is_404(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    await make_user("bob")
    carol = await make_user("carol")
    request = await alice.send_friend_request(handle="bob")
    await expect(carol.accept_request(request["id"]), 404, "not_found")
    await expect(carol.cancel_request(request["id"]), 404, "not_found")
    await expect(alice.accept_request(request["id"]), 404, "not_found")  # the sender cannot


async def test_accept_with_unknown_label_changes_nothing(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    request = await alice.send_friend_request(handle="bob")
    await expect(bob.accept_request(request["id"], label_ids=[GHOST]), 404, "not_found")
    assert (await bob.friends())["items"] == []
    assert len((await bob.friend_requests())["items"]) == 1


async def test_bad_bodies_are_422(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bad_requests: list[tuple[str, str, Any]] = [
        ("POST", "/api/v1/contacts/requests", {"message": "no target"}),
        ("POST", "/api/v1/contacts/requests", {"handle": "bob", "account_id": GHOST}),
        ("POST", "/api/v1/contacts/requests", {"handle": "bob", "extra": 1}),
        ("POST", "/api/v1/contacts/requests", {"handle": 5}),
        ("POST", "/api/v1/contacts/requests", ["handle", "bob"]),
        ("POST", "/api/v1/contacts/labels", {}),
        ("POST", "/api/v1/contacts/labels", {"name": "x", "colour": "red"}),
        ("POST", "/api/v1/contacts/blocks", {}),
        ("PATCH", f"/api/v1/contacts/friends/{GHOST}", {"label_ids": "nope"}),
        ("POST", f"/api/v1/contacts/requests/{GHOST}/accept", {"remark": 3}),
    ]
    for method, path, body in bad_requests:
        with pytest.raises(ApiError) as err:
            await alice.request(method, path, json=body)
        assert (err.value.status, err.value.code) == (422, "invalid_input"), (path, body)
    for params in ({"direction": "sideways"}, {"limit": 0}, {"limit": 10_000}):
        with pytest.raises(ApiError) as err:
            await alice.request("GET", "/api/v1/contacts/requests", params=params)
        assert err.value.status == 422
    await expect(alice.friends(cursor="!!not-a-cursor!!"), 422, "invalid_input")
    await expect(alice.friend_requests(cursor="WzEsMiwzXQ"), 422, "invalid_input")  # [1,2,3]
    with pytest.raises(ApiError) as err:
        await alice.request(
            "POST",
            "/api/v1/contacts/requests",
            json={"handle": "bob"},
            headers={"Idempotency-Key": "x" * 200},
        )
    assert err.value.status == 422


async def test_remark_too_long_is_422(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    request = await alice.send_friend_request(handle="bob")
    await expect(bob.accept_request(request["id"], remark="r" * 65), 422, "invalid_input")
    await bob.accept_request(request["id"], remark="r" * 64)


async def test_malformed_json_is_400(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    response = await alice.http.post(
        "/api/v1/contacts/requests",
        content=b"{not json",
        headers={**alice._headers(), "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


async def test_everything_needs_a_session(make_client: ClientFactory) -> None:
    anonymous = make_client()
    for call in [
        anonymous.lookup("alice"),
        anonymous.friends(),
        anonymous.friend_requests(),
        anonymous.labels(),
        anonymous.blocks(),
        anonymous.public_profile(GHOST),
        anonymous.send_friend_request(handle="alice"),
    ]:
        await expect(call, 401, "unauthenticated")


@pytest.mark.parametrize("handle", ["a\x00b", "bob\x00", "\x00", "x" * 40, "名字"])
async def test_lookup_of_impossible_handles_is_404_without_a_query(
    make_user: UserFactory, handle: str
) -> None:
    alice = await make_user("alice")
    with pytest.raises(ApiError) as err:
        await alice.lookup(handle)
    assert (err.value.status, err.value.code) == (404, "not_found")


async def test_control_characters_in_a_request_message_are_refused(
    make_user: UserFactory,
) -> None:
    alice = await make_user("alice")
    await make_user("bob")
    with pytest.raises(ApiError) as err:
        await alice.send_friend_request(handle="bob", message="hi\x00there")
    assert (err.value.status, err.value.code) == (422, "invalid_input")
    assert (await alice.friend_requests("outgoing"))["items"] == []


async def test_a_cursor_carrying_a_nul_is_refused(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    # base64url of ["\u0000"]: a forged cursor must be a 422, never reach the database.
    with pytest.raises(ApiError) as err:
        await alice.request("GET", "/api/v1/contacts/friends", params={"cursor": "WyJcdTAwMDAiXQ"})
    assert (err.value.status, err.value.code) == (422, "invalid_input")

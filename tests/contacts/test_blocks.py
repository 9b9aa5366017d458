"""Blocking: the blocked account sees the blocker exactly as a handle nobody holds."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from courtyard.accounts import store as accounts_store
from courtyard.client import ApiError, CourtyardClient
from courtyard.container import Services
from tests.conftest import UserFactory


def me(client: CourtyardClient) -> dict[str, str]:
    account: dict[str, str] = client.account  # type: ignore[attr-defined]
    return account


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def error_of(call: object) -> tuple[int, str, str]:
    with pytest.raises(ApiError) as err:
        await call  # type: ignore[misc]
    return err.value.status, err.value.code, err.value.message


async def befriend(a: CourtyardClient, b: CourtyardClient) -> None:
    request = await a.send_friend_request(account_id=me(b)["id"])
    await b.accept_request(request["id"])


async def test_blocker_looks_like_a_nonexistent_account(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    mallory = await make_user("mallory")
    await alice.set_avatar(png())
    alice_id = me(alice)["id"]
    assert await mallory.avatar(alice_id)  # visible before the block
    await alice.block(me(mallory)["id"])

    ghost_id = "01ARZ3NDEKTSV4RRFFQ69G5FAV"  # a well-formed id nobody holds
    for blocked_call, missing_call in [
        (mallory.lookup("alice"), mallory.lookup("nobody_here")),
        (mallory.public_profile(alice_id), mallory.public_profile(ghost_id)),
        (mallory.avatar(alice_id), mallory.avatar(ghost_id)),
        (
            mallory.send_friend_request(handle="alice", message="hi"),
            mallory.send_friend_request(handle="nobody_here", message="hi"),
        ),
        (
            mallory.send_friend_request(account_id=alice_id),
            mallory.send_friend_request(account_id=ghost_id),
        ),
        (mallory.block(alice_id), mallory.block(ghost_id)),
    ]:
        blocked = await error_of(blocked_call)
        missing = await error_of(missing_call)
        assert blocked == missing
        assert blocked[:2] == (404, "not_found")

    # The blocker still sees the blocked account, and why they cannot request it.
    found = await alice.lookup("mallory")
    assert found["relationship"] == "blocked_by_you"
    status, code, _ = await error_of(alice.send_friend_request(handle="mallory"))
    assert (status, code) == (409, "blocked_by_you")


async def test_block_ends_friendship_and_requests_both_ways(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    await befriend(alice, bob)
    to_carol = await alice.send_friend_request(handle="carol")
    from_carol_label = await alice.create_label("Work")
    await alice.update_friend(me(bob)["id"], label_ids=[from_carol_label["id"]])

    await alice.block(me(bob)["id"])
    await carol.block(me(alice)["id"])

    assert (await alice.friends())["items"] == []
    assert (await bob.friends())["items"] == []
    assert (await alice.labels())[0]["friend_count"] == 0
    assert (await carol.friend_requests("incoming"))["items"] == []
    assert (await alice.friend_requests("outgoing"))["items"] == []
    status, _, _ = await error_of(carol.accept_request(to_carol["id"]))
    assert status == 404

    # Unblocking does not restore the friendship.
    await alice.unblock(me(bob)["id"])
    assert (await alice.friends())["items"] == []
    assert (await alice.lookup("bob"))["relationship"] == "none"
    assert (await bob.lookup("alice"))["relationship"] == "none"
    request = await bob.send_friend_request(handle="alice")
    assert request["status"] == "pending"


async def test_block_list_and_unblock(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob", display_name="Bob")
    carol = await make_user("carol")
    first = await alice.block(me(bob)["id"])
    assert first["profile"]["display_name"] == "Bob"
    again = await alice.block(me(bob)["id"])  # blocking twice changes nothing
    assert again["blocked_at"] == first["blocked_at"]
    await alice.block(me(carol)["id"])
    blocks = await alice.blocks()
    assert sorted(b["account_id"] for b in blocks) == sorted([me(bob)["id"], me(carol)["id"]])
    assert await bob.blocks() == []

    # Carol cannot block alice back: to her, alice looks like an account that does not exist.
    status, code, _ = await error_of(carol.block(me(alice)["id"]))
    assert (status, code) == (404, "not_found")

    await alice.unblock(me(bob)["id"])
    assert [b["account_id"] for b in await alice.blocks()] == [me(carol)["id"]]
    status, code, _ = await error_of(alice.unblock(me(bob)["id"]))
    assert (status, code) == (404, "not_found")


async def test_deleted_accounts_disappear(make_user: UserFactory, services: Services) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    await befriend(alice, bob)
    await alice.block(me(carol)["id"])
    async with services.db.write() as tx:
        for client in (bob, carol):
            await accounts_store.update_account(
                tx.conn, me(client)["id"], services.clock.now(), state="deleted"
            )
    status, _, _ = await error_of(alice.lookup("bob"))
    assert status == 404
    status, _, _ = await error_of(alice.public_profile(me(bob)["id"]))
    assert status == 404
    assert (await alice.friends())["items"] == []
    assert [(b["account_id"], b["profile"]) for b in await alice.blocks()] == [
        (me(carol)["id"], None)
    ]
    status, _, _ = await error_of(alice.send_friend_request(handle="bob"))
    assert status == 404


async def test_cannot_block_self(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    status, code, _ = await error_of(alice.block(me(alice)["id"]))
    assert (status, code) == (422, "cannot_block_self")


async def test_blocked_user_keeps_no_trace_in_lists(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    mallory = await make_user("mallory")
    await befriend(mallory, alice)
    await alice.block(me(mallory)["id"])
    assert (await mallory.friends())["items"] == []
    assert (await mallory.friend_requests("incoming"))["items"] == []
    assert (await mallory.friend_requests("outgoing"))["items"] == []
    assert await mallory.blocks() == []

"""Friend requests through the HTTP API: send, accept, decline, ignore, cancel, mutual."""

from __future__ import annotations

import pytest

from courtyard.client import ApiError, CourtyardClient
from tests.conftest import UserFactory


def me(client: CourtyardClient) -> dict[str, str]:
    account: dict[str, str] = client.account  # type: ignore[attr-defined]
    return account


async def friend_ids(client: CourtyardClient) -> list[str]:
    page = await client.friends()
    return [item["profile"]["id"] for item in page["items"]]


async def test_request_accept_with_remark_and_labels(make_user: UserFactory) -> None:
    alice = await make_user("alice", display_name="Alice")
    bob = await make_user("bob", display_name="Bob")
    sent = await alice.send_friend_request(handle="bob", message="Hi Bob, we met at the park")
    assert sent["status"] == "pending"
    assert sent["direction"] == "outgoing"
    assert sent["from"]["handle"] == "alice"
    assert sent["to"]["id"] == me(bob)["id"]

    incoming = await bob.friend_requests("incoming")
    assert [r["id"] for r in incoming["items"]] == [sent["id"]]
    assert incoming["items"][0]["message"] == "Hi Bob, we met at the park"
    assert incoming["items"][0]["direction"] == "incoming"
    assert incoming["items"][0]["from"]["display_name"] == "Alice"
    outgoing = await alice.friend_requests("outgoing")
    assert [r["id"] for r in outgoing["items"]] == [sent["id"]]
    assert (await alice.friend_requests("incoming"))["items"] == []
    assert (await alice.lookup("bob"))["relationship"] == "request_sent"
    assert (await bob.lookup("alice"))["relationship"] == "request_received"
    assert (await bob.lookup("alice"))["request_id"] == sent["id"]

    park = await bob.create_label("Park")
    school = await bob.create_label("School")
    friend = await bob.accept_request(
        sent["id"], remark="Alice from the park", label_ids=[park["id"], school["id"]]
    )
    assert friend["profile"]["id"] == me(alice)["id"]
    assert friend["remark"] == "Alice from the park"
    assert sorted(label["name"] for label in friend["labels"]) == ["Park", "School"]

    assert await friend_ids(alice) == [me(bob)["id"]]
    assert await friend_ids(bob) == [me(alice)["id"]]
    # Each side has its own remark and labels.
    alice_view = (await alice.friends())["items"][0]
    assert alice_view["remark"] is None
    assert alice_view["labels"] == []
    assert (await alice.lookup("bob"))["relationship"] == "friend"
    assert (await bob.friend_requests("incoming"))["items"] == []
    assert (await alice.friend_requests("outgoing"))["items"] == []


async def test_decline_then_request_again(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    first = await alice.send_friend_request(handle="bob", message="hello")
    await bob.decline_request(first["id"])
    assert (await bob.friend_requests("incoming"))["items"] == []
    assert (await alice.friend_requests("outgoing"))["items"] == []
    assert (await alice.lookup("bob"))["relationship"] == "none"
    # Answering twice is not possible.
    with pytest.raises(ApiError) as err:
        await bob.accept_request(first["id"])
    assert (err.value.status, err.value.code) == (404, "not_found")

    second = await alice.send_friend_request(handle="bob", message="hello again")
    assert second["id"] != first["id"]
    assert second["status"] == "pending"
    assert [r["id"] for r in (await bob.friend_requests("incoming"))["items"]] == [second["id"]]


async def test_ignore_hides_it_from_the_recipient_only(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    sent = await alice.send_friend_request(handle="bob", message="hi")
    await bob.ignore_request(sent["id"])
    assert (await bob.friend_requests("incoming"))["items"] == []
    assert (await bob.lookup("alice"))["relationship"] == "none"
    # The sender is not told: to them it is still pending, and asking again returns it.
    outgoing = (await alice.friend_requests("outgoing"))["items"]
    assert [(r["id"], r["status"]) for r in outgoing] == [(sent["id"], "pending")]
    assert (await alice.lookup("bob"))["relationship"] == "request_sent"
    again = await alice.send_friend_request(handle="bob", message="hi?")
    assert (again["id"], again["status"]) == (sent["id"], "pending")
    # The recipient can no longer act on it...
    with pytest.raises(ApiError) as err:
        await bob.accept_request(sent["id"])
    assert err.value.status == 404
    # ...but asking the sender themselves makes them friends at once.
    mutual = await bob.send_friend_request(handle="alice")
    assert mutual["status"] == "accepted"
    assert await friend_ids(alice) == [me(bob)["id"]]


async def test_sender_cancels(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    sent = await alice.send_friend_request(handle="bob")
    with pytest.raises(ApiError) as err:
        await bob.cancel_request(sent["id"])  # only the sender can withdraw it
    assert err.value.status == 404
    await alice.cancel_request(sent["id"])
    assert (await bob.friend_requests("incoming"))["items"] == []
    assert (await alice.friend_requests("outgoing"))["items"] == []
    with pytest.raises(ApiError) as err:
        await alice.cancel_request(sent["id"])
    assert err.value.status == 404
    with pytest.raises(ApiError) as err:
        await bob.accept_request(sent["id"])
    assert err.value.status == 404


async def test_sender_can_cancel_an_ignored_request(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    sent = await alice.send_friend_request(handle="bob")
    await bob.ignore_request(sent["id"])
    await alice.cancel_request(sent["id"])
    assert (await alice.lookup("bob"))["relationship"] == "none"


async def test_mutual_request_makes_friends_at_once(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    first = await alice.send_friend_request(handle="bob", message="hi")
    second = await bob.send_friend_request(account_id=me(alice)["id"], message="hi you too")
    assert second["status"] == "accepted"
    assert second["id"] != first["id"]
    assert await friend_ids(alice) == [me(bob)["id"]]
    assert await friend_ids(bob) == [me(alice)["id"]]
    assert (await alice.friend_requests("outgoing"))["items"] == []
    assert (await bob.friend_requests("incoming"))["items"] == []
    with pytest.raises(ApiError) as err:
        await bob.accept_request(first["id"])
    assert err.value.status == 404


async def test_duplicate_pending_request_is_idempotent(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    await make_user("bob")
    first = await alice.send_friend_request(handle="bob", message="one")
    second = await alice.send_friend_request(handle="BOB", message="two")
    assert second["id"] == first["id"]
    assert second["message"] == "one"
    assert len((await alice.friend_requests("outgoing"))["items"]) == 1


async def test_idempotency_key_replays_the_same_request(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    first = await alice.send_friend_request(handle="bob", message="hi", idempotency_key="req-1")
    await alice.cancel_request(first["id"])
    # A retry with the same key replays the result instead of sending a new request.
    replay = await alice.send_friend_request(handle="bob", message="hi", idempotency_key="req-1")
    assert replay["id"] == first["id"]
    assert (await bob.friend_requests("incoming"))["items"] == []
    with pytest.raises(ApiError) as err:
        await alice.send_friend_request(handle="bob", message="other", idempotency_key="req-1")
    assert (err.value.status, err.value.code) == (422, "idempotency_key_reused")
    fresh = await alice.send_friend_request(handle="bob", message="hi", idempotency_key="req-2")
    assert fresh["id"] != first["id"]
    assert [r["id"] for r in (await bob.friend_requests("incoming"))["items"]] == [fresh["id"]]


async def test_remove_friend_on_both_sides(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    sent = await alice.send_friend_request(handle="bob")
    label = await bob.create_label("Close")
    await bob.accept_request(sent["id"], label_ids=[label["id"]])
    await alice.remove_friend(me(bob)["id"])
    assert await friend_ids(alice) == []
    assert await friend_ids(bob) == []
    assert (await bob.labels())[0]["friend_count"] == 0
    assert (await alice.lookup("bob"))["relationship"] == "none"
    with pytest.raises(ApiError) as err:
        await bob.remove_friend(me(alice)["id"])
    assert (err.value.status, err.value.code) == (404, "not_found")
    # They can become friends again.
    again = await bob.send_friend_request(handle="alice")
    await alice.accept_request(again["id"])
    assert await friend_ids(bob) == [me(alice)["id"]]


async def test_friends_are_paginated_by_handle(make_user: UserFactory) -> None:
    hub = await make_user("hub")
    names = ["dora", "carl", "erin", "bert", "fay"]
    for name in names:
        client = await make_user(name)
        request = await client.send_friend_request(handle="hub")
        await hub.accept_request(request["id"])
    seen: list[str] = []
    cursor = None
    while True:
        page = await hub.friends(cursor=cursor, limit=2)
        seen.extend(item["profile"]["handle"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(names)


async def test_requests_are_paginated_newest_first(make_user: UserFactory) -> None:
    hub = await make_user("hub")
    ids = []
    for name in ["ann", "ben", "cat", "dan", "eve"]:
        client = await make_user(name)
        ids.append((await client.send_friend_request(handle="hub"))["id"])
    seen: list[str] = []
    cursor = None
    while True:
        page = await hub.friend_requests("incoming", cursor=cursor, limit=2)
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


async def test_lookup_is_exact_handle_only(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    await make_user("robert")
    found = await alice.lookup("Robert")
    assert found["profile"]["handle"] == "robert"
    assert found["relationship"] == "none"
    assert set(found["profile"]) == {
        "id", "handle", "display_name", "bio", "avatar_url", "verification_level"
    }  # fmt: skip
    for probe in ["rob", "rober", "robert_", "%", "robert%"]:
        with pytest.raises(ApiError) as err:
            await alice.lookup(probe)
        assert (err.value.status, err.value.code) == (404, "not_found")
    assert (await alice.lookup("alice"))["relationship"] == "self"


async def test_public_profile_by_id(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob", display_name="Bob B")
    profile = await alice.public_profile(me(bob)["id"])
    assert profile["display_name"] == "Bob B"
    assert "state" not in profile

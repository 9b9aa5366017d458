"""Labels (tags) on friends: create, rename, delete, assign, filter."""

from __future__ import annotations

import pytest

from courtyard.client import ApiError, CourtyardClient
from courtyard.container import Services
from tests.conftest import UserFactory


def me(client: CourtyardClient) -> dict[str, str]:
    account: dict[str, str] = client.account  # type: ignore[attr-defined]
    return account


async def befriend(a: CourtyardClient, b: CourtyardClient) -> None:
    request = await a.send_friend_request(account_id=me(b)["id"])
    await b.accept_request(request["id"])


async def test_label_crud(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    work = await alice.create_label("  Work  ")
    assert work["name"] == "Work"
    assert work["friend_count"] == 0
    family = await alice.create_label("Family")
    assert [label["name"] for label in await alice.labels()] == ["Family", "Work"]

    with pytest.raises(ApiError) as err:
        await alice.create_label("WORK")
    assert (err.value.status, err.value.code) == (409, "label_exists")
    with pytest.raises(ApiError) as err:
        await alice.rename_label(family["id"], "work")
    assert (err.value.status, err.value.code) == (409, "label_exists")

    renamed = await alice.rename_label(work["id"], "work")  # a change of case is fine
    assert renamed["name"] == "work"
    renamed = await alice.rename_label(work["id"], "Colleagues")
    assert renamed["name"] == "Colleagues"
    await alice.delete_label(family["id"])
    assert [label["name"] for label in await alice.labels()] == ["Colleagues"]
    # The freed name can be used again.
    await alice.create_label("family")


async def test_labels_are_private_to_their_owner(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    label = await alice.create_label("Secret")
    await bob.create_label("Secret")  # names are unique per owner only
    for call in [
        bob.rename_label(label["id"], "Mine"),
        bob.delete_label(label["id"]),
        bob.friends(label_id=label["id"]),
    ]:
        with pytest.raises(ApiError) as err:
            await call
        assert (err.value.status, err.value.code) == (404, "not_found")
    await befriend(alice, bob)
    with pytest.raises(ApiError) as err:
        await bob.update_friend(me(alice)["id"], label_ids=[label["id"]])
    assert err.value.status == 404


async def test_assign_and_filter_friends_by_label(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    dave = await make_user("dave")
    for friend in (bob, carol, dave):
        await befriend(friend, alice)
    work = await alice.create_label("Work")
    climbing = await alice.create_label("Climbing")
    await alice.update_friend(me(bob)["id"], label_ids=[work["id"], climbing["id"]])
    updated = await alice.update_friend(
        me(carol)["id"], remark="Carol (office)", label_ids=[work["id"]]
    )
    assert updated["remark"] == "Carol (office)"
    assert [label["name"] for label in updated["labels"]] == ["Work"]

    async def handles(label_id: str) -> list[str]:
        page = await alice.friends(label_id=label_id)
        return [item["profile"]["handle"] for item in page["items"]]

    assert await handles(work["id"]) == ["bob", "carol"]
    assert await handles(climbing["id"]) == ["bob"]
    counts = {label["name"]: label["friend_count"] for label in await alice.labels()}
    assert counts == {"Work": 2, "Climbing": 1}

    # Replacing the set, clearing the remark, leaving the other field untouched.
    await alice.update_friend(me(bob)["id"], label_ids=[climbing["id"]])
    assert await handles(work["id"]) == ["carol"]
    cleared = await alice.update_friend(me(carol)["id"], remark="")
    assert cleared["remark"] is None
    assert [label["name"] for label in cleared["labels"]] == ["Work"]

    # Deleting a label leaves the friends in place.
    await alice.delete_label(work["id"])
    assert len((await alice.friends())["items"]) == 3
    assert (await alice.friends())["items"][1]["labels"] == []


async def test_service_helpers_for_other_pillars(
    make_user: UserFactory, services: Services
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    await befriend(bob, alice)
    await befriend(carol, alice)
    close = await alice.create_label("Close")
    await alice.update_friend(me(bob)["id"], label_ids=[close["id"]])
    contacts = services.contacts
    a, b, c = me(alice)["id"], me(bob)["id"], me(carol)["id"]
    assert await contacts.friend_ids(a) == {b, c}
    assert await contacts.friend_ids_with_labels(a, [close["id"]]) == {b}
    assert await contacts.friend_ids_with_labels(b, [close["id"]]) == set()  # not bob's label
    assert [label.name for label in await contacts.labels_of(a)] == ["Close"]
    assert await contacts.are_friends(a, b)
    assert not await contacts.are_friends(b, c)
    assert not await contacts.is_blocked_either_way(a, b)
    await bob.block(a)
    assert await contacts.is_blocked_either_way(a, b)
    assert await contacts.is_blocked_either_way(b, a)
    assert await contacts.friend_ids_with_labels(a, [close["id"]]) == set()
    async with services.db.read() as conn:
        assert await contacts.friend_ids(a, conn=conn) == {c}


async def test_label_idempotency_key(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    first = await alice.create_label("Trip", idempotency_key="label-1")
    again = await alice.create_label("Trip", idempotency_key="label-1")
    assert again["id"] == first["id"]
    assert len(await alice.labels()) == 1
    with pytest.raises(ApiError) as err:
        await alice.create_label("Other", idempotency_key="label-1")
    assert (err.value.status, err.value.code) == (422, "idempotency_key_reused")


@pytest.mark.parametrize("name", ["", "   ", "x" * 33, "tab\there\u0007"])
async def test_invalid_label_names(make_user: UserFactory, name: str) -> None:
    alice = await make_user("alice")
    with pytest.raises(ApiError) as err:
        await alice.create_label(name)
    assert err.value.status == 422

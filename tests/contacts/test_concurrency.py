"""Concurrent writes on the same pair: the rules hold when requests race (PostgreSQL runs
them truly concurrently; SQLite serialises writers)."""

from __future__ import annotations

import asyncio

import pytest

from courtyard.client import ApiError, CourtyardClient
from tests.conftest import UserFactory


def me(client: CourtyardClient) -> dict[str, str]:
    account: dict[str, str] = client.account  # type: ignore[attr-defined]
    return account


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"friend_cap": 1}


async def test_simultaneous_requests_both_ways_make_friends(make_user: UserFactory) -> None:
    for round_ in range(5):
        alice = await make_user(f"alice{round_}")
        bob = await make_user(f"bob{round_}")
        a, b = await asyncio.gather(
            alice.send_friend_request(account_id=me(bob)["id"]),
            bob.send_friend_request(account_id=me(alice)["id"]),
        )
        assert sorted([a["status"], b["status"]]) == ["accepted", "pending"]
        assert [f["profile"]["id"] for f in (await alice.friends())["items"]] == [me(bob)["id"]]
        assert (await alice.friend_requests("outgoing"))["items"] == []
        assert (await bob.friend_requests("outgoing"))["items"] == []


async def test_concurrent_duplicates_create_one_request(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    results = await asyncio.gather(
        *(alice.send_friend_request(handle="bob", message="hi") for _ in range(5)),
        *(
            alice.send_friend_request(handle="bob", message="hi", idempotency_key="same")
            for _ in range(3)
        ),
    )
    assert len({r["id"] for r in results}) == 1
    assert len((await bob.friend_requests())["items"]) == 1


async def test_racing_accepts_respect_the_cap(make_user: UserFactory) -> None:
    popular = await make_user("popular")
    fans = [await make_user(f"fan{i}") for i in range(4)]
    requests = [await fan.send_friend_request(handle="popular") for fan in fans]
    outcomes = await asyncio.gather(
        *(popular.accept_request(r["id"]) for r in requests), return_exceptions=True
    )
    accepted = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if isinstance(o, ApiError)]
    assert len(accepted) == 1
    assert {(e.status, e.code) for e in refused} == {(409, "friend_cap_reached")}
    assert len((await popular.friends())["items"]) == 1

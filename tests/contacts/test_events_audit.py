"""Events in the stream with the write (and never on failure), audit rows, governance, query
counts. That these events reach the WebSocket is tested in tests/realtime."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from sqlalchemy import event

from courtyard.accounts import store as accounts_store
from courtyard.client import ApiError, CourtyardClient
from courtyard.container import Services
from courtyard.governance.model import Decision, PolicyEvent, RuleHit, Verdict
from courtyard.governance.store import list_audit_for_target
from courtyard.realtime import store as realtime_store
from tests.conftest import UserFactory


def me(client: CourtyardClient) -> dict[str, str]:
    account: dict[str, str] = client.account  # type: ignore[attr-defined]
    return account


class Inbox:
    """The stream events of one account, read from the ``events`` table after a position."""

    def __init__(self, services: Services, account_id: str, cursor: int) -> None:
        self.services = services
        self.account_id = account_id
        self.cursor = cursor


async def subscribe(services: Services, client: CourtyardClient) -> Inbox:
    async with services.db.read() as conn:
        cursor = await realtime_store.last_stream_id(conn)
    return Inbox(services, me(client)["id"], cursor)


async def drain(inbox: Inbox) -> list[dict[str, Any]]:
    """Events appended since the last drain, as ``{"type": kind, **data}``. They are committed
    with the write, so by the time a client call has answered, they are in the stream."""
    events = await inbox.services.realtime.events_for(inbox.account_id, inbox.cursor, 1000)
    if events:
        inbox.cursor = events[-1].id
    return [{"type": e.kind, **e.payload} for e in events]


async def befriend(a: CourtyardClient, b: CourtyardClient) -> None:
    request = await a.send_friend_request(account_id=me(b)["id"])
    await b.accept_request(request["id"])


async def test_request_lifecycle_events(make_user: UserFactory, services: Services) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    to_alice = await subscribe(services, alice)
    to_bob = await subscribe(services, bob)

    sent = await alice.send_friend_request(handle="bob", message="hello")
    [received] = await drain(to_bob)
    assert received["type"] == "contacts.request.received"
    assert received["request"]["id"] == sent["id"]
    assert received["request"]["message"] == "hello"
    assert received["request"]["direction"] == "incoming"
    assert received["request"]["from"]["handle"] == "alice"
    assert await drain(to_alice) == []

    await bob.accept_request(sent["id"])
    [accepted] = await drain(to_alice)
    assert accepted["type"] == "contacts.request.accepted"
    assert accepted["request_id"] == sent["id"]
    assert accepted["friend"]["profile"]["handle"] == "bob"
    assert await drain(to_bob) == []

    await alice.remove_friend(me(bob)["id"])
    assert await drain(to_bob) == [
        {"type": "contacts.friend.removed", "account_id": me(alice)["id"]}
    ]
    assert await drain(to_alice) == []


async def test_decline_is_announced_ignore_is_not(
    make_user: UserFactory, services: Services
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    to_alice = await subscribe(services, alice)
    to_bob = await subscribe(services, bob)
    first = await alice.send_friend_request(handle="bob")
    await bob.decline_request(first["id"])
    second = await alice.send_friend_request(handle="bob")
    await bob.ignore_request(second["id"])
    assert await drain(to_alice) == [
        {"type": "contacts.request.declined", "request_id": first["id"]}
    ]
    # The ignored request can still be withdrawn, but bob no longer lists it: no event for him.
    await drain(to_bob)
    await alice.cancel_request(second["id"])
    assert await drain(to_bob) == []
    third = await alice.send_friend_request(handle="bob")
    await drain(to_bob)
    await alice.cancel_request(third["id"])
    assert await drain(to_bob) == [
        {"type": "contacts.request.cancelled", "request_id": third["id"]}
    ]


async def test_mutual_request_announces_acceptance(
    make_user: UserFactory, services: Services
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    to_alice = await subscribe(services, alice)
    first = await alice.send_friend_request(handle="bob")
    await bob.send_friend_request(handle="alice")
    [accepted] = await drain(to_alice)
    assert (accepted["type"], accepted["request_id"]) == ("contacts.request.accepted", first["id"])


async def test_a_block_is_never_published_to_the_blocked(
    make_user: UserFactory, services: Services
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    await befriend(alice, bob)
    await alice.send_friend_request(handle="carol")
    to_bob = await subscribe(services, bob)
    to_carol = await subscribe(services, carol)
    await drain(to_carol)
    await alice.block(me(bob)["id"])
    await alice.block(me(carol)["id"])
    await alice.unblock(me(bob)["id"])
    assert await drain(to_bob) == []
    assert await drain(to_carol) == []


async def test_no_event_when_the_write_fails(make_user: UserFactory, services: Services) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await befriend(alice, bob)
    to_bob = await subscribe(services, bob)
    with pytest.raises(ApiError):
        await alice.send_friend_request(handle="bob")  # already friends
    with pytest.raises(ApiError):
        await alice.remove_friend("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert await drain(to_bob) == []


async def test_no_event_escapes_a_rolled_back_transaction(
    make_user: UserFactory, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    to_bob = await subscribe(services, bob)
    actor = await services.accounts.authenticate(alice.token or "")
    assert actor is not None

    async def failing_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(services.governance, "audit", failing_audit)
    with pytest.raises(RuntimeError):
        await services.contacts.check_send_request(actor, handle="bob", message="hi")
    monkeypatch.undo()
    assert await drain(to_bob) == []
    assert (await bob.friend_requests())["items"] == []
    assert (await alice.friend_requests("outgoing"))["items"] == []


async def test_audit_rows(make_user: UserFactory, services: Services) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    sent = await alice.send_friend_request(handle="bob", message="hi")
    await bob.accept_request(sent["id"])
    declined = await carol.send_friend_request(handle="alice")
    await alice.decline_request(declined["id"])
    ignored = await carol.send_friend_request(handle="alice")
    await alice.ignore_request(ignored["id"])
    await carol.cancel_request(ignored["id"])
    await alice.update_friend(me(bob)["id"], remark="B")
    await alice.remove_friend(me(bob)["id"])
    await alice.block(me(carol)["id"])
    await alice.unblock(me(carol)["id"])
    label = await alice.create_label("Work")
    await alice.rename_label(label["id"], "Office")
    await alice.delete_label(label["id"])

    async def tags(target_type: str, target_id: str) -> list[tuple[str, str | None]]:
        async with services.db.read() as conn:
            rows = await list_audit_for_target(conn, target_type, target_id)  # type: ignore[arg-type]
        return [(row["tag"], row["actor_id"]) for row in rows if row["tag"].startswith("contacts:")]

    a, b, c = me(alice)["id"], me(bob)["id"], me(carol)["id"]
    assert await tags("contact_request", sent["id"]) == [
        ("contacts:request:create", a),
        ("contacts:request:accept", b),
    ]
    assert await tags("contact_request", declined["id"]) == [
        ("contacts:request:create", c),
        ("contacts:request:decline", a),
    ]
    assert await tags("contact_request", ignored["id"]) == [
        ("contacts:request:create", c),
        ("contacts:request:ignore", a),
        ("contacts:request:cancel", c),
    ]
    assert await tags("account", b) == [
        ("contacts:friend:update", a),
        ("contacts:friend:remove", a),
    ]
    assert await tags("account", c) == [
        ("contacts:block:create", a),
        ("contacts:block:remove", a),
    ]
    assert await tags("contact_label", label["id"]) == [
        ("contacts:label:create", a),
        ("contacts:label:rename", a),
        ("contacts:label:delete", a),
    ]


async def test_failed_writes_leave_no_audit_row(make_user: UserFactory, services: Services) -> None:
    alice = await make_user("alice")
    await make_user("bob")
    for call in (
        alice.send_friend_request(handle="bob", message="x" * 300),  # over the limit
        alice.send_friend_request(handle="alice"),
        alice.block(me(alice)["id"]),
        alice.create_label(""),
    ):
        with pytest.raises(ApiError):
            await call
    async with services.db.read() as conn:
        rows = await list_audit_for_target(conn, "account", me(alice)["id"])  # type: ignore[arg-type]
    assert [row["tag"] for row in rows if row["tag"].startswith("contacts:")] == []


class _BlockWord:
    """A policy that blocks friend requests whose message contains a word."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.seen: list[PolicyEvent] = []

    async def evaluate(self, event: PolicyEvent) -> Decision:
        self.seen.append(event)
        if self.word in event.text.get("message", ""):
            hit = RuleHit("r-spam", "3.1 Spam", "The message looks like spam.")
            return Decision(Verdict.BLOCK, (hit,))
        return Decision.allow()


async def test_governance_decides_on_requests(make_user: UserFactory, services: Services) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    policy = _BlockWord("casino")
    services.governance.policy = policy
    with pytest.raises(ApiError) as err:
        await alice.send_friend_request(handle="bob", message="best casino in town")
    assert (err.value.status, err.value.code) == (422, "policy_blocked")
    assert err.value.details["rules"][0]["rule_id"] == "r-spam"
    assert (await bob.friend_requests())["items"] == []
    sent = await alice.send_friend_request(handle="bob", message="hi from the park")
    await bob.accept_request(sent["id"])
    kinds = [(e.kind.value, e.subject_type) for e in policy.seen]
    assert kinds == [
        ("contact.request", "account"),
        ("contact.request", "account"),
        ("contact.respond", "contact_request"),
    ]
    assert policy.seen[1].text == {"message": "hi from the park"}


async def test_capabilities_follow_account_state(
    make_user: UserFactory, services: Services
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await make_user("carol")
    request = await bob.send_friend_request(handle="alice")
    async with services.db.write() as tx:
        await accounts_store.update_account(
            tx.conn, me(alice)["id"], services.clock.now(), state="limited"
        )
    with pytest.raises(ApiError) as err:
        await alice.send_friend_request(handle="carol")
    assert (err.value.status, err.value.code) == (403, "capability_denied")
    # A limited account still manages the contacts it has, and can always block.
    await alice.accept_request(request["id"])
    await alice.block(me(bob)["id"])


@contextmanager
def count_queries(services: Services) -> Iterator[list[str]]:
    db = cast(Any, services.db)
    engine = db._sync_engine or db._async_engine.sync_engine  # no public accessor yet
    statements: list[str] = []
    # Only this request's queries: background work (the stream tailer's poll, the policy
    # listener) may run meanwhile and is not what the assertion is about.
    task = asyncio.current_task()

    def record(*args: Any) -> None:
        if asyncio.current_task() is task:
            statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_lists_do_not_query_per_item(make_user: UserFactory, services: Services) -> None:
    hub = await make_user("hub")
    label = await hub.create_label("All")
    costs: list[tuple[int, int, int]] = []
    for round_ in range(2):
        for i in range(2 if round_ == 0 else 4):
            friend = await make_user(f"friend_{round_}_{i}")
            request = await friend.send_friend_request(handle="hub")
            await hub.accept_request(request["id"], label_ids=[label["id"]])
            pending = await make_user(f"asker_{round_}_{i}")
            await pending.send_friend_request(handle="hub")
        with count_queries(services) as friends_queries:
            page = await hub.friends()
        with count_queries(services) as filtered_queries:
            await hub.friends(label_id=label["id"])
        with count_queries(services) as request_queries:
            requests = await hub.friend_requests()
        assert len(page["items"]) == len(requests["items"]) == (2 if round_ == 0 else 6)
        costs.append((len(friends_queries), len(filtered_queries), len(request_queries)))
    assert all(count > 0 for count in costs[0]), costs  # the requests' own queries are seen
    assert costs[0] == costs[1], costs

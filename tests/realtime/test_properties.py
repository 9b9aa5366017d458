"""Properties of the stream: resume is exact under any interleaving, and for every contacts
event type, the initial state fetched over HTTP plus the events equals a fresh fetch."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courtyard.client import ApiError, CourtyardClient, StreamClient
from courtyard.container import Services
from courtyard.realtime.model import EventDraft
from tests.conftest import UserFactory

Opener = Any
_examples = itertools.count()
PROPERTY = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def me(client: CourtyardClient) -> dict[str, str]:
    account: dict[str, str] = client.account  # type: ignore[attr-defined]
    return account


async def append(services: Services, account_id: str, count: int) -> list[int]:
    drafts = [EventDraft(kind="test.n", payload={}, account_id=account_id) for _ in range(count)]
    async with services.db.write() as tx:
        return await services.realtime.append(tx, drafts)


steps_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("produce"), st.sampled_from(["me", "other"]), st.integers(1, 3)),
        st.tuples(st.just("read"), st.just(""), st.just(0)),
        st.tuples(st.just("disconnect"), st.just(""), st.just(0)),
        st.tuples(st.just("reconnect"), st.just(""), st.integers(0, 3)),
    ),
    max_size=12,
)


@PROPERTY
@given(steps=steps_strategy)
async def test_any_interleaving_delivers_each_event_exactly_once_in_order(
    make_user: UserFactory, services: Services, open_stream: Opener, steps: list[Any]
) -> None:
    n = next(_examples)
    receiver = await make_user(f"recv_{n}")
    mine, other = me(receiver)["id"], f"{n:026d}"
    expected: list[int] = []
    received: list[int] = []
    stream: StreamClient | None = await open_stream(receiver)
    assert stream is not None
    cursor = await stream.register(None)

    async def read_outstanding() -> None:
        assert stream is not None
        while len(received) < len(expected):
            frame = await asyncio.wait_for(stream.next_event(), 5)
            received.append(frame["id"])

    for op, who, count in steps:
        if op == "produce":
            ids = await append(services, mine if who == "me" else other, count)
            if who == "me":
                expected.extend(ids)
        elif op == "read" and stream is not None:
            await read_outstanding()
        elif op == "disconnect" and stream is not None:
            await stream.close()
            cursor = received[-1] if received else cursor
            stream = None
        elif op == "reconnect" and stream is None:
            stream = await open_stream(receiver)
            # Events committed while the replay runs must come exactly once as well.
            _, racing = await asyncio.gather(stream.register(cursor), append(services, mine, count))
            expected.extend(racing)
    if stream is None:
        stream = await open_stream(receiver)
        await stream.register(received[-1] if received else cursor)
    await read_outstanding()
    assert received == expected
    assert all(a < b for a, b in itertools.pairwise(received))


# ---- initial state + events = fresh fetch -------------------------------------------------


async def fetch_state(client: CourtyardClient) -> dict[str, Any]:
    incoming = (await client.friend_requests("incoming", limit=100))["items"]
    outgoing = (await client.friend_requests("outgoing", limit=100))["items"]
    friends = (await client.friends(limit=100))["items"]
    return {
        "incoming": {r["id"]: r for r in incoming},
        "outgoing": {r["id"] for r in outgoing},
        "friends": {f["profile"]["id"] for f in friends},
    }


def apply_event(state: dict[str, Any], event: dict[str, Any]) -> None:
    kind, data = event["kind"], event["data"]
    if kind == "contacts.request.received":
        state["incoming"][data["request"]["id"]] = data["request"]
    elif kind == "contacts.request.cancelled":
        state["incoming"].pop(data["request_id"], None)
    elif kind == "contacts.request.accepted":
        state["outgoing"].discard(data["request_id"])
        state["friends"].add(data["friend"]["profile"]["id"])
    elif kind == "contacts.request.declined":
        state["outgoing"].discard(data["request_id"])
    elif kind == "contacts.friend.removed":
        state["friends"].discard(data["account_id"])
    else:
        raise AssertionError(f"unexpected event {kind}")


OTHERS = 3
others_ops = st.lists(
    st.tuples(
        st.sampled_from(["request", "cancel", "accept", "decline", "ignore", "remove"]),
        st.integers(0, OTHERS - 1),
    ),
    max_size=12,
)


@PROPERTY
@given(sent_first=st.sets(st.integers(0, OTHERS - 1)), ops=others_ops)
async def test_initial_state_plus_events_equals_a_fresh_fetch(
    make_user: UserFactory,
    open_stream: Opener,
    sent_first: set[int],
    ops: list[tuple[str, int]],
) -> None:
    n = next(_examples)
    alice = await make_user(f"alice_{n}")
    others = [await make_user(f"other_{n}_{k}") for k in range(OTHERS)]
    for k in sorted(sent_first):
        await alice.send_friend_request(account_id=me(others[k])["id"])

    stream = await open_stream(alice)
    await stream.register(None)
    state = await fetch_state(alice)
    produced = 0
    for op, k in ops:
        actor = others[k]
        try:
            if op == "request":
                await actor.send_friend_request(account_id=me(alice)["id"])
            elif op == "remove":
                await actor.remove_friend(me(alice)["id"])
            elif op == "cancel":
                for r in (await actor.friend_requests("outgoing"))["items"]:
                    await actor.cancel_request(r["id"])
            else:
                for r in (await actor.friend_requests("incoming"))["items"]:
                    await getattr(actor, f"{op}_request")(r["id"])
        except ApiError:
            pass
    produced = len((await alice.events(stream.cursor or 0, limit=1000))["items"])
    for _ in range(produced):
        apply_event(state, await asyncio.wait_for(stream.next_event(), 5))
    assert state == await fetch_state(alice)

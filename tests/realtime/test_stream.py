"""The WebSocket stream: authentication, register, live events, resume, privacy, limits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.client import connect

from courtyard.client import CourtyardClient, StreamClient, StreamError
from courtyard.container import Services
from courtyard.core import json
from courtyard.realtime.model import EventDraft
from tests.conftest import UserFactory

Opener = Any


def me(client: CourtyardClient) -> dict[str, str]:
    account: dict[str, str] = client.account  # type: ignore[attr-defined]
    return account


async def event(stream: StreamClient, within: float = 5) -> dict[str, Any]:
    return await asyncio.wait_for(stream.next_event(), within)


async def nothing_more(stream: StreamClient, wait: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(stream.next_event(), wait)


async def test_auth_is_required(stream_url: str) -> None:
    async with connect(stream_url) as ws:
        await ws.send(json.dumps_str({"type": "register", "cursor": None}))
        frame = json.loads(await ws.recv())
        assert frame["type"] == "error"
        assert frame["error"]["code"] == "unauthenticated"
        await ws.wait_closed()
        assert ws.close_code == 4401


async def test_a_bad_token_is_refused(stream_url: str) -> None:
    stream = StreamClient(stream_url, "not-a-token")
    await stream.connect()
    with pytest.raises(StreamError) as err:
        await stream.register(None)
    assert err.value.code == "unauthenticated"
    await stream.ws.wait_closed()
    assert stream.ws.close_code == 4401


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "malformed_json"),
        ("[1, 2]", "invalid_frame"),
        ('{"type": "register", "cursor": "x"}', "invalid_cursor"),
        ('{"type": "register", "cursor": -1}', "invalid_cursor"),
        ('{"type": "hello"}', "not_registered"),
    ],
)
async def test_protocol_errors_close_cleanly(
    make_user: UserFactory, open_stream: Opener, frame: str, code: str
) -> None:
    alice = await make_user("alice")
    stream = await open_stream(alice)
    await stream.ws.send(frame)
    with pytest.raises(StreamError) as err:
        await stream.receive()
    assert err.value.code == code
    await stream.ws.wait_closed()
    assert stream.ws.close_code == 4400


async def test_unknown_frame_after_register(make_user: UserFactory, open_stream: Opener) -> None:
    alice = await make_user("alice")
    stream = await open_stream(alice)
    await stream.register(None)
    await stream.send({"type": "subscribe"})
    with pytest.raises(StreamError) as err:
        await stream.receive()
    assert err.value.code == "unknown_type"


async def test_the_session_cookie_authenticates(make_user: UserFactory, stream_url: str) -> None:
    alice = await make_user("alice")
    headers = {"Cookie": f"cy_session={alice.token}"}
    async with connect(stream_url, additional_headers=headers) as ws:
        await ws.send(json.dumps_str({"type": "register", "cursor": None}))
        assert json.loads(await ws.recv())["type"] == "registered"
    # A cookie sent from another site's page is not honoured.
    headers["Origin"] = "http://evil.example"
    async with connect(stream_url, additional_headers=headers) as ws:
        await ws.send(json.dumps_str({"type": "register", "cursor": None}))
        assert json.loads(await ws.recv())["error"]["code"] == "unauthenticated"


async def test_live_events_arrive_once_in_order(
    make_user: UserFactory, open_stream: Opener
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    stream = await open_stream(bob)
    start = await stream.register(None)
    first = await alice.send_friend_request(handle="bob", message="hi")
    second = await carol.send_friend_request(handle="bob")
    one = await event(stream)
    two = await event(stream)
    assert start < one["id"] < two["id"]
    assert one["kind"] == two["kind"] == "contacts.request.received"
    assert one["data"]["request"]["id"] == first["id"]
    assert one["data"]["request"]["message"] == "hi"
    assert two["data"]["request"]["id"] == second["id"]
    await stream.ack()
    await nothing_more(stream)


async def test_resume_gets_exactly_the_missed_events(
    make_user: UserFactory, open_stream: Opener
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    stream = await open_stream(alice)
    await stream.register(None)
    sent = await alice.send_friend_request(handle="bob")
    await bob.accept_request(sent["id"])
    accepted = await event(stream)
    assert accepted["kind"] == "contacts.request.accepted"
    await stream.close()

    await bob.remove_friend(me(alice)["id"])
    again = await bob.send_friend_request(handle="alice")
    await alice.decline_request(again["id"])  # alice's own action: no event to alice
    third = await bob.send_friend_request(handle="alice")

    resumed = await open_stream(alice)
    assert await resumed.register(accepted["id"]) == accepted["id"]
    got = [await event(resumed) for _ in range(3)]
    assert [e["kind"] for e in got] == [
        "contacts.friend.removed",
        "contacts.request.received",
        "contacts.request.received",
    ]
    assert got[2]["data"]["request"]["id"] == third["id"]
    assert [e["id"] for e in got] == sorted({e["id"] for e in got})
    await nothing_more(resumed)
    # The HTTP fallback returns the same events.
    page = await alice.events(accepted["id"])
    assert [(e["id"], e["kind"], e["data"]) for e in page["items"]] == [
        (e["id"], e["kind"], e["data"]) for e in got
    ]
    assert page["cursor"] == got[-1]["id"]


async def test_events_of_others_never_arrive(make_user: UserFactory, open_stream: Opener) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    watcher = await open_stream(carol)
    await watcher.register(0)
    sent = await alice.send_friend_request(handle="bob")
    await bob.accept_request(sent["id"])
    await bob.remove_friend(me(alice)["id"])
    await nothing_more(watcher)
    assert (await carol.events())["items"] == []
    late = await open_stream(carol)
    await late.register(0)
    await nothing_more(late)


async def test_a_rolled_back_write_leaves_no_event(
    make_user: UserFactory, services: Services, open_stream: Opener
) -> None:
    bob = await make_user("bob")
    stream = await open_stream(bob)
    await stream.register(None)
    draft = EventDraft(kind="test.rolled_back", payload={}, account_id=me(bob)["id"])

    async def append_then_fail() -> None:
        async with services.db.write() as tx:
            await services.realtime.append(tx, [draft])
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        await append_then_fail()
    committed = EventDraft(kind="test.committed", payload={"n": 1}, account_id=me(bob)["id"])
    async with services.db.write() as tx:
        [stream_id] = await services.realtime.append(tx, [committed])
    got = await event(stream)
    assert (got["kind"], got["id"], got["data"]) == ("test.committed", stream_id, {"n": 1})
    assert [e["kind"] for e in (await bob.events())["items"]] == ["test.committed"]


async def test_register_without_cursor_starts_at_the_current_position(
    make_user: UserFactory, open_stream: Opener
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await alice.send_friend_request(handle="bob")
    stream = await open_stream(bob)
    position = await stream.register(None)
    assert position == (await bob.events())["cursor"]
    await nothing_more(stream)


async def test_http_fallback_needs_a_session(make_client: Any) -> None:
    from courtyard.client import ApiError

    with pytest.raises(ApiError) as err:
        await make_client().events()
    assert err.value.status == 401


class _LosingBus:
    """A bus that loses every wake-up."""

    async def publish(self, channel: str, payload: bytes) -> None:
        return None


async def test_a_lost_wake_up_is_covered_by_the_poll(
    make_user: UserFactory,
    services: Services,
    open_stream: Opener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bob = await make_user("bob")
    stream = await open_stream(bob)
    await stream.register(None)
    monkeypatch.setattr(services.realtime, "local_wake", None)
    monkeypatch.setattr(services.realtime, "_bus", _LosingBus())
    draft = EventDraft(kind="test.unannounced", payload={}, account_id=me(bob)["id"])
    async with services.db.write() as tx:
        [stream_id] = await services.realtime.append(tx, [draft])
    got = await event(stream, within=5)  # the tailer polls every second
    assert (got["id"], got["kind"]) == (stream_id, "test.unannounced")

"""Direct conversations as their two people rely on them: who can open one, where it lands,
what a block does, idempotent sends, history, recall, delete-for-me, forward, read markers,
per-member settings, and a restricted sender refused over HTTP and over the socket."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from courtyard.client import ApiError, CourtyardClient
from courtyard.container import Services
from courtyard.core.clock import FakeClock
from courtyard.governance.model import AccountState
from tests.accounts._helpers import set_state
from tests.chats.conftest import befriend, me
from tests.conftest import UserFactory

Opener = Any


async def fails(call: Awaitable[Any], code: str, status: int | None = None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await call
    assert caught.value.code == code, caught.value
    if status is not None:
        assert caught.value.status == status, caught.value
    return caught.value


async def ids_in(client: CourtyardClient, box: str = "inbox") -> list[str]:
    return [c["id"] for c in (await client.conversations(box=box))["items"]]


async def replayed(client: CourtyardClient, kind: str) -> list[dict[str, Any]]:
    items = (await client.events(0, limit=1000))["items"]
    return [e["data"] for e in items if e["kind"] == kind]


async def next_frame(stream: Any, *types: str) -> dict[str, Any]:
    while True:
        frame = await asyncio.wait_for(stream.receive(), 5)
        if frame["type"] in types:
            return dict(frame)


# ---- opening ----------------------------------------------------------------------------


async def test_friends_open_one_conversation_in_both_inboxes(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conv = await alice.open_direct(me(bob)["id"])
    assert conv["kind"] == "direct"
    assert conv["peer_id"] == me(bob)["id"]
    assert conv["request"] is False
    # Either side opening it again gets the same conversation.
    assert (await bob.open_direct(me(alice)["id"]))["id"] == conv["id"]
    assert (await alice.open_direct(me(bob)["id"]))["id"] == conv["id"]
    assert await ids_in(alice) == [conv["id"]]
    assert await ids_in(bob) == [conv["id"]]
    assert await ids_in(bob, "requests") == []
    await fails(alice.open_direct(me(alice)["id"]), "direct_with_self", 422)


async def test_a_stranger_lands_in_the_requests_box_until_accepted(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    conv = await alice.open_direct(me(bob)["id"])
    await alice.send_message(conv["id"], "hi, we met at the fair", client_id="s1")
    assert await ids_in(bob) == []
    assert await ids_in(bob, "requests") == [conv["id"]]
    assert (await bob.conversation(conv["id"]))["request"] is True
    # The request is readable before it is accepted.
    page = await bob.messages(conv["id"])
    assert [m["text"] for m in page["items"]] == ["hi, we met at the fair"]
    accepted = await bob.accept_message_request(conv["id"])
    assert accepted["request"] is False
    assert await ids_in(bob) == [conv["id"]]
    assert await ids_in(bob, "requests") == []
    assert {e["request"] for e in await replayed(bob, "chat.settings")} == {False}


async def test_replying_to_a_request_accepts_it(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    conv = await alice.open_direct(me(bob)["id"])
    await alice.send_message(conv["id"], "hello?", client_id="s1")
    assert await ids_in(bob, "requests") == [conv["id"]]
    await bob.send_message(conv["id"], "hello!", client_id="r1")
    assert await ids_in(bob) == [conv["id"]]
    assert await ids_in(bob, "requests") == []


async def test_allow_strangers_puts_strangers_in_the_inbox(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    assert (await bob.chat_preferences()) == {"allow_strangers": False}
    assert (await bob.chat_preferences(allow_strangers=True)) == {"allow_strangers": True}
    assert (await bob.chat_preferences()) == {"allow_strangers": True}
    conv = await alice.open_direct(me(bob)["id"])
    assert await ids_in(bob) == [conv["id"]]
    assert await ids_in(bob, "requests") == []


@pytest.mark.parametrize("blocker", ["recipient", "sender"])
async def test_a_block_either_way_hides_the_account(make_user: UserFactory, blocker: str) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conv = await alice.open_direct(me(bob)["id"])
    await alice.send_message(conv["id"], "before", client_id="b0")
    if blocker == "recipient":
        await bob.block(me(alice)["id"])
    else:
        await alice.block(me(bob)["id"])
    await fails(alice.open_direct(me(bob)["id"]), "account_not_found", 404)
    await fails(bob.open_direct(me(alice)["id"]), "account_not_found", 404)
    await fails(
        alice.send_message(conv["id"], "after", client_id="b1"), "recipient_unavailable", 403
    )
    await fails(bob.send_message(conv["id"], "after", client_id="b2"), "recipient_unavailable", 403)
    assert [m["text"] for m in (await bob.messages(conv["id"]))["items"]] == ["before"]


async def test_a_stranger_with_a_block_cannot_open(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await bob.block(me(alice)["id"])
    await fails(alice.open_direct(me(bob)["id"]), "account_not_found", 404)
    await fails(alice.open_direct("0" * 26), "account_not_found", 404)
    assert await ids_in(bob, "requests") == []


# ---- sending ----------------------------------------------------------------------------


async def test_send_is_idempotent_by_client_id(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conv = await alice.open_direct(me(bob)["id"])
    first = await alice.send_message(conv["id"], "once", client_id="k1")
    again = await alice.send_message(conv["id"], "once", client_id="k1")
    assert again == first
    await fails(alice.send_message(conv["id"], "twice", client_id="k1"), "client_id_reused", 422)
    # Concurrent retries of the same send create one message.
    results = await asyncio.gather(
        *(alice.send_message(conv["id"], "burst", client_id="k2") for _ in range(5))
    )
    assert len({r["id"] for r in results}) == 1
    # Another sender may use the same client id: keys are per sender.
    other = await bob.send_message(conv["id"], "once", client_id="k1")
    assert other["id"] != first["id"]
    page = await bob.messages(conv["id"])
    assert [m["seq"] for m in page["items"]] == [3, 2, 1]
    assert [m["text"] for m in page["items"]] == ["once", "burst", "once"]


async def test_history_pages_newest_first_and_catches_up_oldest_first(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conv = await alice.open_direct(me(bob)["id"])
    for n in range(1, 8):
        await alice.send_message(conv["id"], f"m{n}", client_id=f"c{n}")
    seen: list[int] = []
    before: int | None = None
    while True:
        page = await bob.messages(conv["id"], before=before, limit=3)
        seen += [m["seq"] for m in page["items"]]
        if page["next_cursor"] is None:
            break
        before = int(page["next_cursor"])
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    up = await bob.messages(conv["id"], after=2, limit=3)
    assert [m["seq"] for m in up["items"]] == [3, 4, 5]
    rest = await bob.messages(conv["id"], after=int(up["next_cursor"]), limit=3)
    assert [m["seq"] for m in rest["items"]] == [6, 7]
    assert rest["next_cursor"] is None
    assert (await bob.messages(conv["id"], before=1))["items"] == []


async def test_recall_within_the_window_erases_the_text_everywhere(
    make_user: UserFactory, clock: FakeClock
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conv = await alice.open_direct(me(bob)["id"])
    secret = await alice.send_message(conv["id"], "the secret is 42", client_id="r1")
    late = await alice.send_message(conv["id"], "this one stays", client_id="r2")
    await fails(bob.recall_message(conv["id"], secret["id"]), "not_allowed", 403)
    clock.advance(seconds=119)
    recalled = await alice.recall_message(conv["id"], secret["id"])
    assert recalled["recalled"] is True
    assert recalled["text"] == ""
    await fails(alice.recall_message(conv["id"], secret["id"]), "message_recalled", 409)
    clock.advance(seconds=2)  # late was sent 121 s ago
    await fails(alice.recall_message(conv["id"], late["id"]), "recall_window_passed", 409)
    for client in (alice, bob):
        items = (await client.messages(conv["id"]))["items"]
        assert [(m["text"], m["recalled"]) for m in items] == [
            ("this one stays", False),
            ("", True),
        ]
        events = (await client.events(0, limit=1000))["items"]
        assert "the secret is 42" not in str(events)
        messages = [e["data"] for e in events if e["kind"] == "chat.message"]
        assert [m["recalled"] for m in messages] == [True, False]
        notices = [e["data"] for e in events if e["kind"] == "chat.message.recalled"]
        assert notices == [
            {
                "conversation_id": conv["id"],
                "message_id": secret["id"],
                "seq": 1,
                "by": me(alice)["id"],
            }
        ]
    # A retry of the recalled send does not resurrect it.
    retry = await alice.send_message(conv["id"], "the secret is 42", client_id="r1")
    assert retry["recalled"] is True
    assert retry["text"] == ""


async def test_delete_for_me_hides_only_for_that_person(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conv = await alice.open_direct(me(bob)["id"])
    one = await alice.send_message(conv["id"], "one", client_id="h1")
    await alice.send_message(conv["id"], "two", client_id="h2")
    await bob.hide_message(conv["id"], one["id"])
    await bob.hide_message(conv["id"], one["id"])  # twice is fine
    assert [m["text"] for m in (await bob.messages(conv["id"]))["items"]] == ["two"]
    assert [m["text"] for m in (await alice.messages(conv["id"]))["items"]] == ["two", "one"]
    hidden = await replayed(bob, "chat.message.hidden")
    assert hidden
    assert all(e == {"conversation_id": conv["id"], "message_id": one["id"]} for e in hidden)
    assert await replayed(alice, "chat.message.hidden") == []
    await fails(bob.hide_message(conv["id"], "0" * 26), "message_not_found", 404)


async def test_forward_counts_hops(make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await befriend(alice, bob)
    await befriend(bob, carol)
    ab = await alice.open_direct(me(bob)["id"])
    bc = await bob.open_direct(me(carol)["id"])
    original = await alice.send_message(ab["id"], "pass it on", client_id="f1")
    assert original["hops"] == 0
    [copy] = await bob.forward_message(ab["id"], original["id"], [bc["id"]], client_id="fw")
    assert copy["hops"] == 1
    assert copy["text"] == "pass it on"
    assert copy["conversation_id"] == bc["id"]
    assert copy["sender_id"] == me(bob)["id"]
    # The forward is idempotent too.
    again = await bob.forward_message(ab["id"], original["id"], [bc["id"]], client_id="fw")
    assert [m["id"] for m in again] == [copy["id"]]
    back = await carol.forward_message(bc["id"], copy["id"], [bc["id"]], client_id="fw2")
    assert back[0]["hops"] == 2
    # Carol cannot forward from a conversation she is not in, nor into one.
    await fails(
        carol.forward_message(ab["id"], original["id"], [bc["id"]], client_id="x"),
        "conversation_not_found",
        404,
    )
    await fails(
        carol.forward_message(bc["id"], copy["id"], [ab["id"]], client_id="y"),
        "conversation_not_found",
        404,
    )
    recalled = await alice.send_message(ab["id"], "oops", client_id="f2")
    await alice.recall_message(ab["id"], recalled["id"])
    await fails(
        bob.forward_message(ab["id"], recalled["id"], [bc["id"]], client_id="z"),
        "message_recalled",
        409,
    )


async def test_mark_read_and_unread_counts(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conv = await alice.open_direct(me(bob)["id"])
    for n in range(4):
        await alice.send_message(conv["id"], f"m{n}", client_id=f"u{n}")
    await bob.send_message(conv["id"], "mine", client_id="b")

    async def unread(client: CourtyardClient) -> int:
        [listed] = (await client.conversations())["items"]
        return int(listed["unread"])

    assert await unread(bob) == 4
    assert await unread(alice) == 1
    assert (await bob.mark_read(conv["id"], 2))["seq"] == 2
    assert await unread(bob) == 2
    # The marker never moves back, and never beyond the last message.
    assert (await bob.mark_read(conv["id"], 1))["seq"] == 2
    assert (await bob.mark_read(conv["id"], 99))["seq"] == 5
    assert await unread(bob) == 0
    assert (await bob.conversation(conv["id"]))["read_seq"] == 5
    assert [e["seq"] for e in await replayed(bob, "chat.read")] == [2, 5]
    assert await replayed(alice, "chat.read") == []


async def test_per_member_settings_are_private(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conv = await alice.open_direct(me(bob)["id"])
    out = await bob.conversation_settings(conv["id"], pinned=True, notifications_muted=True)
    assert (out["pinned"], out["notifications_muted"], out["archived"]) == (True, True, False)
    out = await bob.conversation_settings(conv["id"], archived=True, pinned=False)
    assert (out["pinned"], out["notifications_muted"], out["archived"]) == (False, True, True)
    mine = await alice.conversation(conv["id"])
    assert (mine["pinned"], mine["notifications_muted"], mine["archived"]) == (False, False, False)
    settings_events = await replayed(bob, "chat.settings")
    assert settings_events[-1] == {
        "conversation_id": conv["id"],
        "notifications_muted": True,
        "pinned": False,
        "archived": True,
        "request": False,
    }
    assert await replayed(alice, "chat.settings") == []


# ---- a restricted sender ------------------------------------------------------------------


@pytest.mark.parametrize("state", [AccountState.LIMITED, AccountState.SUSPENDED])
async def test_a_restricted_sender_is_refused_over_http(
    make_user: UserFactory, services: Services, state: AccountState
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conv = await alice.open_direct(me(bob)["id"])
    await set_state(services, me(alice)["id"], state)
    error = await fails(
        alice.send_message(conv["id"], "still here?", client_id="x"), "capability_denied", 403
    )
    assert error.details["capability"] == "send"
    await fails(alice.open_direct(me(bob)["id"]), "capability_denied", 403)
    assert (await bob.messages(conv["id"]))["items"] == []


async def test_a_restricted_sender_is_refused_over_the_socket(
    make_user: UserFactory, services: Services, open_stream: Opener
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conv = await alice.open_direct(me(bob)["id"])
    # Opened while the account was active: the socket's own idea of the account is stale.
    stream = await open_stream(alice)
    await stream.register(None)
    await stream.send(
        {"type": "send", "client_id": "w1", "conversation_id": conv["id"], "text": "ok"}
    )
    ack = await next_frame(stream, "ack", "send_error")
    assert ack["type"] == "ack"
    await set_state(services, me(alice)["id"], AccountState.LIMITED)
    await stream.send(
        {"type": "send", "client_id": "w2", "conversation_id": conv["id"], "text": "no"}
    )
    refused = await next_frame(stream, "send_error", "ack")
    assert refused["type"] == "send_error"
    assert refused["client_id"] == "w2"
    assert refused["error"]["code"] == "capability_denied"
    # A socket opened now is refused at once too.
    fresh = await open_stream(alice)
    await fresh.register(None)
    await fresh.send(
        {"type": "send", "client_id": "w3", "conversation_id": conv["id"], "text": "no"}
    )
    refused = await next_frame(fresh, "send_error", "ack")
    assert refused["error"]["code"] == "capability_denied"
    assert [m["text"] for m in (await bob.messages(conv["id"]))["items"]] == ["ok"]


async def test_socket_send_errors_are_typed(make_user: UserFactory, open_stream: Opener) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await befriend(alice, bob)
    conv = await alice.open_direct(me(bob)["id"])
    stream = await open_stream(alice)
    await stream.register(None)
    await stream.send({"type": "send", "client_id": "e1", "conversation_id": "0" * 26, "text": "x"})
    refused = await next_frame(stream, "send_error", "ack")
    assert refused["error"]["code"] == "conversation_not_found"
    await stream.send({"type": "send", "client_id": 5, "conversation_id": conv["id"]})
    refused = await next_frame(stream, "send_error", "ack")
    assert refused["error"]["code"] == "invalid_input"
    await stream.send({"type": "read", "conversation_id": conv["id"], "seq": "x"})
    refused = await next_frame(stream, "error_reply", "read_ok")
    assert refused["error"]["code"] == "invalid_input"
    await alice.send_message(conv["id"], "m", client_id="m")
    await stream.send({"type": "read", "conversation_id": conv["id"], "seq": 1})
    ok = await next_frame(stream, "read_ok", "error_reply")
    assert ok == {"type": "read_ok", "conversation_id": conv["id"], "seq": 1}

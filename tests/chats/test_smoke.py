from __future__ import annotations

from tests.chats.conftest import befriend, me
from tests.conftest import UserFactory


async def test_direct_message_roundtrip(make_user: UserFactory, open_stream) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await befriend(alice, bob)
    conv = await alice.open_direct(me(bob)["id"])
    bob_stream = await open_stream(bob)
    await bob_stream.register(None)
    sent = await alice.send_message(conv["id"], "hello bob", client_id="c1")
    assert sent["seq"] == 1
    event = await bob_stream.next_event()
    assert event["kind"] == "chat.message"
    assert event["data"]["text"] == "hello bob"
    again = await alice.send_message(conv["id"], "hello bob", client_id="c1")
    assert again["id"] == sent["id"]
    page = await bob.messages(conv["id"])
    assert [m["text"] for m in page["items"]] == ["hello bob"]
    listed = await bob.conversations()
    assert listed["items"][0]["unread"] == 1


async def test_group_and_ws_send(make_user: UserFactory, open_stream) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    carol = await make_user("carol")
    await befriend(alice, bob)
    await befriend(alice, carol)
    group = await alice.create_group("Trip", [me(bob)["id"], me(carol)["id"]])
    a_stream = await open_stream(alice)
    await a_stream.register(None)
    c_stream = await open_stream(carol)
    await c_stream.register(None)
    await a_stream.send(
        {"type": "send", "client_id": "x1", "conversation_id": group["id"], "text": "hi all"}
    )
    frames = []
    while len(frames) < 2:
        frame = await a_stream.receive()
        if frame["type"] in {"ack", "event"}:
            frames.append(frame)
    assert {f["type"] for f in frames} == {"ack", "event"}
    event = await c_stream.next_event()
    assert event["data"]["text"] == "hi all"
    await alice.remove_member(group["id"], me(carol)["id"])
    removed = await c_stream.next_event()
    assert removed["kind"] == "chat.member.removed"
    await alice.send_message(group["id"], "after", client_id="x2")
    assert (await bob.messages(group["id"]))["items"][0]["text"] == "after"

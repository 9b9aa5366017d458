"""A user outside a conversation can never read it, by any route.

Hypothesis drives random sequences of group membership changes (create, invite, remove,
leave, rejoin by link) with messages sent at every step; afterwards, for every account,
history over HTTP, replay over ``GET /api/v1/events`` and live delivery on a WebSocket opened
before the sequence each reveal exactly the messages sent while that account was a member:
each once, in order, and nothing from before it joined or after it left.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courtyard.client import CourtyardClient
from tests.chats.conftest import befriend, me
from tests.chats.test_direct import fails
from tests.conftest import UserFactory

Opener = Any
PEOPLE = 4  # 0 is the owner, who stays; 1..3 come and go
_examples = itertools.count()

PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

steps_strategy = st.lists(
    st.tuples(
        st.sampled_from(["invite", "remove", "leave", "link", "flap", "none"]),
        st.integers(1, PEOPLE - 1),  # whom the change is about
        # Who then tries to send (None: nobody, so changes can happen at the same seq).
        st.one_of(st.none(), st.integers(0, PEOPLE - 1)),
    ),
    max_size=12,
)


async def live_messages(
    stream: Any, client: CourtyardClient, cursor: int, conversation_id: str
) -> list[str]:
    """The chat.message ids the socket delivers for the conversation: read exactly as many
    events as the account may see after the socket's cursor, so nothing is missed or awaited
    in vain."""
    expected = len((await client.events(cursor, limit=1000))["items"])
    ids: list[str] = []
    last = cursor
    for _ in range(expected):
        frame = await asyncio.wait_for(stream.next_event(), 5)
        assert frame["id"] > last, "stream ids must increase on a connection"
        last = frame["id"]
        data = frame["data"]
        if frame["kind"] == "chat.message" and data["conversation_id"] == conversation_id:
            ids.append(data["id"])
    return ids


async def change(
    clients: list[CourtyardClient], gid: str, link_id: str, members: set[int], op: str, k: int
) -> None:
    """Apply one membership change (if it makes sense now) and track who is a member."""
    owner, target = clients[0], me(clients[k])["id"]
    if op == "invite" and k not in members:
        await owner.invite_members(gid, [target])
        members.add(k)
    elif op == "remove" and k in members:
        await owner.remove_member(gid, target)
        members.discard(k)
    elif op == "leave" and k in members:
        await clients[k].leave_group(gid)
        members.discard(k)
    elif op == "link" and k not in members:
        await clients[k].join_by_link(link_id)
        members.add(k)
    elif op == "flap" and k in members:
        # Leave and come back twice with no message between, as a flaky client might.
        for _ in range(2):
            await clients[k].leave_group(gid)
            await clients[k].join_by_link(link_id)


@PROPERTY
@given(initial=st.sets(st.integers(1, PEOPLE - 1), min_size=1), steps=steps_strategy)
async def test_only_members_read_a_conversation_by_any_route(
    make_user: UserFactory,
    open_stream: Opener,
    initial: set[int],
    steps: list[tuple[str, int, int | None]],
) -> None:
    n = next(_examples)
    clients = [await make_user(f"p{n}_{k}") for k in range(PEOPLE)]
    owner = clients[0]
    for other in clients[1:]:
        await befriend(owner, other)
    streams = []
    cursors = []
    for client in clients:
        stream = await open_stream(client)
        cursors.append(await stream.register(None))
        streams.append(stream)

    group = await owner.create_group("P", [me(clients[k])["id"] for k in sorted(initial)])
    gid = group["id"]
    link = await owner.create_invite_link(gid)
    members = {0, *initial}
    seen: list[list[str]] = [[] for _ in clients]  # what each may read, in order
    counter = itertools.count()

    async def send(k: int) -> None:
        client_id = f"m{next(counter)}"
        if k in members:
            sent = await clients[k].send_message(gid, f"text {client_id}", client_id=client_id)
            for member in members:
                seen[member].append(sent["id"])
        else:
            await fails(
                clients[k].send_message(gid, "let me in", client_id=client_id),
                "conversation_not_found",
            )

    await send(0)
    for op, k, sender in steps:
        await change(clients, gid, link["id"], members, op, k)
        if sender is not None:
            await send(sender)

    for k, client in enumerate(clients):
        expected = seen[k]
        # (a) history over HTTP: what a member may read; nothing at all for an outsider.
        if k in members:
            page = await client.messages(gid, after=0, limit=100)
            assert [m["id"] for m in page["items"]] == expected, f"history of {k}"
        else:
            await fails(client.messages(gid), "conversation_not_found")
        # (b) replay from the start of the stream.
        replay = (await client.events(0, limit=1000))["items"]
        replayed = [
            e["data"]["id"]
            for e in replay
            if e["kind"] == "chat.message" and e["data"]["conversation_id"] == gid
        ]
        assert replayed == expected, f"replay of {k}"
        # (c) live delivery on the socket opened before it all.
        live = await live_messages(streams[k], client, cursors[k], gid)
        assert live == expected, f"live delivery to {k}"

"""Initial state + events = a fresh fetch, for every chats event type.

``apply_event`` is the reference for how a client keeps its chats state: the conversation
list with each conversation's details, members and history, and the invitation cards waiting
for it. The only fetch it does is for a conversation it has just been let into (it knows
nothing of it yet); everything else is applied from the events' data.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from courtyard.client import CourtyardClient
from courtyard.core.clock import FakeClock
from tests.chats.conftest import befriend, me
from tests.conftest import UserFactory

Opener = Any
State = dict[str, Any]

CONVERSATION_FIELDS = (
    "kind",
    "name",
    "owner_id",
    "announcement",
    "owner_approval",
    "proposed_owner_id",
    "dissolved",
    "member_count",
    "last_seq",
    "read_seq",
    "notifications_muted",
    "pinned",
    "archived",
    "request",
)
MEMBER_FIELDS = ("role", "nickname", "muted_until")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"group_invite_accept_threshold": 3}


def _member(data: dict[str, Any]) -> dict[str, Any]:
    return {name: data[name] for name in MEMBER_FIELDS}


def _iso(value: str | None) -> str | None:
    # Normalise "+00:00" against "Z" so HTTP and event timestamps compare as the same instant.
    return value.replace("Z", "+00:00") if value else value


async def fetch_conversation(client: CourtyardClient, conversation_id: str) -> dict[str, Any]:
    detail = await client.conversation(conversation_id)
    messages: dict[str, Any] = {}
    after = 0
    while True:
        page = await client.messages(conversation_id, after=after, limit=100)
        for m in page["items"]:
            messages[m["id"]] = {"seq": m["seq"], "text": m["text"], "recalled": m["recalled"]}
        if page["next_cursor"] is None:
            break
        after = int(page["next_cursor"])
    return {
        **{name: detail[name] for name in CONVERSATION_FIELDS},
        "members": {
            m["account_id"]: {**_member(m), "muted_until": _iso(m["muted_until"])}
            for m in detail["members"]
        },
        "pending_approvals": {p["id"] for p in detail["pending_invitations"]},
        "messages": messages,
    }


async def fetch_state(client: CourtyardClient) -> State:
    listed = []
    for box in ("inbox", "requests"):
        listed += (await client.conversations(box=box, limit=100))["items"]
    return {
        "conversations": {c["id"]: await fetch_conversation(client, c["id"]) for c in listed},
        "invitations": {card["id"] for card in await client.invitations()},
    }


async def apply_event(client: CourtyardClient, state: State, event: dict[str, Any]) -> None:  # noqa: PLR0912
    """Apply one chats event to ``state`` as a client would."""
    kind, data = event["kind"], event["data"]
    me_id = me(client)["id"]
    conversations = state["conversations"]
    cid = data.get("conversation_id")
    conv = conversations.get(cid)
    if kind == "chat.invitation":
        if data["invitee_id"] == me_id and data["status"] == "pending_acceptance":
            state["invitations"].add(data["id"])
        if conv is not None and data["status"] == "pending_approval":
            conv["pending_approvals"].add(data["id"])
        return
    if kind == "chat.invitation.closed":
        state["invitations"].discard(data["id"])
        if conv is not None:
            conv["pending_approvals"].discard(data["id"])
        return
    if kind in {"chat.conversation.created", "chat.member.joined"} and conv is None:
        # Let into a conversation we knew nothing about: fetch it once.
        conversations[cid] = await fetch_conversation(client, cid)
        return
    if conv is None:
        return  # an event of a conversation we have left since: nothing to keep
    if kind == "chat.message":
        conv["messages"][data["id"]] = {
            "seq": data["seq"],
            "text": data["text"],
            "recalled": data["recalled"],
        }
        conv["last_seq"] = max(conv["last_seq"], data["seq"])
    elif kind == "chat.message.recalled":
        if data["message_id"] in conv["messages"]:
            conv["messages"][data["message_id"]].update(text="", recalled=True)
    elif kind == "chat.message.hidden":
        conv["messages"].pop(data["message_id"], None)
    elif kind == "chat.read":
        conv["read_seq"] = data["seq"]
    elif kind == "chat.settings":
        for name in ("notifications_muted", "pinned", "archived", "request"):
            conv[name] = data[name]
    elif kind == "chat.conversation.created":
        pass  # already known (the fetch after registering showed it)
    elif kind == "chat.conversation.updated":
        if data["owner_id"] != conv["owner_id"]:
            for account_id, member in conv["members"].items():
                if account_id == data["owner_id"]:
                    member["role"] = "owner"
                elif member["role"] == "owner":
                    member["role"] = "member"
        for name in (
            "name",
            "owner_id",
            "announcement",
            "owner_approval",
            "proposed_owner_id",
            "dissolved",
            "member_count",
        ):
            if name in data:
                conv[name] = data[name]
    elif kind == "chat.member.joined":
        member = data["member"]
        conv["members"][member["account_id"]] = {**_member(member), "muted_until": None}
        conv["member_count"] = len(conv["members"])
    elif kind in {"chat.member.left", "chat.member.removed"}:
        if data["account_id"] == me_id:
            del conversations[cid]
            return
        conv["members"].pop(data["account_id"], None)
        conv["member_count"] = len(conv["members"])
    elif kind == "chat.member.updated":
        member = data["member"]
        conv["members"][member["account_id"]] = {
            **_member(member),
            "muted_until": _iso(member["muted_until"]),
        }
    else:
        raise AssertionError(f"unexpected event {kind}")


class Viewer:
    """One account's socket and state, registered before anything happens."""

    def __init__(self, client: CourtyardClient, stream: Any) -> None:
        self.client = client
        self.stream = stream
        self.cursor = 0
        self.state: State = {}
        self.kinds: set[str] = set()

    async def start(self) -> None:
        self.cursor = await self.stream.register(None)
        self.state = await fetch_state(self.client)

    async def catch_up(self) -> None:
        count = len((await self.client.events(self.cursor, limit=1000))["items"])
        for _ in range(count):
            event = await asyncio.wait_for(self.stream.next_event(), 5)
            self.cursor = event["id"]
            self.kinds.add(event["kind"])
            await apply_event(self.client, self.state, event)

    async def check(self) -> None:
        await self.catch_up()
        assert self.state == await fetch_state(self.client)


ALL_KINDS = {
    "chat.message",
    "chat.message.recalled",
    "chat.message.hidden",
    "chat.read",
    "chat.conversation.created",
    "chat.conversation.updated",
    "chat.member.joined",
    "chat.member.left",
    "chat.member.removed",
    "chat.member.updated",
    "chat.invitation",
    "chat.invitation.closed",
    "chat.settings",
}


async def test_every_event_type_keeps_a_client_in_sync(
    make_user: UserFactory, open_stream: Opener, clock: FakeClock
) -> None:
    alice, bob, carol, dave, erin = [
        await make_user(name) for name in ("alice", "bob", "carol", "dave", "erin")
    ]
    for other in (bob, carol, dave, erin):
        await befriend(alice, other)
    await befriend(bob, dave)
    await befriend(carol, erin)
    # Something exists before the sockets register: the initial fetch must carry it.
    early = await alice.create_group("Early", [me(bob)["id"]])
    await alice.send_message(early["id"], "before", client_id="e0")
    viewers = [Viewer(c, await open_stream(c)) for c in (alice, bob, carol, dave, erin)]
    for viewer in viewers:
        await viewer.start()

    async def check_all() -> None:
        for viewer in viewers:
            await viewer.check()

    ids = {c: me(c)["id"] for c in (alice, bob, carol, dave, erin)}
    # Direct conversations, messages, recall, hide, read, settings, a request box.
    direct = await alice.open_direct(ids[bob])
    m1 = await alice.send_message(direct["id"], "hello", client_id="d1")
    m2 = await bob.send_message(direct["id"], "hi", client_id="d2")
    await alice.recall_message(direct["id"], m1["id"])
    await bob.hide_message(direct["id"], m2["id"])
    await bob.mark_read(direct["id"], 2)
    await bob.conversation_settings(direct["id"], pinned=True, archived=True)
    stranger = await dave.open_direct(ids[erin])
    await dave.send_message(stranger["id"], "hello stranger", client_id="s1")
    await check_all()
    await erin.accept_message_request(stranger["id"])
    await check_all()

    # A group: create, rename, announce, roles, mutes, nicknames, invitations, leave, remove.
    group = await alice.create_group("Trip", [ids[bob], ids[carol]])
    await alice.send_message(group["id"], "welcome", client_id="g1")
    await alice.update_group(group["id"], name="Big trip", announcement="Bring boots")
    await alice.set_member_role(group["id"], ids[bob], "admin")
    await alice.mute_member(group["id"], ids[carol], 30)
    await bob.set_group_nickname(group["id"], "Bobby")
    await check_all()
    await alice.unmute_member(group["id"], ids[carol])
    await alice.update_group(group["id"], owner_approval=True)
    [approval] = await carol.invite_members(group["id"], [ids[erin]])
    assert approval["status"] == "pending_approval"
    await check_all()
    await alice.answer_invitation(approval["id"], "reject")
    await bob.invite_members(group["id"], [ids[dave]])  # an admin's invitation: dave joins
    await check_all()
    [card] = await alice.invite_members(group["id"], [ids[erin]])  # 4 > 3: a card
    assert card["status"] == "pending_acceptance"
    await check_all()
    await erin.answer_invitation(card["id"], "accept")
    await erin.send_message(group["id"], "thanks", client_id="x1")
    await carol.leave_group(group["id"])
    await alice.remove_member(group["id"], ids[dave])
    await check_all()
    await alice.propose_transfer(group["id"], ids[bob])
    await bob.answer_transfer(group["id"], "accept")
    await check_all()
    await bob.dissolve_group(group["id"])
    await check_all()
    seen = set().union(*(v.kinds for v in viewers))
    assert seen == ALL_KINDS


async def test_invitations_closed_by_other_changes_leave_no_stale_cards(
    make_user: UserFactory, open_stream: Opener
) -> None:
    """A card disappears from a fresh fetch when its inviter leaves or the group dissolves;
    the invitee (and the managers) must hear of it."""
    alice, bob, carol, dave, erin = [
        await make_user(name) for name in ("alice", "bob", "carol", "dave", "erin")
    ]
    for other in (bob, carol, dave):
        await befriend(alice, other)
    await befriend(bob, erin)
    group = await alice.create_group("G", [me(bob)["id"], me(carol)["id"], me(dave)["id"]])
    viewers = [Viewer(c, await open_stream(c)) for c in (alice, bob, erin)]
    for viewer in viewers:
        await viewer.start()
    await bob.invite_members(group["id"], [me(erin)["id"]])  # 4 > 3: erin gets a card
    for viewer in viewers:
        await viewer.check()
    await bob.leave_group(group["id"])  # his open invitation is cancelled with him
    for viewer in viewers:
        await viewer.check()

"""Groups as their members rely on them: who may join and how (invitation, acceptance card,
owner approval, links), the roles' powers, mutes, transfer, dissolution, announcements, @all,
the caps, and a group that is invisible to everyone outside it."""

from __future__ import annotations

from typing import Any

import pytest

from courtyard.client import CourtyardClient
from courtyard.core.clock import FakeClock
from tests.chats.conftest import befriend, me
from tests.chats.test_direct import fails, replayed
from tests.conftest import UserFactory

# Small limits so the rules are reachable with a handful of accounts.
CAP = 6
THRESHOLD = 3  # above this many members an invitee must accept
LINK_MAX = 5
ADMIN_CAP = 1


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {
        "group_member_cap": CAP,
        "group_invite_accept_threshold": THRESHOLD,
        "group_invite_link_max_members": LINK_MAX,
        "group_admin_cap": ADMIN_CAP,
    }


async def people(make_user: UserFactory, *names: str) -> list[CourtyardClient]:
    """The first is everyone else's friend."""
    clients = [await make_user(name) for name in names]
    for other in clients[1:]:
        await befriend(clients[0], other)
    return clients


def ids(*clients: CourtyardClient) -> list[str]:
    return [me(c)["id"] for c in clients]


async def members(client: CourtyardClient, conversation_id: str) -> set[str]:
    detail = await client.conversation(conversation_id)
    return {m["account_id"] for m in detail["members"]}


# ---- creating and inviting ---------------------------------------------------------------


async def test_create_with_friends_only(make_user: UserFactory) -> None:
    alice, bob, carol = await people(make_user, "alice", "bob", "carol")
    stranger = await make_user("stranger")
    error = await fails(alice.create_group("Trip", ids(bob, stranger)), "not_a_friend", status=403)
    assert error.details["account_ids"] == ids(stranger)
    await fails(alice.create_group("Alone", ids(alice)), "group_needs_members", 422)
    group = await alice.create_group("  Trip ", ids(bob, carol))
    assert group["name"] == "Trip"
    assert group["role"] == "owner"
    assert group["member_count"] == 3
    for client in (alice, bob, carol):
        assert [c["id"] for c in (await client.conversations())["items"]] == [group["id"]]
    created = await replayed(carol, "chat.conversation.created")
    assert created[0]["owner_id"] == me(alice)["id"]
    joined = await replayed(carol, "chat.member.joined")
    assert {j["member"]["account_id"] for j in joined} == set(ids(bob, carol))
    assert await replayed(stranger, "chat.conversation.created") == []


async def test_small_groups_admit_invitees_at_once_larger_ones_send_a_card(
    make_user: UserFactory,
) -> None:
    alice, bob, carol, dave, erin = await people(make_user, "alice", "bob", "carol", "dave", "erin")
    group = await alice.create_group("G", ids(bob, carol))  # 3 members: at the threshold
    [joined] = await alice.invite_members(group["id"], ids(dave))
    assert joined["status"] == "accepted"
    assert me(dave)["id"] in await members(alice, group["id"])
    # Now 4 > 3: erin must accept.
    [card] = await alice.invite_members(group["id"], ids(erin))
    assert card["status"] == "pending_acceptance"
    assert card["needs_acceptance"] is True
    assert me(erin)["id"] not in await members(alice, group["id"])
    await fails(erin.messages(group["id"]), "conversation_not_found", 404)
    [waiting] = await erin.invitations()
    assert waiting["id"] == card["id"]
    assert waiting["inviter_id"] == me(alice)["id"]
    assert waiting["conversation_name"] == "G"
    assert (await replayed(erin, "chat.invitation"))[0]["id"] == card["id"]
    await fails(alice.invite_members(group["id"], ids(erin)), "already_invited", 409)
    await fails(bob.answer_invitation(card["id"], "accept"), "invitation_not_found", 404)
    await erin.answer_invitation(card["id"], "accept")
    assert me(erin)["id"] in await members(alice, group["id"])
    assert await erin.invitations() == []
    await fails(erin.answer_invitation(card["id"], "accept"), "invitation_not_found", 404)
    await fails(alice.invite_members(group["id"], ids(erin)), "already_member", 409)


async def test_an_invitee_can_decline_and_the_inviter_can_cancel(make_user: UserFactory) -> None:
    alice, bob, carol, dave, erin = await people(make_user, "alice", "bob", "carol", "dave", "erin")
    group = await alice.create_group("G", ids(bob, carol, dave))
    [card] = await alice.invite_members(group["id"], ids(erin))
    await erin.answer_invitation(card["id"], "decline")
    assert await erin.invitations() == []
    closed = await replayed(alice, "chat.invitation.closed")
    assert closed == [{"id": card["id"], "conversation_id": group["id"], "status": "declined"}]
    [again] = await alice.invite_members(group["id"], ids(erin))
    await alice.answer_invitation(again["id"], "cancel")
    assert await erin.invitations() == []
    statuses = [c["status"] for c in await replayed(erin, "chat.invitation.closed")]
    assert statuses == ["declined", "cancelled"]


async def test_owner_approval_sends_a_card_to_owner_and_admins(make_user: UserFactory) -> None:
    alice, bob, carol = await people(make_user, "alice", "bob", "carol")
    dave, erin = await make_user("dave"), await make_user("erin")
    await befriend(bob, dave)
    await befriend(bob, erin)
    group = await alice.create_group("G", ids(bob))
    await fails(bob.update_group(group["id"], owner_approval=True), "not_allowed", 403)
    updated = await alice.update_group(group["id"], owner_approval=True)
    assert updated["owner_approval"] is True
    await alice.invite_members(group["id"], ids(carol))  # the owner needs no approval
    await alice.set_member_role(group["id"], me(carol)["id"], "admin")
    [card] = await bob.invite_members(group["id"], ids(dave))
    assert card["status"] == "pending_approval"
    assert card["inviter_id"] == me(bob)["id"]
    assert card["invitee_id"] == me(dave)["id"]
    for manager in (alice, carol):
        cards = await replayed(manager, "chat.invitation")
        assert [c["id"] for c in cards] == [card["id"]]
        pending = (await manager.conversation(group["id"]))["pending_invitations"]
        assert [p["id"] for p in pending] == [card["id"]]
    assert (await bob.conversation(group["id"]))["pending_invitations"] == []
    assert await replayed(dave, "chat.invitation") == []
    await fails(bob.answer_invitation(card["id"], "approve"), "not_allowed", 403)
    await fails(dave.answer_invitation(card["id"], "accept"), "invitation_not_open", 409)
    await carol.answer_invitation(card["id"], "approve")
    assert me(dave)["id"] in await members(alice, group["id"])
    # Rejected: the invitee never joins and the inviter hears about it.
    [other] = await bob.invite_members(group["id"], ids(erin))
    await alice.answer_invitation(other["id"], "reject")
    assert me(erin)["id"] not in await members(alice, group["id"])
    closed = await replayed(bob, "chat.invitation.closed")
    assert {"id": other["id"], "conversation_id": group["id"], "status": "declined"} in closed
    # With approval on, a plain member cannot hand out links.
    await fails(bob.create_invite_link(group["id"]), "invite_needs_approval", 403)


# ---- invite links --------------------------------------------------------------------------


async def test_invite_links_expire_fill_up_and_can_be_revoked(
    make_user: UserFactory, clock: FakeClock
) -> None:
    alice, bob = await people(make_user, "alice", "bob")
    outsiders = [await make_user(f"out{n}") for n in range(5)]
    group = await alice.create_group("G", ids(bob))
    link = await alice.create_invite_link(group["id"])
    clock.advance(days=7)
    error = await fails(outsiders[0].join_by_link(link["id"]), "invite_link_expired", 409)
    assert error.details["reason"] == "expired"
    assert (await alice.conversation(group["id"]))["invite_links"] == []
    fresh = await alice.create_invite_link(group["id"])
    clock.advance(days=6, hours=23)
    for outsider in outsiders[:3]:
        joined = await outsider.join_by_link(fresh["id"])
        assert joined["id"] == group["id"]
        assert joined["role"] == "member"
    assert len(await members(alice, group["id"])) == LINK_MAX
    await fails(outsiders[3].join_by_link(fresh["id"]), "invite_link_full", 409)
    await fails(outsiders[0].join_by_link(fresh["id"]), "already_member", 409)
    await bob.leave_group(group["id"])
    await fails(bob.revoke_invite_link(group["id"], fresh["id"]), "conversation_not_found", 404)
    await fails(outsiders[1].revoke_invite_link(group["id"], fresh["id"]), "not_allowed", 403)
    await alice.revoke_invite_link(group["id"], fresh["id"])
    # A revoked link is gone, like one that never existed.
    await fails(outsiders[3].join_by_link(fresh["id"]), "invite_link_not_found", 404)
    await fails(alice.revoke_invite_link(group["id"], fresh["id"]), "invite_link_not_found", 404)
    await fails(outsiders[3].join_by_link("0" * 26), "invite_link_not_found", 404)


async def test_a_link_stops_working_when_its_creator_leaves(make_user: UserFactory) -> None:
    alice, bob = await people(make_user, "alice", "bob")
    outsider = await make_user("outsider")
    group = await alice.create_group("G", ids(bob))
    link = await bob.create_invite_link(group["id"])
    await bob.leave_group(group["id"])
    error = await fails(outsider.join_by_link(link["id"]), "invite_link_expired", 409)
    assert error.details["reason"] == "creator_left"


# ---- roles, mutes, leaving ----------------------------------------------------------------


async def test_remove_members_by_rank(make_user: UserFactory) -> None:
    alice, bob, carol, dave = await people(make_user, "alice", "bob", "carol", "dave")
    group = await alice.create_group("G", ids(bob, carol, dave))
    await fails(bob.remove_member(group["id"], me(carol)["id"]), "not_allowed", 403)
    await alice.set_member_role(group["id"], me(bob)["id"], "admin")
    await bob.remove_member(group["id"], me(carol)["id"])
    await fails(bob.remove_member(group["id"], me(alice)["id"]), "not_allowed", 403)
    await fails(bob.remove_member(group["id"], me(carol)["id"]), "not_a_member", 403)
    await fails(carol.messages(group["id"]), "conversation_not_found", 404)
    assert [c["id"] for c in (await carol.conversations())["items"]] == []
    removed = await replayed(dave, "chat.member.removed")
    assert removed == [
        {"conversation_id": group["id"], "account_id": me(carol)["id"], "by": me(bob)["id"]}
    ]
    # Carol hears of her own removal, then nothing more.
    assert len(await replayed(carol, "chat.member.removed")) == 1
    await alice.send_message(group["id"], "after carol", client_id="a1")
    assert await replayed(carol, "chat.message") == []


async def test_a_muted_member_cannot_send_until_the_mute_ends(
    make_user: UserFactory, clock: FakeClock
) -> None:
    alice, bob, carol = await people(make_user, "alice", "bob", "carol")
    group = await alice.create_group("G", ids(bob, carol))
    await fails(bob.mute_member(group["id"], me(carol)["id"], 10), "not_allowed", 403)
    await alice.mute_member(group["id"], me(bob)["id"], 10)
    error = await fails(
        bob.send_message(group["id"], "let me speak", client_id="m1"), "member_muted", 403
    )
    assert "muted_until" in error.details
    updated = await replayed(carol, "chat.member.updated")
    assert updated[-1]["change"] == "muted"
    assert updated[-1]["member"]["account_id"] == me(bob)["id"]
    clock.advance(minutes=9, seconds=59)
    await fails(bob.send_message(group["id"], "now?", client_id="m2"), "member_muted", 403)
    clock.advance(seconds=1)
    sent = await bob.send_message(group["id"], "thank you", client_id="m3")
    assert sent["seq"] == 1
    # Unmuting early works too.
    await alice.mute_member(group["id"], me(carol)["id"], 60)
    await alice.unmute_member(group["id"], me(carol)["id"])
    await carol.send_message(group["id"], "free", client_id="c1")


async def test_promote_up_to_the_admin_cap(make_user: UserFactory) -> None:
    alice, bob, carol = await people(make_user, "alice", "bob", "carol")
    group = await alice.create_group("G", ids(bob, carol))
    await fails(bob.set_member_role(group["id"], me(carol)["id"], "admin"), "not_allowed", 403)
    await alice.set_member_role(group["id"], me(bob)["id"], "admin")
    error = await fails(
        alice.set_member_role(group["id"], me(carol)["id"], "admin"), "admin_cap_reached", 409
    )
    assert error.details == {"admin_cap": ADMIN_CAP}
    await alice.set_member_role(group["id"], me(bob)["id"], "member")
    await alice.set_member_role(group["id"], me(carol)["id"], "admin")
    roles = {m["account_id"]: m["role"] for m in (await bob.conversation(group["id"]))["members"]}
    assert roles == dict(zip(ids(alice, bob, carol), ["owner", "member", "admin"], strict=True))


async def test_leave_and_transfer(make_user: UserFactory) -> None:
    alice, bob, carol = await people(make_user, "alice", "bob", "carol")
    group = await alice.create_group("G", ids(bob, carol))
    await fails(alice.leave_group(group["id"]), "owner_cannot_leave", 409)
    await fails(bob.propose_transfer(group["id"], me(carol)["id"]), "not_allowed", 403)
    await fails(carol.answer_transfer(group["id"], "accept"), "no_transfer_pending", 409)
    await alice.propose_transfer(group["id"], me(bob)["id"])
    assert (await bob.conversation(group["id"]))["proposed_owner_id"] == me(bob)["id"]
    await fails(carol.answer_transfer(group["id"], "accept"), "no_transfer_pending", 409)
    await bob.answer_transfer(group["id"], "accept")
    detail = await carol.conversation(group["id"])
    assert detail["owner_id"] == me(bob)["id"]
    assert detail["proposed_owner_id"] is None
    roles = {m["account_id"]: m["role"] for m in detail["members"]}
    assert roles[me(alice)["id"]] == "member"
    assert roles[me(bob)["id"]] == "owner"
    await alice.leave_group(group["id"])
    await fails(alice.conversation(group["id"]), "conversation_not_found", 404)
    left = await replayed(carol, "chat.member.left")
    assert [e["account_id"] for e in left] == ids(alice)
    # A declined proposal leaves the owner in place.
    await bob.propose_transfer(group["id"], me(carol)["id"])
    await carol.answer_transfer(group["id"], "decline")
    assert (await carol.conversation(group["id"]))["owner_id"] == me(bob)["id"]


async def test_dissolved_groups_are_read_only(make_user: UserFactory) -> None:
    alice, bob = await people(make_user, "alice", "bob")
    group = await alice.create_group("G", ids(bob))
    await bob.send_message(group["id"], "last words", client_id="b1")
    await fails(bob.dissolve_group(group["id"]), "not_allowed", 403)
    await alice.dissolve_group(group["id"])
    await fails(
        bob.send_message(group["id"], "hello?", client_id="b2"), "conversation_dissolved", 409
    )
    await fails(alice.invite_members(group["id"], ids(bob)), "conversation_dissolved", 409)
    await fails(alice.create_invite_link(group["id"]), "conversation_dissolved", 409)
    assert [m["text"] for m in (await bob.messages(group["id"]))["items"]] == ["last words"]
    detail = await bob.conversation(group["id"])
    assert detail["dissolved"] is True
    updated = await replayed(bob, "chat.conversation.updated")
    assert updated[-1]["change"] == "dissolved"
    assert updated[-1]["dissolved"] is True


# ---- announcements, mentions, caps --------------------------------------------------------


async def test_announcement_notifies_every_member(make_user: UserFactory) -> None:
    alice, bob, carol = await people(make_user, "alice", "bob", "carol")
    group = await alice.create_group("G", ids(bob, carol))
    await fails(bob.update_group(group["id"], announcement="mine"), "not_allowed", 403)
    out = await alice.update_group(group["id"], announcement="Meet at 9")
    assert out["announcement"] == "Meet at 9"
    for client in (bob, carol):
        [event] = await replayed(client, "chat.conversation.updated")
        assert event["notify"] is True
        assert event["announcement"] == "Meet at 9"
        assert event["change"] == "notify_all_members"
    await alice.update_group(group["id"], announcement="")  # clearing notifies nobody
    assert len(await replayed(bob, "chat.conversation.updated")) == 1
    assert (await bob.conversation(group["id"]))["announcement"] is None
    renamed = await alice.update_group(group["id"], name="Renamed")
    assert renamed["name"] == "Renamed"
    last = (await replayed(carol, "chat.conversation.updated"))[-1]
    assert (last["change"], last["notify"], last["name"]) == ("renamed", False, "Renamed")


async def test_at_all_is_for_owner_and_admins(make_user: UserFactory) -> None:
    alice, bob, carol = await people(make_user, "alice", "bob", "carol")
    group = await alice.create_group("G", ids(bob, carol))
    await fails(
        bob.send_message(group["id"], "@all lunch?", client_id="b1"),
        "mention_all_not_allowed",
        403,
    )
    await fails(
        bob.send_message(group["id"], "@所有人 lunch?", client_id="b2"),
        "mention_all_not_allowed",
        403,
    )
    mention = await bob.send_message(group["id"], "@carol lunch?", client_id="b3")
    assert mention["mentions"] == ids(carol)
    assert mention["mentions_all"] is False
    everyone = await alice.send_message(group["id"], "@all lunch!", client_id="a1")
    assert everyone["mentions_all"] is True
    await alice.set_member_role(group["id"], me(bob)["id"], "admin")
    assert (await bob.send_message(group["id"], "@all ok", client_id="b4"))["mentions_all"]
    await bob.set_group_nickname(group["id"], "Bobby")
    named = await carol.send_message(group["id"], "thanks @Bobby", client_id="c1")
    assert named["mentions"] == ids(bob)


async def test_the_member_cap_holds_on_every_way_in(make_user: UserFactory) -> None:
    names = ["alice", *(f"friend{n}" for n in range(CAP + 1))]
    alice, *friends = await people(make_user, *names)
    error = await fails(alice.create_group("Big", ids(*friends[:CAP])), "conversation_full", 409)
    assert error.details == {"member_cap": CAP}
    group = await alice.create_group("Big", ids(*friends[: CAP - 2]))  # CAP - 1 members
    [card] = await alice.invite_members(group["id"], ids(friends[CAP - 2]))
    await friends[CAP - 2].answer_invitation(card["id"], "accept")
    assert len(await members(alice, group["id"])) == CAP
    await fails(alice.invite_members(group["id"], ids(friends[CAP - 1])), "conversation_full", 409)


# ---- outsiders ------------------------------------------------------------------------------


async def test_a_group_is_invisible_to_outsiders_on_every_route(make_user: UserFactory) -> None:
    alice, bob, eve = await people(make_user, "alice", "bob", "eve")
    group = await alice.create_group("Secret", ids(bob))
    msg = await alice.send_message(group["id"], "inside", client_id="a1")
    gid, mid, bid = group["id"], msg["id"], me(bob)["id"]
    missing = "0" * 26
    for target in (gid, missing):
        calls: list[Any] = [
            eve.conversation(target),
            eve.messages(target),
            eve.send_message(target, "let me in", client_id="e1"),
            eve.recall_message(target, mid),
            eve.hide_message(target, mid),
            eve.forward_message(target, mid, [gid], client_id="e2"),
            eve.conversation_settings(target, pinned=True),
            eve.mark_read(target, 1),
            eve.accept_message_request(target),
            eve.update_group(target, name="mine"),
            eve.invite_members(target, ids(alice)),
            eve.remove_member(target, bid),
            eve.mute_member(target, bid, 5),
            eve.unmute_member(target, bid),
            eve.set_member_role(target, bid, "admin"),
            eve.set_group_nickname(target, "spy"),
            eve.leave_group(target),
            eve.dissolve_group(target),
            eve.propose_transfer(target, bid),
            eve.answer_transfer(target, "accept"),
            eve.create_invite_link(target),
            eve.revoke_invite_link(target, missing),
        ]
        for call in calls:
            await fails(call, "conversation_not_found", 404)
    await fails(eve.messages("not-an-id"), "conversation_not_found", 404)
    assert "inside" not in str(await eve.events(0, limit=1000))
    assert [m["text"] for m in (await bob.messages(gid))["items"]] == ["inside"]


# ---- joining later, leaving and coming back -------------------------------------------------


async def test_a_late_joiner_sees_only_what_came_after(make_user: UserFactory) -> None:
    alice, bob, carol = await people(make_user, "alice", "bob", "carol")
    group = await alice.create_group("G", ids(bob))
    for n in range(3):
        await alice.send_message(group["id"], f"before {n}", client_id=f"b{n}")
    await alice.invite_members(group["id"], ids(carol))
    assert (await carol.messages(group["id"]))["items"] == []
    [listed] = (await carol.conversations())["items"]
    assert listed["unread"] == 0
    assert (await carol.conversation(group["id"]))["unread"] == 0
    await alice.send_message(group["id"], "after", client_id="a1")
    assert [m["text"] for m in (await carol.messages(group["id"]))["items"]] == ["after"]
    assert (await carol.conversation(group["id"]))["unread"] == 1
    assert [m["text"] for m in await replayed(carol, "chat.message")] == ["after"]


async def test_leaving_and_coming_back_without_a_message_between(make_user: UserFactory) -> None:
    alice, bob, carol = await people(make_user, "alice", "bob", "carol")
    group = await alice.create_group("G", ids(bob, carol))
    await alice.send_message(group["id"], "one", client_id="1")
    link = await alice.create_invite_link(group["id"])
    await carol.leave_group(group["id"])
    await carol.join_by_link(link["id"])
    await alice.send_message(group["id"], "two", client_id="2")
    assert [m["text"] for m in (await carol.messages(group["id"]))["items"]] == ["two", "one"]
    assert [m["text"] for m in await replayed(carol, "chat.message")] == ["one", "two"]
    # A quick leave and rejoin by the same person, twice in a row, at the same seq.
    await carol.leave_group(group["id"])
    await carol.join_by_link(link["id"])
    await carol.leave_group(group["id"])
    await carol.join_by_link(link["id"])
    await alice.send_message(group["id"], "three", client_id="3")
    texts = [m["text"] for m in (await carol.messages(group["id"]))["items"]]
    assert texts == ["three", "two", "one"]

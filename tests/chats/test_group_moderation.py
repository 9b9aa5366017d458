"""Group moderation as owners, admins, members and reviewers rely on it: the group's rules
shown to everyone who joins, owners and admins removing members' messages down the ranks, the
reports about a group without who filed them, and the platform's read-only mode (refused
sends over HTTP and the socket, refused changes, reading and leaving kept, expiry by the clock
alone, and the whole road from a member's report to read-only and back on appeal)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from courtyard.client import ApiError, CourtyardClient
from courtyard.container import Services
from courtyard.core.clock import FakeClock
from courtyard.core.ids import new_id
from courtyard.governance.model import Decision, PolicyEvent, RuleHit, Verdict
from courtyard.governance.store import list_audit_for_target
from tests.chats.conftest import befriend, me
from tests.chats.test_direct import fails, next_frame, replayed
from tests.conftest import ClientFactory, UserFactory
from tests.governance.test_due_process import decide, queue, reviewer

Opener = Any
RULES = "Be kind.\nNo selling.\n不要发广告。"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"group_invite_accept_threshold": 3}


def ids(*clients: CourtyardClient) -> list[str]:
    return [me(c)["id"] for c in clients]


async def group_of(make_user: UserFactory, *names: str) -> tuple[list[CourtyardClient], str]:
    """A group owned by the first person, with everyone else in it (all the owner's friends)."""
    people = [await make_user(name) for name in names]
    for other in people[1:]:
        await befriend(people[0], other)
    group = await people[0].create_group("Garden club", ids(*people[1:]))
    return people, group["id"]


async def said(client: CourtyardClient, conversation_id: str, text: str) -> str:
    message = await client.send_message(conversation_id, text, client_id=new_id())
    return str(message["id"])


async def remove(client: CourtyardClient, conversation_id: str, message_id: str) -> Any:
    return await client.request(
        "POST", f"/api/v1/conversations/{conversation_id}/messages/{message_id}/remove"
    )


async def reports(client: CourtyardClient, conversation_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await client.request(
        "GET", f"/api/v1/conversations/{conversation_id}/reports"
    )
    return found


async def report(
    client: CourtyardClient, target_type: str, target_id: str, explanation: str = ""
) -> dict[str, Any]:
    body = {
        "target_type": target_type,
        "target_id": target_id,
        "category": "spam",
        "explanation": explanation,
    }
    receipt: dict[str, Any] = await client.request("POST", "/api/v1/reports", json=body)
    return receipt


async def texts(client: CourtyardClient, conversation_id: str) -> list[str]:
    return [m["text"] for m in reversed((await client.messages(conversation_id))["items"])]


async def audit_tags(services: Services, target_type: str, target_id: str) -> list[str]:
    async with services.db.read() as conn:
        rows = await list_audit_for_target(conn, target_type, target_id)
    return [row["tag"] for row in rows]


async def read_only(
    services: Services, conversation_id: str, *, ends_at: datetime | None, reason: str
) -> str:
    """Put a group in read-only mode the way due process does, through the restrictor it
    registered; returns the (made-up) statement id."""
    statement = {
        "id": new_id(),
        "starts_at": services.clock.now(),
        "ends_at": ends_at,
        "reason": reason,
        "decided_by": None,
    }
    async with services.db.write() as tx:
        await services.due_process.restrictors["group"].restrict(tx, conversation_id, statement)
    return str(statement["id"])


# ---- rules ---------------------------------------------------------------------------------


class _BlockWords:
    """Blocks group rules that contain "forbidden" (the announcement's road, for rules)."""

    async def evaluate(self, event: PolicyEvent) -> Decision:
        if "forbidden" in event.text.get("rules", ""):
            hit = RuleHit("test.rules", "community-guidelines#spam", "Not in rules.")
            return Decision(Verdict.BLOCK, hits=(hit,))
        return Decision.allow()


async def test_owner_and_admins_set_rules_that_every_newcomer_is_shown(
    make_user: UserFactory, services: Services
) -> None:
    (alice, bob, carol), cid = await group_of(make_user, "alice", "bob", "carol")
    await alice.set_member_role(cid, me(bob)["id"], "admin")
    await fails(alice.update_group(cid, rules="x" * 2001), "invalid_input", 422)
    await fails(alice.update_group(cid, rules="bad\x00rules"), "invalid_text", 422)
    await fails(carol.update_group(cid, rules="My rules"), "not_allowed", 403)
    services.governance.policy = _BlockWords()
    await fails(bob.update_group(cid, rules="forbidden words"), "policy_blocked", 422)

    updated = await bob.update_group(cid, rules=f"  {RULES}\r\n ")
    assert updated["rules"] == RULES
    assert (await carol.conversation(cid))["rules"] == RULES
    [change] = [
        e for e in await replayed(carol, "chat.conversation.updated") if e["change"] != "members"
    ]
    assert change["change"] == "rules_changed"
    assert change["rules"] == RULES
    assert change["by"] == me(bob)["id"]
    assert "chats:group:SetRules" in await audit_tags(services, "conversation", cid)

    # A friend added now joins at once: the join event carries the rules to their client.
    dave = await make_user("dave")
    await befriend(alice, dave)
    await alice.invite_members(cid, ids(dave))
    [joined] = await replayed(dave, "chat.member.joined")
    assert joined["member"]["account_id"] == me(dave)["id"]
    assert joined["rules"] == RULES
    # The group is now above the threshold: the next invitee reads the rules on the card.
    erin = await make_user("erin")
    await befriend(alice, erin)
    [card] = await alice.invite_members(cid, ids(erin))
    assert card["status"] == "pending_acceptance"
    assert card["rules"] == RULES
    assert (await erin.invitations())[0]["rules"] == RULES
    assert (await replayed(erin, "chat.invitation"))[0]["rules"] == RULES
    # And whoever opens an invite link gets them with the conversation they joined.
    frank = await make_user("frank")
    link = await alice.create_invite_link(cid)
    assert (await frank.join_by_link(link["id"]))["rules"] == RULES

    cleared = await alice.update_group(cid, rules="")
    assert cleared["rules"] is None
    last = (await replayed(carol, "chat.conversation.updated"))[-1]
    assert (last["change"], last["rules"]) == ("rules_changed", None)


# ---- removing messages ---------------------------------------------------------------------


async def test_owner_and_admins_remove_messages_down_the_ranks(
    make_user: UserFactory, services: Services, clock: FakeClock
) -> None:
    (alice, bob, carol, dave), cid = await group_of(make_user, "alice", "bob", "carol", "dave")
    for admin in (bob, dave):
        await alice.set_member_role(cid, me(admin)["id"], "admin")
    by_alice = await said(alice, cid, "owner here")
    by_bob = await said(bob, cid, "admin bob here")
    by_carol = await said(carol, cid, "buy my stuff")
    by_dave = await said(dave, cid, "admin dave here")
    clock.advance(hours=1)  # far past the recall window: removal has none

    # A plain member removes nothing; an admin removes neither the owner's, another admin's
    # nor their own message (their own they recall, within the window).
    for message_id in (by_alice, by_bob, by_dave):
        error = await fails(remove(carol, cid, message_id), "not_allowed", 403)
        assert error.details["role"] == "member"
    for message_id in (by_alice, by_dave, by_bob):
        await fails(remove(bob, cid, message_id), "not_allowed", 403)
    await fails(remove(alice, cid, by_alice), "not_allowed", 403)

    removed = await remove(bob, cid, by_carol)
    assert removed["recalled"] is True
    assert removed["text"] == ""
    assert removed["removed_by"] == me(bob)["id"]
    [shown] = [m for m in (await carol.messages(cid))["items"] if m["id"] == by_carol]
    assert (shown["text"], shown["recalled"], shown["removed_by"]) == ("", True, me(bob)["id"])
    await fails(remove(alice, cid, by_carol), "message_recalled", 409)
    # The owner removes an admin's message.
    await remove(alice, cid, by_dave)
    assert await texts(dave, cid) == ["owner here", "admin bob here", "", ""]

    # Every member sees who took it down; the replayed message no longer has its text.
    notices = await replayed(dave, "chat.message.recalled")
    assert {(n["message_id"], n["by"], n["admin_id"]) for n in notices} == {
        (by_carol, "group_admin", me(bob)["id"]),
        (by_dave, "group_admin", me(alice)["id"]),
    }
    replay = {m["id"]: m for m in await replayed(alice, "chat.message")}
    assert replay[by_carol]["text"] == ""
    assert replay[by_carol]["removed_by"] == me(bob)["id"]
    # The author alone is told, with the conversation and the admin.
    [told] = await replayed(carol, "chat.message.removed_by_admin")
    assert told["conversation_id"] == cid
    assert told["message_id"] == by_carol
    assert (told["admin_id"], told["admin_role"]) == (me(bob)["id"], "admin")
    assert await replayed(bob, "chat.message.removed_by_admin") == []
    assert [t["admin_id"] for t in await replayed(dave, "chat.message.removed_by_admin")] == [
        me(alice)["id"]
    ]
    tags = await audit_tags(services, "message", by_carol)
    assert tags == ["chats:message:remove"]

    # Someone who left counts as a plain member.
    later = await said(carol, cid, "one more")
    await carol.leave_group(cid)
    assert (await remove(bob, cid, later))["removed_by"] == me(bob)["id"]


async def test_removal_refuses_what_is_not_there_or_not_theirs(make_user: UserFactory) -> None:
    (alice, bob), cid = await group_of(make_user, "alice", "bob")
    (other_owner, stranger), other = await group_of(make_user, "olga", "sam")
    elsewhere = await said(stranger, other, "other group")
    await fails(remove(alice, cid, new_id()), "message_not_found", 404)
    await fails(remove(alice, cid, elsewhere), "message_not_found", 404)
    await fails(remove(alice, cid, "not-an-id"), "invalid_input", 422)
    mine = await said(bob, cid, "hello")
    await fails(remove(stranger, cid, mine), "conversation_not_found", 404)
    await fails(remove(alice, "not-an-id", mine), "conversation_not_found", 404)
    direct = await alice.open_direct(me(bob)["id"])
    in_direct = await said(bob, direct["id"], "just us")
    await fails(remove(alice, direct["id"], in_direct), "not_allowed", 403)
    assert other_owner  # the other group's owner only made the group


async def test_an_admin_cannot_remove_what_was_said_before_they_joined(
    make_user: UserFactory,
) -> None:
    (alice, bob), cid = await group_of(make_user, "alice", "bob")
    before = await said(bob, cid, "before carol came")
    carol = await make_user("carol")
    await befriend(alice, carol)
    await alice.invite_members(cid, ids(carol))
    await alice.set_member_role(cid, me(carol)["id"], "admin")
    await fails(remove(carol, cid, before), "message_not_found", 404)


# ---- reports about the group ---------------------------------------------------------------


async def test_owner_and_admins_see_reports_about_their_group_but_never_who_filed_them(
    make_user: UserFactory,
) -> None:
    (alice, bob, carol, dave, erin), cid = await group_of(
        make_user, "alice", "bob", "carol", "dave", "erin"
    )
    await alice.set_member_role(cid, me(bob)["id"], "admin")
    spam = await said(dave, cid, "cheap watches, message me " + "!" * 300)
    await report(carol, "message", spam, "Dave sells things here every day.")
    await report(erin, "group", cid, "This group is only advertising.")
    # Reports about something else are not theirs to see.
    (_olga, sam), other = await group_of(make_user, "olga", "sam")
    await report(_olga, "message", await said(sam, other, "elsewhere"))

    for manager in (alice, bob):
        found = await reports(manager, cid)
        assert [(r["target_type"], r["category"]) for r in found] == [
            ("group", "spam"),
            ("message", "spam"),
        ]
        group_report, message_report = found
        assert group_report["target_id"] == cid
        assert group_report["explanation"] == "This group is only advertising."
        assert group_report["status"] == "open"
        assert group_report["message"] is None
        assert message_report["explanation"] == "Dave sells things here every day."
        shown = message_report["message"]
        assert (shown["id"], shown["sender_id"]) == (spam, me(dave)["id"])
        assert shown["snippet"].startswith("cheap watches")
        assert len(shown["snippet"]) == 200
        assert shown["snippet"].endswith("…")
        # Reporters are protected: their identity is nowhere in the answer.
        raw = json.dumps(found)
        assert "reporter" not in raw
        for reporter in (carol, erin):
            assert me(reporter)["id"] not in raw
    # Plain members and outsiders get the same 404 as for a conversation that does not exist.
    await fails(reports(carol, cid), "conversation_not_found", 404)
    await fails(reports(sam, cid), "conversation_not_found", 404)
    await fails(reports(alice, "not-an-id"), "conversation_not_found", 404)

    # A removed message no longer shows, the report stays.
    await remove(bob, cid, spam)
    message_report = (await reports(alice, cid))[1]
    assert message_report["target_id"] == spam
    assert message_report["message"] is None


async def test_reporting_a_group_needs_membership_and_is_not_for_its_owner(
    make_user: UserFactory,
) -> None:
    (alice, bob), cid = await group_of(make_user, "alice", "bob")
    outsider = await make_user("olga")
    await fails(report(outsider, "group", cid), "report_target_not_found", 404)
    await fails(report(alice, "group", cid), "report_self", 422)
    await fails(report(bob, "group", new_id()), "report_target_not_found", 404)
    direct = await alice.open_direct(me(bob)["id"])
    await fails(report(bob, "group", direct["id"]), "report_target_not_found", 404)
    receipt = await report(bob, "group", cid)
    assert receipt["target_type"] == "group"


# ---- read-only mode ------------------------------------------------------------------------


async def test_a_read_only_group_is_read_and_left_but_not_written_to(
    make_user: UserFactory, services: Services, open_stream: Opener
) -> None:
    (alice, bob, carol), cid = await group_of(make_user, "alice", "bob", "carol")
    await alice.set_member_role(cid, me(bob)["id"], "admin")
    first = await said(carol, cid, "before")
    (dan, _eve), elsewhere = await group_of(make_user, "dan", "eve")
    stream = await open_stream(carol)
    await stream.register(None)

    statement_id = await read_only(services, cid, ends_at=None, reason="Repeated scam ads.")
    for member in (alice, bob, carol):
        [event] = await replayed(member, "chat.group.read_only")
        assert event["conversation_id"] == cid
        assert event["read_only"]["reason"] == "Repeated scam ads."
        assert event["read_only"]["until"] is None
        detail = await member.conversation(cid)
        assert detail["read_only"]["reason"] == "Repeated scam ads."
    assert "statement_id" not in json.dumps(await bob.conversation(cid))
    assert statement_id not in json.dumps(await replayed(carol, "chat.group.read_only"))
    assert "chats:group:read_only" in await audit_tags(services, "conversation", cid)

    # Sends are refused over HTTP and the socket, for the owner too.
    for member in (alice, carol):
        error = await fails(member.send_message(cid, "hi", client_id=new_id()), "group_read_only")
        assert error.status == 403
        assert error.details["until"] is None
    await stream.send({"type": "send", "client_id": "ws-1", "conversation_id": cid, "text": "x"})
    refused = await next_frame(stream, "send_error", "ack")
    assert refused["client_id"] == "ws-1"
    assert refused["error"]["code"] == "group_read_only"
    # In one batch with a send to another group, only the read-only one is refused.
    results = await asyncio.gather(
        carol.send_message(cid, "batched", client_id=new_id()),
        dan.send_message(elsewhere, "fine", client_id=new_id()),
        return_exceptions=True,
    )
    assert isinstance(results[0], ApiError)
    assert results[0].code == "group_read_only"
    assert isinstance(results[1], dict)
    # Nor can anything be forwarded into it.
    direct = await alice.open_direct(me(bob)["id"])
    quote = await said(bob, direct["id"], "worth sharing")
    forward = alice.forward_message(direct["id"], quote, [cid], client_id="fw")
    await fails(forward, "group_read_only", 403)
    # Group changes are refused, the owner's and admins' included.
    dave = await make_user("dave")
    await befriend(alice, dave)
    refusals = [
        alice.update_group(cid, name="Renamed"),
        bob.update_group(cid, announcement="Hello"),
        alice.update_group(cid, rules="New rules"),
        alice.invite_members(cid, ids(dave)),
        bob.mute_member(cid, me(carol)["id"], 10),
        bob.remove_member(cid, me(carol)["id"]),
        remove(bob, cid, first),
        alice.create_invite_link(cid),
        carol.set_group_nickname(cid, "Caz"),
        alice.propose_transfer(cid, me(bob)["id"]),
        alice.dissolve_group(cid),
    ]
    for refusal in refusals:
        await fails(refusal, "group_read_only", 403)
    # Reading works; leaving works.
    assert await texts(carol, cid) == ["before"]
    await alice.mark_read(cid, 1)
    await carol.leave_group(cid)
    assert me(carol)["id"] not in {
        m["account_id"] for m in (await alice.conversation(cid))["members"]
    }

    async with services.db.write() as tx:
        await services.due_process.restrictors["group"].lift(tx, cid)
    assert (await alice.conversation(cid))["read_only"] is None
    assert (await replayed(bob, "chat.group.read_only"))[-1]["read_only"] is None
    await said(bob, cid, "back to normal")
    await alice.update_group(cid, name="Renamed")


async def test_read_only_ends_by_the_clock_alone(
    make_user: UserFactory, services: Services, clock: FakeClock
) -> None:
    (alice, bob), cid = await group_of(make_user, "alice", "bob")
    until = clock.now() + timedelta(hours=24)
    await read_only(services, cid, ends_at=until, reason="Cooling off.")
    error = await fails(bob.send_message(cid, "no", client_id="r1"), "group_read_only", 403)
    assert datetime.fromisoformat(error.details["until"]) == until
    assert (await bob.conversation(cid))["read_only"]["reason"] == "Cooling off."
    clock.advance(hours=23, minutes=59)
    await fails(alice.update_group(cid, name="Later"), "group_read_only", 403)
    clock.advance(minutes=1)
    # No job ran: the end has passed, so nothing applies any more.
    assert (await bob.conversation(cid))["read_only"] is None
    await said(bob, cid, "free again")
    await alice.update_group(cid, name="Later")
    assert await texts(alice, cid) == ["free again"]


async def test_report_read_only_appeal_and_reversal_end_to_end(
    make_user: UserFactory, make_client: ClientFactory, services: Services
) -> None:
    (alice, bob, carol), cid = await group_of(make_user, "alice", "bob", "carol")
    for n in range(12):
        await said(bob, cid, f"ad number {n}")
    receipt = await report(carol, "group", cid, "Nothing but ads.")

    staff = await reviewer(services, make_client)
    [item] = await queue(staff, "report")
    assert (item["target_type"], item["target_id"]) == ("group", cid)
    assert item["subject_account_id"] == me(alice)["id"]  # the owner answers for the group
    detail = await staff.request("GET", f"/api/v1/admin/review/items/{item['id']}")
    # The reviewer reads the group's latest messages as the reporter could.
    assert [m["text"] for m in detail["context"]] == [f"ad number {n}" for n in range(2, 12)]
    assert "group_read_only" in detail["outcomes"]
    await decide(
        staff,
        item["id"],
        "group_read_only",
        policy_clause="community-guidelines#spam",
        reasons="The group is used for advertising.",
        duration_hours=24,
    )

    for member in (alice, bob, carol):
        await fails(member.send_message(cid, "hello?", client_id=new_id()), "group_read_only")
        [event] = await replayed(member, "chat.group.read_only")
        assert event["read_only"]["reason"] == "The group is used for advertising."
        assert event["read_only"]["until"] is not None
    [notice] = [
        n for n in await replayed(alice, "governance.notice") if n["measure"] == "group_read_only"
    ]
    assert notice["content_type"] == "group"
    assert notice["content_id"] == cid
    assert notice["ends_at"] is not None
    assert await replayed(bob, "governance.notice") == []
    [outcome] = await replayed(carol, "governance.report_outcome")
    assert (outcome["report_id"], outcome["status"]) == (receipt["id"], "actioned")

    await alice.request(
        "POST", f"/api/v1/notices/{notice['id']}/appeal", json={"text": "We removed the ads."}
    )
    [appeal_item] = await queue(staff, "appeal")
    with pytest.raises(ApiError) as conflict:  # the first reviewer may not judge the appeal
        await decide(staff, appeal_item["id"], "reverse")
    assert conflict.value.code == "reviewer_conflict"
    second = await reviewer(services, make_client, "reviewer2")
    await decide(second, appeal_item["id"], "reverse", reasons="The ads are gone.")

    assert (await bob.conversation(cid))["read_only"] is None
    assert (await replayed(carol, "chat.group.read_only"))[-1]["read_only"] is None
    await said(bob, cid, "thanks")
    reversed_notice = await alice.request("GET", f"/api/v1/notices/{notice['id']}")
    assert reversed_notice["status"] == "reversed"


async def test_lifting_one_measure_leaves_another_in_force(
    make_user: UserFactory, make_client: ClientFactory, services: Services, clock: FakeClock
) -> None:
    """Two read-only measures on one group: reversing the longer falls back to the other."""
    (alice, bob, carol), cid = await group_of(make_user, "alice", "bob", "carol")
    staff = await reviewer(services, make_client)
    decided = []
    for hours in (None, 24):
        await report(carol, "group", cid)
        [item] = await queue(staff, "report")
        extra = {"duration_hours": hours} if hours else {}
        await decide(staff, item["id"], "group_read_only", reasons=f"Measure {hours}.", **extra)
        decided.append(item)
    # The indefinite measure stays in force over the shorter one.
    assert (await bob.conversation(cid))["read_only"]["until"] is None
    [indefinite] = [
        n["id"]
        for n in await alice.request("GET", "/api/v1/notices")
        if n["measure"] == "group_read_only" and n["ends_at"] is None
    ]
    await alice.request("POST", f"/api/v1/notices/{indefinite}/appeal", json={})
    [appeal_item] = await queue(staff, "appeal")
    second = await reviewer(services, make_client, "reviewer2")
    await decide(second, appeal_item["id"], "reverse", reasons="Too broad.")
    # The 24-hour measure takes over, then ends by itself.
    shown = (await bob.conversation(cid))["read_only"]
    assert shown["reason"] == "Measure 24."
    assert shown["until"] is not None
    await fails(bob.send_message(cid, "still no", client_id=new_id()), "group_read_only")
    clock.advance(hours=25)
    await said(bob, cid, "over")

"""The pure group rules (``chats.model.apply``) and message rules, without I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from courtyard.chats.model import (
    AcceptInvitation,
    AcceptTransfer,
    AdminCapReached,
    AlreadyInvited,
    AlreadyMember,
    ApproveInvitation,
    CancelInvitation,
    Command,
    ConversationDissolved,
    ConversationFull,
    ConversationSettings,
    CreateInviteLink,
    DeclineInvitation,
    DeclineTransfer,
    DemoteAdmin,
    DirectWithSelf,
    Dissolve,
    EffectKind,
    EmptyMessage,
    GroupState,
    Invitation,
    InvitationNotOpen,
    InvitationStatus,
    Invite,
    InviteLinkExpired,
    InviteLinkFull,
    InviteNeedsApproval,
    JoinByLink,
    Leave,
    MemberMuted,
    MentionAllNotAllowed,
    Mentions,
    Message,
    MessageRecalled,
    MessageTooLong,
    MuteMember,
    NotAFriend,
    NotAllowed,
    NotAMember,
    NoTransferPending,
    OwnerCannotLeave,
    PromoteAdmin,
    ProposeTransfer,
    RecallWindowPassed,
    RejectInvitation,
    RemoveMember,
    RevokeInviteLink,
    Role,
    SetAnnouncement,
    SetName,
    SetNickname,
    SetOwnerApproval,
    UnmuteMember,
    apply,
    can_recall,
    check_can_send,
    check_mentions,
    check_recall,
    check_text,
    create_group,
    direct_key,
    forward,
    parse_mentions,
    recall,
)
from courtyard.core.errors import CourtyardError, Forbidden, InvalidInput, NotFound

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EVERYONE = frozenset("abcdefghijklmnopqrstuvwxyz")


def group(
    members: str = "obc", settings: ConversationSettings | None = None, owner: str = "o"
) -> GroupState:
    """A group owned by ``owner`` with one-letter member ids."""
    others = [m for m in members if m != owner]
    return create_group(
        conversation_id="g",
        owner_id=owner,
        name="Family",
        member_ids=others,
        friends=EVERYONE,
        now=T0,
        settings=settings,
    ).state


def run(state: GroupState, *commands: Command, now: datetime = T0) -> GroupState:
    for command in commands:
        state = apply(state, command, now).state
    return state


def invite(actor: str, invitee: str, invitation_id: str = "i1") -> Invite:
    return Invite(actor, invitation_id, invitee, EVERYONE)


def roles(state: GroupState) -> dict[str, Role]:
    return {account_id: m.role for account_id, m in state.members.items()}


# ---- create ---------------------------------------------------------------------------------


def test_create_group_with_friends() -> None:
    outcome = create_group(
        conversation_id="g",
        owner_id="o",
        name="  Hiking   club ",
        member_ids=["a", "b", "o"],
        friends=frozenset("ab"),
        now=T0,
    )
    state = outcome.state
    assert state.conversation.name == "Hiking club"
    assert state.conversation.owner_id == "o"
    assert roles(state) == {"o": Role.OWNER, "a": Role.MEMBER, "b": Role.MEMBER}
    assert state.members["a"].invited_by == "o"
    assert state.conversation.settings.member_cap == 500
    assert [e.kind for e in outcome.effects].count(EffectKind.MEMBER_JOINED) == 2


def test_create_group_refuses_strangers_and_overflow() -> None:
    with pytest.raises(NotAFriend) as err:
        create_group(
            conversation_id="g",
            owner_id="o",
            name="x",
            member_ids=["a", "z"],
            friends=frozenset("a"),
            now=T0,
        )
    assert err.value.details == {"account_ids": ["z"]}
    with pytest.raises(ConversationFull) as full:
        group("oabc", ConversationSettings(member_cap=3))
    assert full.value.details == {"member_cap": 3}
    with pytest.raises(InvalidInput):
        group("o")
    with pytest.raises(InvalidInput):
        create_group(
            conversation_id="g", owner_id="o", name=" ", member_ids="a", friends=EVERYONE, now=T0
        )


# ---- invitations ---------------------------------------------------------------------------


def test_small_group_invite_joins_at_once() -> None:
    outcome = apply(group(), invite("b", "d"), T0)
    assert outcome.state.members["d"].role is Role.MEMBER
    assert outcome.state.members["d"].invited_by == "b"
    assert outcome.state.invitations["i1"].status is InvitationStatus.ACCEPTED
    assert [e.kind for e in outcome.effects] == [EffectKind.MEMBER_JOINED]


def test_invite_errors() -> None:
    state = group()
    with pytest.raises(NotAMember):
        apply(state, invite("z", "d"), T0)
    with pytest.raises(AlreadyMember):
        apply(state, invite("o", "b"), T0)
    with pytest.raises(NotAFriend):
        apply(state, Invite("o", "i1", "d", frozenset("x")), T0)
    with pytest.raises(ConversationFull):
        apply(group("obc", ConversationSettings(member_cap=3)), invite("o", "d"), T0)


def test_owner_approval_makes_a_members_invitation_wait() -> None:
    state = group(settings=ConversationSettings(owner_approval=True))
    outcome = apply(state, invite("b", "d"), T0)
    card = outcome.effects[0]
    # The approval card shows who invited whom.
    assert (card.kind, card.by_id, card.account_id) == (EffectKind.APPROVAL_REQUESTED, "b", "d")
    waiting = outcome.state.invitations["i1"]
    assert waiting.status is InvitationStatus.PENDING_APPROVAL
    assert waiting.needs_approval
    assert "d" not in outcome.state.members
    with pytest.raises(AlreadyInvited):
        apply(outcome.state, invite("c", "d", "i2"), T0)
    with pytest.raises(NotAllowed):
        apply(outcome.state, ApproveInvitation("c", "i1"), T0)
    approved = apply(outcome.state, ApproveInvitation("o", "i1"), T0).state
    assert approved.members["d"].invited_by == "b"
    assert approved.invitations["i1"].decided_by == "o"
    # The owner's own invitations need nobody's approval.
    assert "e" in apply(state, invite("o", "e"), T0).state.members


def test_reject_and_cancel_close_an_invitation() -> None:
    state = run(group(settings=ConversationSettings(owner_approval=True)), invite("b", "d"))
    rejected = apply(state, RejectInvitation("o", "i1"), T0).state
    assert rejected.invitations["i1"].status is InvitationStatus.DECLINED
    assert rejected.invitations["i1"].decided_by == "o"
    with pytest.raises(InvitationNotOpen):
        apply(rejected, ApproveInvitation("o", "i1"), T0)
    with pytest.raises(NotAllowed):
        apply(state, CancelInvitation("c", "i1"), T0)
    cancelled = apply(state, CancelInvitation("b", "i1"), T0).state
    assert cancelled.invitations["i1"].status is InvitationStatus.CANCELLED
    with pytest.raises(NotFound):
        apply(state, ApproveInvitation("o", "nope"), T0)


def test_above_the_threshold_the_invitee_must_accept() -> None:
    settings = ConversationSettings(invite_accept_threshold=3)
    state = group("oabc", settings)  # 4 members: above 3
    outcome = apply(state, invite("a", "d"), T0)
    assert outcome.effects[0].kind is EffectKind.INVITATION_SENT
    assert outcome.state.invitations["i1"].status is InvitationStatus.PENDING_ACCEPTANCE
    assert outcome.state.invitations["i1"].needs_acceptance
    assert "d" not in outcome.state.members
    # Only the invitee can answer; to anyone else the invitation does not exist.
    with pytest.raises(NotFound):
        apply(outcome.state, AcceptInvitation("e", "i1"), T0)
    joined = apply(outcome.state, AcceptInvitation("d", "i1"), T0).state
    assert joined.members["d"].invited_by == "a"
    declined = apply(outcome.state, DeclineInvitation("d", "i1"), T0).state
    assert declined.invitations["i1"].status is InvitationStatus.DECLINED
    assert "d" not in declined.members
    # At exactly the threshold, invitees still join directly.
    assert "d" in apply(group("oab", settings), invite("a", "d"), T0).state.members


def test_approval_then_acceptance_in_a_large_group() -> None:
    settings = ConversationSettings(owner_approval=True, invite_accept_threshold=2)
    state = run(group("oabc", settings), invite("b", "d"), ApproveInvitation("o", "i1"))
    assert state.invitations["i1"].status is InvitationStatus.PENDING_ACCEPTANCE
    with pytest.raises(InvitationNotOpen):  # the invitee cannot skip the approval
        apply(run(group("oabc", settings), invite("b", "e", "i2")), AcceptInvitation("e", "i2"), T0)
    assert "d" in apply(state, AcceptInvitation("d", "i1"), T0).state.members


def test_accepting_when_the_group_filled_up_meanwhile() -> None:
    settings = ConversationSettings(member_cap=4, invite_accept_threshold=2)
    state = run(group("oab", settings), invite("o", "d"), invite("o", "e", "i2"))
    state = run(state, AcceptInvitation("d", "i1"))
    with pytest.raises(ConversationFull):
        apply(state, AcceptInvitation("e", "i2"), T0)


def test_leaving_closes_the_leavers_open_invitations() -> None:
    state = run(group(settings=ConversationSettings(owner_approval=True)), invite("b", "d"))
    state = run(state, Leave("b"))
    assert state.invitations["i1"].status is InvitationStatus.CANCELLED


# ---- invite links --------------------------------------------------------------------------


def test_invite_link_admits_until_it_expires() -> None:
    state = run(group(), CreateInviteLink("b", "L"))
    link = state.invite_links["L"]
    assert link.expires_at == T0 + timedelta(days=7)
    joined = apply(state, JoinByLink("d", "L"), T0 + timedelta(days=6)).state
    assert joined.members["d"].invited_by == "b"
    with pytest.raises(AlreadyMember):
        apply(joined, JoinByLink("d", "L"), T0)
    with pytest.raises(InviteLinkExpired) as err:
        apply(state, JoinByLink("d", "L"), T0 + timedelta(days=7))
    assert err.value.details["reason"] == "expired"
    with pytest.raises(NotFound):
        apply(state, JoinByLink("d", "nope"), T0)


def test_invite_link_stops_at_its_size_limit_and_the_cap() -> None:
    state = run(
        group("oab", ConversationSettings(invite_link_max_members=3)), CreateInviteLink("o", "L")
    )
    with pytest.raises(InviteLinkFull) as err:
        apply(state, JoinByLink("d", "L"), T0)
    assert err.value.details == {"invite_link_max_members": 3}
    state = run(group("oab", ConversationSettings(member_cap=3)), CreateInviteLink("o", "L"))
    with pytest.raises(ConversationFull):
        apply(state, JoinByLink("d", "L"), T0)


def test_invite_link_revoked_or_orphaned() -> None:
    state = run(group(), CreateInviteLink("b", "L"))
    with pytest.raises(NotAllowed):
        apply(state, RevokeInviteLink("c", "L"), T0)
    revoked = run(state, RevokeInviteLink("o", "L"))
    with pytest.raises(InviteLinkExpired) as err:
        apply(revoked, JoinByLink("d", "L"), T0)
    assert err.value.details["reason"] == "revoked"
    orphaned = run(state, Leave("b"))
    with pytest.raises(InviteLinkExpired) as err:
        apply(orphaned, JoinByLink("d", "L"), T0)
    assert err.value.details["reason"] == "creator_left"


def test_owner_approval_blocks_link_joining() -> None:
    state = run(group(), CreateInviteLink("b", "L"), SetOwnerApproval("o", enabled=True))
    with pytest.raises(InviteNeedsApproval):
        apply(state, JoinByLink("d", "L"), T0)
    with pytest.raises(InviteNeedsApproval):
        apply(state, CreateInviteLink("b", "L2"), T0)
    with pytest.raises(NotAllowed):
        apply(state, SetOwnerApproval("b", enabled=False), T0)


# ---- removal, mute, roles ------------------------------------------------------------------


def test_who_may_remove_whom() -> None:
    state = run(group("oabc"), PromoteAdmin("o", "a"), PromoteAdmin("o", "b"))
    assert "c" not in run(state, RemoveMember("a", "c")).members
    assert "a" not in run(state, RemoveMember("o", "a")).members
    for actor, target in [("a", "b"), ("a", "o"), ("o", "o"), ("c", "a")]:
        with pytest.raises(NotAllowed):
            apply(state, RemoveMember(actor, target), T0)
    with pytest.raises(NotAMember):
        apply(state, RemoveMember("o", "z"), T0)


def test_mute_for_a_duration() -> None:
    state = run(group("oabc"), PromoteAdmin("o", "a"))
    muted = apply(state, MuteMember("a", "c", timedelta(hours=1)), T0).state
    assert muted.members["c"].muted_until == T0 + timedelta(hours=1)
    with pytest.raises(MemberMuted) as err:
        check_can_send(muted, "c", T0 + timedelta(minutes=59))
    assert err.value.details["muted_until"] == (T0 + timedelta(hours=1)).isoformat()
    assert check_can_send(muted, "c", T0 + timedelta(hours=1)).account_id == "c"
    assert run(muted, UnmuteMember("o", "c")).members["c"].muted_until is None
    with pytest.raises(NotAllowed):
        apply(state, MuteMember("a", "o", timedelta(hours=1)), T0)
    with pytest.raises(NotAllowed):
        apply(state, MuteMember("b", "c", timedelta(hours=1)), T0)
    with pytest.raises(NotAllowed):
        apply(muted, UnmuteMember("b", "c"), T0)
    with pytest.raises(InvalidInput):
        apply(state, MuteMember("o", "c", timedelta(0)), T0)


def test_admin_cap_and_owner_only_appointments() -> None:
    state = run(group("oabc", ConversationSettings(admin_cap=1)), PromoteAdmin("o", "a"))
    with pytest.raises(AdminCapReached) as err:
        apply(state, PromoteAdmin("o", "b"), T0)
    assert err.value.details == {"admin_cap": 1}
    with pytest.raises(NotAllowed):
        apply(state, PromoteAdmin("a", "b"), T0)
    with pytest.raises(NotAllowed):
        apply(state, DemoteAdmin("o", "o"), T0)
    assert apply(state, PromoteAdmin("o", "a"), T0).state == state  # already an admin
    assert roles(run(state, DemoteAdmin("o", "a")))["a"] is Role.MEMBER


def test_leave() -> None:
    state = group()
    with pytest.raises(OwnerCannotLeave):
        apply(state, Leave("o"), T0)
    with pytest.raises(NotAMember):
        apply(state, Leave("z"), T0)
    assert "b" not in run(state, Leave("b")).members


# ---- ownership -----------------------------------------------------------------------------


def test_transfer_needs_the_new_owner_to_accept() -> None:
    state = run(group("oabc"), PromoteAdmin("o", "a"))
    with pytest.raises(NotAllowed):
        apply(state, ProposeTransfer("a", "b"), T0)
    proposed = run(state, ProposeTransfer("o", "a"))
    assert roles(proposed) == roles(state)  # nothing changes until the new owner accepts
    with pytest.raises(NoTransferPending):
        apply(proposed, AcceptTransfer("b"), T0)
    done = run(proposed, AcceptTransfer("a"))
    assert done.conversation.owner_id == "a"
    assert roles(done) == {"o": Role.MEMBER, "a": Role.OWNER, "b": Role.MEMBER, "c": Role.MEMBER}
    assert done.conversation.proposed_owner_id is None
    assert "o" not in run(done, Leave("o")).members


def test_transfer_declined_withdrawn_or_orphaned() -> None:
    proposed = run(group("oabc"), ProposeTransfer("o", "b"))
    for actor in ("b", "o"):
        assert run(proposed, DeclineTransfer(actor)).conversation.proposed_owner_id is None
    with pytest.raises(NoTransferPending):
        apply(proposed, DeclineTransfer("c"), T0)
    left = run(proposed, Leave("b"))
    assert left.conversation.proposed_owner_id is None
    rejoined = run(left, invite("o", "b"))
    with pytest.raises(NoTransferPending):  # a proposal does not survive leaving
        apply(rejoined, AcceptTransfer("b"), T0)
    with pytest.raises(InvalidInput):
        apply(proposed, ProposeTransfer("o", "o"), T0)


# ---- name, announcement, nickname, dissolve ------------------------------------------------


def test_name_and_announcement() -> None:
    state = run(group("oabc"), PromoteAdmin("o", "a"))
    assert run(state, SetName("a", "New")).conversation.name == "New"
    with pytest.raises(NotAllowed):
        apply(state, SetName("b", "New"), T0)
    outcome = apply(state, SetAnnouncement("a", "Dinner at 7\n"), T0)
    assert outcome.state.conversation.announcement == "Dinner at 7"
    assert [e.kind for e in outcome.effects] == [EffectKind.NOTIFY_ALL_MEMBERS]
    cleared = apply(outcome.state, SetAnnouncement("o", "  "), T0)
    assert cleared.state.conversation.announcement is None
    assert cleared.effects == ()
    with pytest.raises(NotAllowed):
        apply(state, SetAnnouncement("b", "hi"), T0)
    with pytest.raises(InvalidInput):
        apply(state, SetAnnouncement("o", "x" * 2001), T0)
    with pytest.raises(InvalidInput):
        apply(state, SetName("o", "bad\x1bname"), T0)


def test_own_nickname() -> None:
    state = run(group(), SetNickname("b", "  Bee "))
    assert state.members["b"].nickname == "Bee"
    assert run(state, SetNickname("b", " ")).members["b"].nickname is None
    with pytest.raises(InvalidInput):
        apply(state, SetNickname("b", "x" * 33), T0)
    with pytest.raises(NotAMember):
        apply(state, SetNickname("z", "Zed"), T0)


def test_dissolve_freezes_the_group() -> None:
    state = run(group(settings=ConversationSettings(owner_approval=True)), invite("b", "d"))
    with pytest.raises(NotAllowed):
        apply(state, Dissolve("b"), T0)
    dissolved = run(state, Dissolve("o"))
    assert dissolved.conversation.dissolved_at == T0
    assert dissolved.invitations["i1"].status is InvitationStatus.CANCELLED
    for command in (SetName("o", "x"), Leave("b"), Dissolve("o"), JoinByLink("d", "L")):
        with pytest.raises(ConversationDissolved):
            apply(dissolved, command, T0)
    with pytest.raises(ConversationDissolved):
        check_can_send(dissolved, "o", T0)


def test_not_allowed_is_forbidden_with_details() -> None:
    with pytest.raises(NotAllowed) as err:
        apply(group(), Dissolve("b"), T0)
    assert isinstance(err.value, Forbidden)
    assert err.value.code == "not_allowed"
    assert err.value.details == {"action": "dissolve the group", "role": "member"}


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConversationFull(500), "conversation_full"),
        (NotAMember("x"), "not_a_member"),
        (NotAllowed("x"), "not_allowed"),
        (AdminCapReached(3), "admin_cap_reached"),
        (InviteNeedsApproval(), "invite_needs_approval"),
        (InviteLinkExpired("expired", T0), "invite_link_expired"),
        (InviteLinkFull(200), "invite_link_full"),
        (OwnerCannotLeave(), "owner_cannot_leave"),
        (AlreadyMember("x"), "already_member"),
        (MemberMuted(T0), "member_muted"),
        (ConversationDissolved(), "conversation_dissolved"),
    ],
)
def test_stable_error_codes(error: CourtyardError, code: str) -> None:
    assert error.code == code
    assert error.to_dict()["error"]["code"] == code


# ---- messages ------------------------------------------------------------------------------


def test_check_text() -> None:
    settings = ConversationSettings(message_max_chars=10)
    assert check_text("hi\r\nthere", settings) == "hi\nthere"
    assert check_text("", settings, has_attachments=True) == ""
    with pytest.raises(EmptyMessage):
        check_text(" \n\t", settings)
    with pytest.raises(MessageTooLong) as err:
        check_text("x" * 11, settings)
    assert err.value.details["max_chars"] == 10
    with pytest.raises(InvalidInput) as bad:
        check_text("ding\x07", settings)
    assert bad.value.code == "invalid_text"
    assert check_text("你好 👋🏽", settings) == "你好 👋🏽"


def test_parse_mentions() -> None:
    names = {"Ann": "a", "Ann Lee": "al", "bob": "b", "小明": "m"}
    parsed = parse_mentions("@ann lee and @Bob, ask @小明 ", names)
    assert parsed == Mentions(frozenset({"al", "b", "m"}), everyone=False)
    assert parse_mentions("@Ann: hi", names).account_ids == {"a"}
    assert parse_mentions("@Annabel hi", names).account_ids == frozenset()
    assert parse_mentions("mail ann@bob.com", names).account_ids == frozenset()
    assert parse_mentions("@all dinner!", names) == Mentions(frozenset(), everyone=True)
    assert parse_mentions("@所有人 开会", names).everyone
    assert not parse_mentions("@allison", names).everyone


def test_only_owner_and_admins_mention_everyone() -> None:
    state = run(group("oabc"), PromoteAdmin("o", "a"))
    everyone = Mentions(everyone=True)
    check_mentions(everyone, state.members["o"])
    check_mentions(everyone, state.members["a"])
    check_mentions(Mentions(frozenset({"a"})), state.members["b"])
    with pytest.raises(MentionAllNotAllowed) as err:
        check_mentions(everyone, state.members["b"])
    assert err.value.code == "mention_all_not_allowed"


def message(**changes: Any) -> Message:
    return replace(
        Message(id="m1", conversation_id="g", sender_id="b", text="hi", sent_at=T0), **changes
    )


def test_recall_by_the_sender_within_the_window() -> None:
    settings = ConversationSettings()
    sent = message()
    assert can_recall(sent, "b", T0 + timedelta(minutes=2), settings)
    assert not can_recall(sent, "b", T0 + timedelta(minutes=2, seconds=1), settings)
    with pytest.raises(RecallWindowPassed) as err:
        check_recall(sent, "b", T0 + timedelta(minutes=3), settings)
    assert err.value.details == {"recall_window_seconds": 120}
    # Owners and admins do not recall other people's messages; they moderate them.
    with pytest.raises(NotAllowed):
        check_recall(sent, "o", T0, settings)
    recalled = recall(sent, "b", T0 + timedelta(seconds=5), settings)
    assert (recalled.text, recalled.recalled_at) == ("", T0 + timedelta(seconds=5))
    with pytest.raises(MessageRecalled):
        check_recall(recalled, "b", T0, settings)
    longer = ConversationSettings(recall_window=timedelta(minutes=10))
    assert can_recall(sent, "b", T0 + timedelta(minutes=9), longer)


def test_forward_adds_a_hop() -> None:
    original = message(hops=2, reply_to_id="m0", attachment_ids=("f1",))
    copy = forward(original, message_id="m2", conversation_id="h", sender_id="c", now=T0)
    assert (copy.hops, copy.conversation_id, copy.sender_id) == (3, "h", "c")
    assert (copy.text, copy.attachment_ids, copy.reply_to_id) == ("hi", ("f1",), None)
    with pytest.raises(MessageRecalled):
        forward(
            message(recalled_at=T0), message_id="m3", conversation_id="h", sender_id="c", now=T0
        )


def test_direct_key_is_order_free() -> None:
    assert direct_key("A", "B") == direct_key("B", "A")
    assert direct_key("A", "B") != direct_key("A", "C")
    with pytest.raises(DirectWithSelf):
        direct_key("A", "A")


def test_non_member_cannot_send() -> None:
    with pytest.raises(NotAMember):
        check_can_send(group(), "z", T0)


def test_invitation_record_is_open_only_while_pending() -> None:
    pending = Invitation("i", "a", "b", InvitationStatus.PENDING_APPROVAL, T0, True, False)
    assert pending.is_open
    assert not Invitation("i", "a", "b", InvitationStatus.ACCEPTED, T0, False, False).is_open

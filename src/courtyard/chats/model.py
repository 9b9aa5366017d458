"""Chats records and the pure rules of conversations, groups and messages.

The heart of the pillar is ``apply``: given what is stored about one group (``GroupState``), a
command by one account and the current time, it returns the new ``GroupState`` and the effects
the service must carry out after commit (events, notification cards), or raises the typed
error the actor should see. It does no I/O, so the service loads a ``GroupState`` inside its
transaction, calls ``apply`` and writes the difference, and property tests check the rules'
invariants over random command sequences.

Message rules (``check_text``, ``parse_mentions``, ``check_recall``, ``forward``,
``check_can_send``, ``direct_key``) are plain functions for the same reason.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from courtyard.core.errors import Conflict, CourtyardError, Forbidden, InvalidInput, NotFound
from courtyard.core.text import text_problem

GROUP_NAME_MAX = 64
NICKNAME_MAX = 32
ANNOUNCEMENT_MAX = 2000
RULES_MAX = 2000
ALL_MENTION_TOKENS = ("all", "所有人")  # "@all" and WeChat's "@所有人" mean everyone


class ConversationKind(StrEnum):
    DIRECT = "direct"
    GROUP = "group"


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


# Higher ranks may manage lower ones (remove, mute); equal ranks may not manage each other.
_RANK = {Role.OWNER: 2, Role.ADMIN: 1, Role.MEMBER: 0}


class InvitationStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"  # an owner or admin must approve it first
    PENDING_ACCEPTANCE = "pending_acceptance"  # the invitee must accept the card
    ACCEPTED = "accepted"
    DECLINED = "declined"  # by the invitee, or rejected by an owner/admin (see decided_by)
    CANCELLED = "cancelled"  # withdrawn, superseded, or closed because the inviter left


OPEN_INVITATION_STATUSES = frozenset(
    {InvitationStatus.PENDING_APPROVAL, InvitationStatus.PENDING_ACCEPTANCE}
)


# ---- records -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConversationSettings:
    """Per-conversation limits; the defaults follow WeChat's documented behaviour."""

    member_cap: int = 500
    admin_cap: int = 3
    owner_approval: bool = False
    invite_accept_threshold: int = 40  # above this many members an invitee must accept
    invite_link_max_members: int = 200  # links stop admitting at this many members
    invite_link_ttl: timedelta = timedelta(days=7)
    recall_window: timedelta = timedelta(minutes=2)
    message_max_chars: int = 5000


@dataclass(frozen=True, slots=True)
class ReadOnly:
    """The platform's read-only mode on a group: a reviewer's measure, explained to the owner
    by a statement of reasons (``statement_id``) and to the members by its ``reason``."""

    statement_id: str
    since: datetime
    until: datetime | None  # None: until it is lifted
    reason: str

    def in_force(self, now: datetime) -> bool:
        return read_only_in_force(self.until, now)


def read_only_in_force(until: datetime | None, now: datetime) -> bool:
    """Expiry needs no job: a read-only mode whose end has passed no longer applies."""
    return until is None or now < until


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    kind: ConversationKind
    name: str | None
    owner_id: str | None  # None for a direct conversation
    created_at: datetime
    settings: ConversationSettings = field(default_factory=ConversationSettings)
    announcement: str | None = None
    proposed_owner_id: str | None = None  # an ownership transfer waiting for acceptance
    dissolved_at: datetime | None = None
    rules: str | None = None  # the group's rules, shown to everyone who joins
    read_only: ReadOnly | None = None  # set and lifted by due process, never by ``apply``

    def read_only_at(self, now: datetime) -> ReadOnly | None:
        """The read-only mode in force at ``now``, if any."""
        if self.read_only is not None and self.read_only.in_force(now):
            return self.read_only
        return None


@dataclass(frozen=True, slots=True)
class Member:
    account_id: str
    role: Role
    joined_at: datetime
    nickname: str | None = None
    muted_until: datetime | None = None
    invited_by: str | None = None

    def is_muted(self, now: datetime) -> bool:
        return self.muted_until is not None and now < self.muted_until


@dataclass(frozen=True, slots=True)
class Invitation:
    """One invitee invited by one member; the approval card shows both (who invited whom)."""

    id: str
    inviter_id: str
    invitee_id: str
    status: InvitationStatus
    created_at: datetime
    needs_approval: bool
    needs_acceptance: bool
    decided_by: str | None = None  # who approved or rejected it, when someone had to

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_INVITATION_STATUSES


@dataclass(frozen=True, slots=True)
class InviteLink:
    """A shareable link (or QR code) that admits whoever opens it, within its limits."""

    id: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    conversation_id: str
    sender_id: str
    text: str
    sent_at: datetime
    hops: int = 0  # how many times this content has been forwarded; governance adds friction
    attachment_ids: tuple[str, ...] = ()
    reply_to_id: str | None = None
    recalled_at: datetime | None = None
    # Set by governance: labels shown with the message ("possible_scam"), and friction, which
    # lets it be forwarded to one conversation at a time.
    labels: tuple[str, ...] = ()
    friction: bool = False
    # The message this content was first sent as (forwards carry it): virality is counted
    # per original, not per copy.
    origin_id: str | None = None
    # The owner or admin who removed it for everyone (a recall by its author leaves None).
    removed_by: str | None = None


@dataclass(frozen=True, slots=True)
class GroupState:
    """Everything the group rules read: the conversation, its members and open offers.

    The mappings are never mutated: every rule builds new ones, so a state can be compared
    with the one before it.
    """

    conversation: Conversation
    members: Mapping[str, Member]
    invitations: Mapping[str, Invitation] = field(default_factory=dict)
    invite_links: Mapping[str, InviteLink] = field(default_factory=dict)

    def member(self, account_id: str) -> Member | None:
        return self.members.get(account_id)

    def with_role(self, role: Role) -> list[Member]:
        return [m for m in self.members.values() if m.role is role]


# ---- domain errors -------------------------------------------------------------------------


class ConversationFull(Conflict):
    code = "conversation_full"

    def __init__(self, member_cap: int) -> None:
        super().__init__(
            f"This group already has its maximum of {member_cap} members.",
            details={"member_cap": member_cap},
        )


class NotAMember(Forbidden):
    code = "not_a_member"

    def __init__(self, account_id: str) -> None:
        super().__init__(
            "This account is not a member of the group.", details={"account_id": account_id}
        )


class NotAllowed(Forbidden):
    code = "not_allowed"

    def __init__(self, action: str, role: Role | None = None) -> None:
        details: dict[str, Any] = {"action": action}
        if role is not None:
            details["role"] = role.value
        super().__init__(f"Your role in this group does not allow: {action}.", details=details)


class AdminCapReached(Conflict):
    code = "admin_cap_reached"

    def __init__(self, admin_cap: int) -> None:
        super().__init__(
            f"A group can have at most {admin_cap} admins.", details={"admin_cap": admin_cap}
        )


class InviteNeedsApproval(Forbidden):
    """Owner approval is on, so nobody may join without an approved invitation."""

    code = "invite_needs_approval"
    default_message = "The owner approves every new member of this group; ask for an invitation."


class InviteLinkExpired(Conflict):
    code = "invite_link_expired"

    def __init__(self, reason: str, expires_at: datetime) -> None:
        super().__init__(
            "This invite link no longer works.",
            details={"reason": reason, "expires_at": expires_at.isoformat()},
        )


class InviteLinkFull(Conflict):
    code = "invite_link_full"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Groups of {limit} or more members can be joined only by invitation.",
            details={"invite_link_max_members": limit},
        )


class OwnerCannotLeave(Conflict):
    code = "owner_cannot_leave"
    default_message = "Transfer ownership to another member before leaving the group."


class AlreadyMember(Conflict):
    code = "already_member"

    def __init__(self, account_id: str) -> None:
        super().__init__(
            "This account is already a member of the group.", details={"account_id": account_id}
        )


class AlreadyInvited(Conflict):
    code = "already_invited"

    def __init__(self, invitation_id: str) -> None:
        super().__init__(
            "This account already has an open invitation to the group.",
            details={"invitation_id": invitation_id},
        )


class MemberMuted(Forbidden):
    code = "member_muted"

    def __init__(self, muted_until: datetime) -> None:
        super().__init__(
            "You are muted in this group.", details={"muted_until": muted_until.isoformat()}
        )


class ConversationDissolved(Conflict):
    code = "conversation_dissolved"
    default_message = "This group has been dissolved."


class GroupReadOnly(Forbidden):
    """The platform put the group in read-only mode: members read and may leave; nobody sends
    or changes the group until it ends or is lifted (its owner was told why and may appeal)."""

    code = "group_read_only"

    def __init__(self, until: datetime | None) -> None:
        super().__init__(
            "The platform has made this group read-only: it can be read, and left, but not "
            "written to"
            + (f" until {until.isoformat()}." if until is not None else " until further notice."),
            details={"until": until.isoformat() if until is not None else None},
        )


class NotAFriend(Forbidden):
    code = "not_a_friend"

    def __init__(self, account_ids: Iterable[str]) -> None:
        super().__init__(
            "You can add only your friends to a group.",
            details={"account_ids": sorted(account_ids)},
        )


class NoTransferPending(Conflict):
    code = "no_transfer_pending"
    default_message = "No ownership transfer is waiting for this account."


class InvitationNotOpen(Conflict):
    code = "invitation_not_open"

    def __init__(self, status: InvitationStatus) -> None:
        super().__init__(
            "This invitation is not waiting for this answer.", details={"status": status.value}
        )


class EmptyMessage(InvalidInput):
    code = "empty_message"
    default_message = "A message needs some text or an attachment."


class MessageTooLong(InvalidInput):
    code = "message_too_long"

    def __init__(self, max_chars: int) -> None:
        super().__init__(
            f"A message is at most {max_chars} characters.",
            details={"field": "text", "max_chars": max_chars},
        )


class MentionAllNotAllowed(Forbidden):
    code = "mention_all_not_allowed"
    default_message = "Only the group owner and admins can mention everyone."


class RecallWindowPassed(Conflict):
    code = "recall_window_passed"

    def __init__(self, window: timedelta) -> None:
        seconds = int(window.total_seconds())
        super().__init__(
            f"A message can be recalled only within {seconds} seconds of sending it.",
            details={"recall_window_seconds": seconds},
        )


class MessageRecalled(Conflict):
    code = "message_recalled"
    default_message = "This message has been recalled."


class ForwardFriction(InvalidInput):
    code = "forward_friction"
    default_message = (
        "This message can be forwarded to one conversation at a time: it has a label or has "
        "travelled far (see its label)."
    )


class DirectWithSelf(InvalidInput):
    code = "direct_with_self"
    default_message = "A direct conversation needs two different accounts."


class RecipientUnavailable(Forbidden):
    """The other person cannot receive messages from the sender (a block, a closed account)."""

    code = "recipient_unavailable"
    default_message = "This person is not accepting your messages."


def conversation_not_found() -> NotFound:
    """Also what someone outside a conversation is told: it does not exist for them."""
    return NotFound("No such conversation.", code="conversation_not_found")


def message_not_found() -> NotFound:
    return NotFound("No such message.", code="message_not_found")


def attachment_not_found() -> NotFound:
    return NotFound("No such attachment.", code="attachment_not_found")


def invitation_not_found() -> NotFound:
    return NotFound("No such invitation.", code="invitation_not_found")


def invite_link_not_found() -> NotFound:
    return NotFound("No such invite link.", code="invite_link_not_found")


# ---- commands and effects ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Invite:
    """Invite a friend of the inviter; ``friends`` are the inviter's friends (the service loads
    them), because a group is joined through someone who knows you."""

    actor_id: str
    invitation_id: str
    invitee_id: str
    friends: frozenset[str]


@dataclass(frozen=True, slots=True)
class ApproveInvitation:
    actor_id: str
    invitation_id: str


@dataclass(frozen=True, slots=True)
class RejectInvitation:
    actor_id: str
    invitation_id: str


@dataclass(frozen=True, slots=True)
class AcceptInvitation:
    actor_id: str  # the invitee
    invitation_id: str


@dataclass(frozen=True, slots=True)
class DeclineInvitation:
    actor_id: str  # the invitee
    invitation_id: str


@dataclass(frozen=True, slots=True)
class CancelInvitation:
    actor_id: str  # the inviter, the owner or an admin
    invitation_id: str


@dataclass(frozen=True, slots=True)
class CreateInviteLink:
    actor_id: str
    link_id: str


@dataclass(frozen=True, slots=True)
class RevokeInviteLink:
    actor_id: str
    link_id: str


@dataclass(frozen=True, slots=True)
class JoinByLink:
    actor_id: str
    link_id: str


@dataclass(frozen=True, slots=True)
class RemoveMember:
    actor_id: str
    target_id: str


@dataclass(frozen=True, slots=True)
class MuteMember:
    actor_id: str
    target_id: str
    duration: timedelta


@dataclass(frozen=True, slots=True)
class UnmuteMember:
    actor_id: str
    target_id: str


@dataclass(frozen=True, slots=True)
class PromoteAdmin:
    actor_id: str
    target_id: str


@dataclass(frozen=True, slots=True)
class DemoteAdmin:
    actor_id: str
    target_id: str


@dataclass(frozen=True, slots=True)
class Leave:
    actor_id: str


@dataclass(frozen=True, slots=True)
class ProposeTransfer:
    actor_id: str  # the owner
    new_owner_id: str


@dataclass(frozen=True, slots=True)
class AcceptTransfer:
    actor_id: str  # the proposed owner


@dataclass(frozen=True, slots=True)
class DeclineTransfer:
    actor_id: str  # the proposed owner declines, or the owner withdraws the proposal


@dataclass(frozen=True, slots=True)
class SetName:
    actor_id: str
    name: str


@dataclass(frozen=True, slots=True)
class SetAnnouncement:
    actor_id: str
    text: str  # empty clears it, without notifying anyone


@dataclass(frozen=True, slots=True)
class SetRules:
    actor_id: str
    text: str  # empty clears them


@dataclass(frozen=True, slots=True)
class SetNickname:
    actor_id: str
    nickname: str | None  # None or blank clears it


@dataclass(frozen=True, slots=True)
class SetOwnerApproval:
    actor_id: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class Dissolve:
    actor_id: str


Command = (
    Invite
    | ApproveInvitation
    | RejectInvitation
    | AcceptInvitation
    | DeclineInvitation
    | CancelInvitation
    | CreateInviteLink
    | RevokeInviteLink
    | JoinByLink
    | RemoveMember
    | MuteMember
    | UnmuteMember
    | PromoteAdmin
    | DemoteAdmin
    | Leave
    | ProposeTransfer
    | AcceptTransfer
    | DeclineTransfer
    | SetName
    | SetAnnouncement
    | SetRules
    | SetNickname
    | SetOwnerApproval
    | Dissolve
)


class EffectKind(StrEnum):
    """What the service publishes after commit; each names who must hear about it."""

    CREATED = "created"
    MEMBER_JOINED = "member_joined"
    MEMBER_LEFT = "member_left"
    MEMBER_REMOVED = "member_removed"
    APPROVAL_REQUESTED = "approval_requested"  # a card to owner/admins: inviter and invitee
    INVITATION_SENT = "invitation_sent"  # a card the invitee must accept
    INVITATION_CLOSED = "invitation_closed"  # declined, rejected or cancelled
    INVITE_LINK_CREATED = "invite_link_created"
    INVITE_LINK_REVOKED = "invite_link_revoked"
    MUTED = "muted"
    UNMUTED = "unmuted"
    ROLE_CHANGED = "role_changed"
    TRANSFER_PROPOSED = "transfer_proposed"
    TRANSFER_CLOSED = "transfer_closed"
    OWNER_CHANGED = "owner_changed"
    RENAMED = "renamed"
    NOTIFY_ALL_MEMBERS = "notify_all_members"  # a published announcement
    RULES_CHANGED = "rules_changed"
    NICKNAME_CHANGED = "nickname_changed"
    SETTINGS_CHANGED = "settings_changed"
    DISSOLVED = "dissolved"


@dataclass(frozen=True, slots=True)
class Effect:
    kind: EffectKind
    account_id: str | None = None  # the member or invitee the effect is about
    by_id: str | None = None  # who caused it, when that is someone else
    invitation_id: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    state: GroupState
    effects: tuple[Effect, ...] = ()


# ---- group rules ---------------------------------------------------------------------------


def create_group(
    *,
    conversation_id: str,
    owner_id: str,
    name: str,
    member_ids: Iterable[str],
    friends: frozenset[str],
    now: datetime,
    settings: ConversationSettings | None = None,
) -> Outcome:
    """A new group of the owner and some of the owner's friends, all joining at once.

    ``friends`` are the owner's friends as the service loaded them; the model only checks
    membership, so it never needs to look anything up.
    """
    settings = settings or ConversationSettings()
    others = sorted(set(member_ids) - {owner_id})
    if not others:
        raise InvalidInput(
            "A group needs at least one other member.",
            details={"field": "member_ids"},
            code="group_needs_members",
        )
    strangers = [account_id for account_id in others if account_id not in friends]
    if strangers:
        raise NotAFriend(strangers)
    if 1 + len(others) > settings.member_cap:
        raise ConversationFull(settings.member_cap)
    conversation = Conversation(
        id=conversation_id,
        kind=ConversationKind.GROUP,
        name=normalize_group_name(name),
        owner_id=owner_id,
        created_at=now,
        settings=settings,
    )
    members = {owner_id: Member(owner_id, Role.OWNER, joined_at=now)}
    for account_id in others:
        members[account_id] = Member(account_id, Role.MEMBER, joined_at=now, invited_by=owner_id)
    effects = [Effect(EffectKind.CREATED, by_id=owner_id)]
    effects += [Effect(EffectKind.MEMBER_JOINED, account_id=a, by_id=owner_id) for a in others]
    return Outcome(GroupState(conversation, members), tuple(effects))


def apply(state: GroupState, command: Command, now: datetime) -> Outcome:
    """Apply ``command`` to the group, or raise the error its actor should see.

    A dissolved group refuses everything; every other command needs its actor to be a member,
    except the three by which an outsider gets in (accepting or declining their own invitation,
    and joining by link).
    """
    if state.conversation.dissolved_at is not None:
        raise ConversationDissolved
    check_not_read_only(state, command, now)
    rule: Callable[[GroupState, Any, datetime], Outcome] = _RULES[type(command)]
    return rule(state, command, now)


# What a read-only group still allows: going away (a member leaving, an invitee declining their
# card). Everything else adds or changes something and waits until the mode ends.
ALLOWED_WHILE_READ_ONLY: tuple[type, ...] = (Leave, DeclineInvitation)


def check_not_read_only(state: GroupState, command: Command | None, now: datetime) -> None:
    """Refuse ``command`` (None: a message send or removal) while the platform's read-only
    mode is in force."""
    read_only = state.conversation.read_only_at(now)
    if read_only is not None and not isinstance(command, ALLOWED_WHILE_READ_ONLY):
        raise GroupReadOnly(read_only.until)


def _require_member(state: GroupState, account_id: str) -> Member:
    member = state.members.get(account_id)
    if member is None:
        raise NotAMember(account_id)
    return member


def _require_role(member: Member, action: str, *roles: Role) -> None:
    if member.role not in roles:
        raise NotAllowed(action, member.role)


def _require_outranks(actor: Member, target: Member, action: str) -> None:
    if _RANK[actor.role] <= _RANK[target.role]:
        raise NotAllowed(action, actor.role)


def _require_room(state: GroupState) -> None:
    """The one check every way in passes, so the member cap can never be exceeded."""
    cap = state.conversation.settings.member_cap
    if len(state.members) >= cap:
        raise ConversationFull(cap)


_K = TypeVar("_K")
_V = TypeVar("_V")


def _with(mapping: Mapping[_K, _V], key: _K, value: _V) -> dict[_K, _V]:
    updated = dict(mapping)
    updated[key] = value
    return updated


def _admit(state: GroupState, account_id: str, invited_by: str | None, now: datetime) -> GroupState:
    """Add a member, and close the other open invitations they had: they are in now."""
    _require_room(state)
    member = Member(account_id, Role.MEMBER, joined_at=now, invited_by=invited_by)
    invitations = {
        key: replace(inv, status=InvitationStatus.CANCELLED)
        if inv.is_open and inv.invitee_id == account_id
        else inv
        for key, inv in state.invitations.items()
    }
    return replace(state, members=_with(state.members, account_id, member), invitations=invitations)


def _without_member(state: GroupState, account_id: str) -> GroupState:
    """Drop a member with everything that hung on them: their role, an ownership transfer
    proposed to them, and invitations they sent that nobody has acted on yet."""
    members = {key: m for key, m in state.members.items() if key != account_id}
    invitations = {
        key: replace(inv, status=InvitationStatus.CANCELLED)
        if inv.is_open and inv.inviter_id == account_id
        else inv
        for key, inv in state.invitations.items()
    }
    conversation = state.conversation
    if conversation.proposed_owner_id == account_id:
        conversation = replace(conversation, proposed_owner_id=None)
    return replace(state, conversation=conversation, members=members, invitations=invitations)


def _open_invitation_for(state: GroupState, invitee_id: str) -> Invitation | None:
    for invitation in state.invitations.values():
        if invitation.is_open and invitation.invitee_id == invitee_id:
            return invitation
    return None


def _needs_acceptance(state: GroupState) -> bool:
    return len(state.members) > state.conversation.settings.invite_accept_threshold


def _invite(state: GroupState, command: Invite, now: datetime) -> Outcome:
    inviter = _require_member(state, command.actor_id)
    if command.invitee_id in state.members:
        raise AlreadyMember(command.invitee_id)
    if command.invitee_id not in command.friends:
        raise NotAFriend([command.invitee_id])
    existing = _open_invitation_for(state, command.invitee_id)
    if existing is not None:
        raise AlreadyInvited(existing.id)
    if command.invitation_id in state.invitations:
        raise Conflict("This invitation id is taken.", code="invitation_exists")
    _require_room(state)
    needs_approval = state.conversation.settings.owner_approval and inviter.role is Role.MEMBER
    invitation = Invitation(
        id=command.invitation_id,
        inviter_id=inviter.account_id,
        invitee_id=command.invitee_id,
        status=InvitationStatus.PENDING_APPROVAL,
        created_at=now,
        needs_approval=needs_approval,
        needs_acceptance=False,
    )
    if needs_approval:
        state = replace(state, invitations=_with(state.invitations, invitation.id, invitation))
        effect = Effect(
            EffectKind.APPROVAL_REQUESTED,
            account_id=invitation.invitee_id,
            by_id=invitation.inviter_id,
            invitation_id=invitation.id,
        )
        return Outcome(state, (effect,))
    return _after_approval(state, invitation, now)


def _after_approval(state: GroupState, invitation: Invitation, now: datetime) -> Outcome:
    """Admit the invitee at once, or send them a card to accept when the group is large."""
    if _needs_acceptance(state):
        invitation = replace(
            invitation, status=InvitationStatus.PENDING_ACCEPTANCE, needs_acceptance=True
        )
        state = replace(state, invitations=_with(state.invitations, invitation.id, invitation))
        effect = Effect(
            EffectKind.INVITATION_SENT,
            account_id=invitation.invitee_id,
            by_id=invitation.inviter_id,
            invitation_id=invitation.id,
        )
        return Outcome(state, (effect,))
    return _join_by_invitation(state, invitation, now)


def _join_by_invitation(state: GroupState, invitation: Invitation, now: datetime) -> Outcome:
    state = _admit(state, invitation.invitee_id, invitation.inviter_id, now)
    accepted = replace(invitation, status=InvitationStatus.ACCEPTED)
    state = replace(state, invitations=_with(state.invitations, accepted.id, accepted))
    effect = Effect(
        EffectKind.MEMBER_JOINED,
        account_id=invitation.invitee_id,
        by_id=invitation.inviter_id,
        invitation_id=invitation.id,
    )
    return Outcome(state, (effect,))


def _open_invitation(state: GroupState, invitation_id: str) -> Invitation:
    invitation = state.invitations.get(invitation_id)
    if invitation is None:
        raise invitation_not_found()
    if not invitation.is_open:
        raise InvitationNotOpen(invitation.status)
    return invitation


def _close(
    state: GroupState, invitation: Invitation, status: InvitationStatus, by_id: str
) -> Outcome:
    closed = replace(invitation, status=status)
    state = replace(state, invitations=_with(state.invitations, closed.id, closed))
    effect = Effect(
        EffectKind.INVITATION_CLOSED,
        account_id=invitation.invitee_id,
        by_id=by_id,
        invitation_id=invitation.id,
    )
    return Outcome(state, (effect,))


def _approval_pending(
    state: GroupState, command: ApproveInvitation | RejectInvitation
) -> Invitation:
    approver = _require_member(state, command.actor_id)
    _require_role(approver, "approve invitations", Role.OWNER, Role.ADMIN)
    invitation = _open_invitation(state, command.invitation_id)
    if invitation.status is not InvitationStatus.PENDING_APPROVAL:
        raise InvitationNotOpen(invitation.status)
    return invitation


def _approve(state: GroupState, command: ApproveInvitation, now: datetime) -> Outcome:
    invitation = _approval_pending(state, command)
    _require_room(state)
    return _after_approval(state, replace(invitation, decided_by=command.actor_id), now)


def _reject(state: GroupState, command: RejectInvitation, _now: datetime) -> Outcome:
    invitation = replace(_approval_pending(state, command), decided_by=command.actor_id)
    return _close(state, invitation, InvitationStatus.DECLINED, command.actor_id)


def _own_acceptance_pending(
    state: GroupState, command: AcceptInvitation | DeclineInvitation
) -> Invitation:
    invitation = state.invitations.get(command.invitation_id)
    if invitation is None or invitation.invitee_id != command.actor_id:
        raise invitation_not_found()  # someone else's invitation does not exist for you
    if invitation.status is not InvitationStatus.PENDING_ACCEPTANCE:
        raise InvitationNotOpen(invitation.status)
    return invitation


def _accept_invitation(state: GroupState, command: AcceptInvitation, now: datetime) -> Outcome:
    invitation = _own_acceptance_pending(state, command)
    return _join_by_invitation(state, invitation, now)


def _decline_invitation(state: GroupState, command: DeclineInvitation, _now: datetime) -> Outcome:
    invitation = _own_acceptance_pending(state, command)
    return _close(state, invitation, InvitationStatus.DECLINED, command.actor_id)


def _cancel_invitation(state: GroupState, command: CancelInvitation, _now: datetime) -> Outcome:
    actor = _require_member(state, command.actor_id)
    invitation = _open_invitation(state, command.invitation_id)
    if invitation.inviter_id != actor.account_id and actor.role is Role.MEMBER:
        raise NotAllowed("cancel someone else's invitation", actor.role)
    return _close(state, invitation, InvitationStatus.CANCELLED, command.actor_id)


def _create_link(state: GroupState, command: CreateInviteLink, now: datetime) -> Outcome:
    actor = _require_member(state, command.actor_id)
    if state.conversation.settings.owner_approval and actor.role is Role.MEMBER:
        raise InviteNeedsApproval
    if command.link_id in state.invite_links:
        raise Conflict("This invite link id is taken.", code="invite_link_exists")
    link = InviteLink(
        id=command.link_id,
        created_by=actor.account_id,
        created_at=now,
        expires_at=now + state.conversation.settings.invite_link_ttl,
    )
    state = replace(state, invite_links=_with(state.invite_links, link.id, link))
    return Outcome(state, (Effect(EffectKind.INVITE_LINK_CREATED, by_id=actor.account_id),))


def _revoke_link(state: GroupState, command: RevokeInviteLink, _now: datetime) -> Outcome:
    actor = _require_member(state, command.actor_id)
    link = state.invite_links.get(command.link_id)
    if link is None:
        raise invite_link_not_found()
    if link.created_by != actor.account_id and actor.role is Role.MEMBER:
        raise NotAllowed("revoke someone else's invite link", actor.role)
    if link.revoked:
        return Outcome(state)
    revoked = replace(link, revoked=True)
    state = replace(state, invite_links=_with(state.invite_links, link.id, revoked))
    return Outcome(state, (Effect(EffectKind.INVITE_LINK_REVOKED, by_id=actor.account_id),))


def _join_by_link(state: GroupState, command: JoinByLink, now: datetime) -> Outcome:
    """A link works while it is young, unrevoked, its creator still a member, the group below
    the link size limit, and owner approval off (approval would be pointless otherwise)."""
    settings = state.conversation.settings
    link = state.invite_links.get(command.link_id)
    if link is None:
        raise invite_link_not_found()
    if command.actor_id in state.members:
        raise AlreadyMember(command.actor_id)
    if link.revoked:
        raise InviteLinkExpired("revoked", link.expires_at)
    if now >= link.expires_at:
        raise InviteLinkExpired("expired", link.expires_at)
    if link.created_by not in state.members:
        raise InviteLinkExpired("creator_left", link.expires_at)
    if settings.owner_approval:
        raise InviteNeedsApproval
    if len(state.members) >= settings.invite_link_max_members:
        raise InviteLinkFull(settings.invite_link_max_members)
    state = _admit(state, command.actor_id, link.created_by, now)
    effect = Effect(EffectKind.MEMBER_JOINED, account_id=command.actor_id, by_id=link.created_by)
    return Outcome(state, (effect,))


def _remove(state: GroupState, command: RemoveMember, _now: datetime) -> Outcome:
    """The owner removes anyone else; an admin removes plain members only."""
    actor = _require_member(state, command.actor_id)
    _require_role(actor, "remove members", Role.OWNER, Role.ADMIN)
    target = _require_member(state, command.target_id)
    _require_outranks(actor, target, "remove this member")
    state = _without_member(state, target.account_id)
    effect = Effect(EffectKind.MEMBER_REMOVED, account_id=target.account_id, by_id=actor.account_id)
    return Outcome(state, (effect,))


def _mute(state: GroupState, command: MuteMember, now: datetime) -> Outcome:
    actor = _require_member(state, command.actor_id)
    _require_role(actor, "mute members", Role.OWNER, Role.ADMIN)
    target = _require_member(state, command.target_id)
    _require_outranks(actor, target, "mute this member")
    if command.duration <= timedelta(0):
        raise InvalidInput(
            "A mute lasts for a positive duration.",
            details={"field": "duration"},
            code="invalid_duration",
        )
    muted = replace(target, muted_until=now + command.duration)
    state = replace(state, members=_with(state.members, muted.account_id, muted))
    effect = Effect(EffectKind.MUTED, account_id=target.account_id, by_id=actor.account_id)
    return Outcome(state, (effect,))


def _unmute(state: GroupState, command: UnmuteMember, now: datetime) -> Outcome:
    actor = _require_member(state, command.actor_id)
    _require_role(actor, "unmute members", Role.OWNER, Role.ADMIN)
    target = _require_member(state, command.target_id)
    _require_outranks(actor, target, "unmute this member")
    if not target.is_muted(now):
        return Outcome(state)
    unmuted = replace(target, muted_until=None)
    state = replace(state, members=_with(state.members, unmuted.account_id, unmuted))
    effect = Effect(EffectKind.UNMUTED, account_id=target.account_id, by_id=actor.account_id)
    return Outcome(state, (effect,))


def _set_role(state: GroupState, actor_id: str, target_id: str, role: Role, action: str) -> Outcome:
    actor = _require_member(state, actor_id)
    _require_role(actor, action, Role.OWNER)
    target = _require_member(state, target_id)
    if target.role is Role.OWNER:
        raise NotAllowed(action, actor.role)
    if target.role is role:
        return Outcome(state)  # already so: nothing to do
    cap = state.conversation.settings.admin_cap
    if role is Role.ADMIN and len(state.with_role(Role.ADMIN)) >= cap:
        raise AdminCapReached(cap)
    changed = replace(target, role=role)
    state = replace(state, members=_with(state.members, target_id, changed))
    return Outcome(state, (Effect(EffectKind.ROLE_CHANGED, account_id=target_id, by_id=actor_id),))


def _promote(state: GroupState, command: PromoteAdmin, _now: datetime) -> Outcome:
    return _set_role(state, command.actor_id, command.target_id, Role.ADMIN, "appoint admins")


def _demote(state: GroupState, command: DemoteAdmin, _now: datetime) -> Outcome:
    return _set_role(state, command.actor_id, command.target_id, Role.MEMBER, "dismiss admins")


def _leave(state: GroupState, command: Leave, _now: datetime) -> Outcome:
    member = _require_member(state, command.actor_id)
    if member.role is Role.OWNER:
        raise OwnerCannotLeave
    state = _without_member(state, member.account_id)
    return Outcome(state, (Effect(EffectKind.MEMBER_LEFT, account_id=member.account_id),))


def _propose_transfer(state: GroupState, command: ProposeTransfer, _now: datetime) -> Outcome:
    actor = _require_member(state, command.actor_id)
    _require_role(actor, "transfer ownership", Role.OWNER)
    target = _require_member(state, command.new_owner_id)
    if target.role is Role.OWNER:
        raise InvalidInput(
            "You already own this group.", details={"field": "new_owner_id"}, code="same_owner"
        )
    conversation = replace(state.conversation, proposed_owner_id=target.account_id)
    effect = Effect(
        EffectKind.TRANSFER_PROPOSED, account_id=target.account_id, by_id=actor.account_id
    )
    return Outcome(replace(state, conversation=conversation), (effect,))


def _accept_transfer(state: GroupState, command: AcceptTransfer, _now: datetime) -> Outcome:
    """Roles swap only now. The former owner becomes a plain member, so the admin count can
    only go down (the new owner may have been an admin)."""
    new_owner = _require_member(state, command.actor_id)
    conversation = state.conversation
    if conversation.proposed_owner_id != new_owner.account_id or conversation.owner_id is None:
        raise NoTransferPending
    old_owner = state.members[conversation.owner_id]
    members = dict(state.members)
    members[old_owner.account_id] = replace(old_owner, role=Role.MEMBER)
    members[new_owner.account_id] = replace(new_owner, role=Role.OWNER, muted_until=None)
    conversation = replace(conversation, owner_id=new_owner.account_id, proposed_owner_id=None)
    effect = Effect(
        EffectKind.OWNER_CHANGED, account_id=new_owner.account_id, by_id=old_owner.account_id
    )
    return Outcome(replace(state, conversation=conversation, members=members), (effect,))


def _decline_transfer(state: GroupState, command: DeclineTransfer, _now: datetime) -> Outcome:
    actor = _require_member(state, command.actor_id)
    conversation = state.conversation
    proposed = conversation.proposed_owner_id
    if proposed is None or actor.account_id not in {proposed, conversation.owner_id}:
        raise NoTransferPending
    conversation = replace(conversation, proposed_owner_id=None)
    effect = Effect(EffectKind.TRANSFER_CLOSED, account_id=proposed, by_id=actor.account_id)
    return Outcome(replace(state, conversation=conversation), (effect,))


def _set_name(state: GroupState, command: SetName, _now: datetime) -> Outcome:
    actor = _require_member(state, command.actor_id)
    _require_role(actor, "rename the group", Role.OWNER, Role.ADMIN)
    conversation = replace(state.conversation, name=normalize_group_name(command.name))
    effect = Effect(EffectKind.RENAMED, by_id=actor.account_id)
    return Outcome(replace(state, conversation=conversation), (effect,))


def _set_announcement(state: GroupState, command: SetAnnouncement, _now: datetime) -> Outcome:
    """Publishing an announcement notifies every member; clearing one notifies nobody."""
    actor = _require_member(state, command.actor_id)
    _require_role(actor, "publish announcements", Role.OWNER, Role.ADMIN)
    announcement = normalize_announcement(command.text)
    conversation = replace(state.conversation, announcement=announcement)
    effects = (
        (Effect(EffectKind.NOTIFY_ALL_MEMBERS, by_id=actor.account_id),) if announcement else ()
    )
    return Outcome(replace(state, conversation=conversation), effects)


def _set_rules(state: GroupState, command: SetRules, _now: datetime) -> Outcome:
    """The group's rules, shown to every member who joins from now on. Every change (clearing
    included) is an effect, so members' clients stay in step."""
    actor = _require_member(state, command.actor_id)
    _require_role(actor, "set the group rules", Role.OWNER, Role.ADMIN)
    rules = normalize_rules(command.text)
    if rules == state.conversation.rules:
        return Outcome(state)
    conversation = replace(state.conversation, rules=rules)
    effect = Effect(EffectKind.RULES_CHANGED, by_id=actor.account_id)
    return Outcome(replace(state, conversation=conversation), (effect,))


def _set_nickname(state: GroupState, command: SetNickname, _now: datetime) -> Outcome:
    member = _require_member(state, command.actor_id)
    changed = replace(member, nickname=normalize_nickname(command.nickname))
    state = replace(state, members=_with(state.members, member.account_id, changed))
    return Outcome(state, (Effect(EffectKind.NICKNAME_CHANGED, account_id=member.account_id),))


def _set_owner_approval(state: GroupState, command: SetOwnerApproval, _now: datetime) -> Outcome:
    """Only the owner decides who vets newcomers. Turning approval off leaves invitations that
    wait for approval waiting: they still need an owner or admin to look at them."""
    actor = _require_member(state, command.actor_id)
    _require_role(actor, "change owner approval", Role.OWNER)
    settings = replace(state.conversation.settings, owner_approval=command.enabled)
    conversation = replace(state.conversation, settings=settings)
    effect = Effect(EffectKind.SETTINGS_CHANGED, by_id=actor.account_id)
    return Outcome(replace(state, conversation=conversation), (effect,))


def _dissolve(state: GroupState, command: Dissolve, now: datetime) -> Outcome:
    actor = _require_member(state, command.actor_id)
    _require_role(actor, "dissolve the group", Role.OWNER)
    invitations = {
        key: replace(inv, status=InvitationStatus.CANCELLED) if inv.is_open else inv
        for key, inv in state.invitations.items()
    }
    conversation = replace(state.conversation, dissolved_at=now, proposed_owner_id=None)
    state = replace(state, conversation=conversation, invitations=invitations)
    return Outcome(state, (Effect(EffectKind.DISSOLVED, by_id=actor.account_id),))


_RULES: dict[type, Callable[[GroupState, Any, datetime], Outcome]] = {
    Invite: _invite,
    ApproveInvitation: _approve,
    RejectInvitation: _reject,
    AcceptInvitation: _accept_invitation,
    DeclineInvitation: _decline_invitation,
    CancelInvitation: _cancel_invitation,
    CreateInviteLink: _create_link,
    RevokeInviteLink: _revoke_link,
    JoinByLink: _join_by_link,
    RemoveMember: _remove,
    MuteMember: _mute,
    UnmuteMember: _unmute,
    PromoteAdmin: _promote,
    DemoteAdmin: _demote,
    Leave: _leave,
    ProposeTransfer: _propose_transfer,
    AcceptTransfer: _accept_transfer,
    DeclineTransfer: _decline_transfer,
    SetName: _set_name,
    SetAnnouncement: _set_announcement,
    SetRules: _set_rules,
    SetNickname: _set_nickname,
    SetOwnerApproval: _set_owner_approval,
    Dissolve: _dissolve,
}


# ---- names and texts -----------------------------------------------------------------------


def _single_line(raw: str, field_name: str, limit: int) -> str:
    value = " ".join(unicodedata.normalize("NFC", raw).split())
    if len(value) > limit:
        raise InvalidInput(
            f"This is at most {limit} characters.",
            details={"field": field_name, "max_length": limit},
        )
    problem = text_problem(value)
    if problem:
        raise InvalidInput(problem, details={"field": field_name}, code="invalid_text")
    return value


def normalize_group_name(raw: str) -> str:
    name = _single_line(raw, "name", GROUP_NAME_MAX)
    if not name:
        raise InvalidInput("A group needs a name.", details={"field": "name"})
    return name


def normalize_nickname(raw: str | None) -> str | None:
    """A group nickname as stored: trimmed, None when blank (the profile name shows instead)."""
    if raw is None:
        return None
    return _single_line(raw, "nickname", NICKNAME_MAX) or None


def normalize_announcement(raw: str) -> str | None:
    text = raw.replace("\r\n", "\n").strip()
    if len(text) > ANNOUNCEMENT_MAX:
        raise InvalidInput(
            f"An announcement is at most {ANNOUNCEMENT_MAX} characters.",
            details={"field": "text", "max_length": ANNOUNCEMENT_MAX},
        )
    problem = text_problem(text, multiline=True)
    if problem:
        raise InvalidInput(problem, details={"field": "text"}, code="invalid_text")
    return text or None


def normalize_rules(raw: str) -> str | None:
    text = raw.replace("\r\n", "\n").strip()
    if len(text) > RULES_MAX:
        raise InvalidInput(
            f"Group rules are at most {RULES_MAX} characters.",
            details={"field": "rules", "max_length": RULES_MAX},
        )
    problem = text_problem(text, multiline=True)
    if problem:
        raise InvalidInput(problem, details={"field": "rules"}, code="invalid_text")
    return text or None


# ---- message rules -------------------------------------------------------------------------


def check_text(text: str, settings: ConversationSettings, *, has_attachments: bool = False) -> str:
    """The message text as stored (line breaks normalised), or the error its sender sees.

    Whitespace inside and around the text is kept: it can matter (indented code, poetry).
    """
    text = text.replace("\r\n", "\n")
    if not text.strip() and not has_attachments:
        raise EmptyMessage
    if len(text) > settings.message_max_chars:
        raise MessageTooLong(settings.message_max_chars)
    problem = text_problem(text, multiline=True)
    if problem:
        raise InvalidInput(problem, details={"field": "text"}, code="invalid_text")
    return text


@dataclass(frozen=True, slots=True)
class Mentions:
    account_ids: frozenset[str] = frozenset()
    everyone: bool = False


def _ends_name(text: str, index: int) -> bool:
    """A name ends at the end of the text, at a space or at punctuation, so that "@ann" does
    not mention Ann inside "@anna"."""
    if index >= len(text):
        return True
    char = text[index]
    return not (char.isalnum() or char == "_")


def parse_mentions(text: str, members_by_name: Mapping[str, str]) -> Mentions:
    """Who ``@name`` tokens in ``text`` mention, by account id, and whether ``@all`` was used.

    ``members_by_name`` maps every name a member may be mentioned by (group nickname, handle)
    to their account id. Names match case-insensitively and the longest name wins, so
    "@Ann Lee" mentions "Ann Lee" rather than "Ann". An ``@`` inside a word (an e-mail
    address) mentions nobody. ``@all`` means everyone even if a member is called "all".
    """
    names = sorted(
        ((name.casefold(), account_id) for name, account_id in members_by_name.items() if name),
        key=lambda pair: len(pair[0]),
        reverse=True,
    )
    folded = text.casefold()
    mentioned: set[str] = set()
    everyone = False
    for index, char in enumerate(folded):
        if char != "@" or (index > 0 and not _ends_name(folded, index - 1)):
            continue
        start = index + 1
        if any(
            folded.startswith(token, start) and _ends_name(folded, start + len(token))
            for token in ALL_MENTION_TOKENS
        ):
            everyone = True
            continue
        for name, account_id in names:
            if folded.startswith(name, start) and _ends_name(folded, start + len(name)):
                mentioned.add(account_id)
                break
    return Mentions(frozenset(mentioned), everyone)


def check_mentions(mentions: Mentions, sender: Member) -> None:
    """``@all`` interrupts everyone, so only the owner and admins may use it."""
    if mentions.everyone and sender.role is Role.MEMBER:
        raise MentionAllNotAllowed


def check_can_send(state: GroupState, sender_id: str, now: datetime) -> Member:
    """The sending member, or why they cannot send to the group right now."""
    if state.conversation.dissolved_at is not None:
        raise ConversationDissolved
    member = _require_member(state, sender_id)
    if member.muted_until is not None and member.is_muted(now):
        raise MemberMuted(member.muted_until)
    return member


def check_recall(
    message: Message, actor_id: str, now: datetime, settings: ConversationSettings
) -> None:
    """Only the sender recalls, and only within the window. Owners and admins take other
    people's messages down through moderation, which leaves a record of who did it and why."""
    if message.sender_id != actor_id:
        raise NotAllowed("recall someone else's message")
    if message.recalled_at is not None:
        raise MessageRecalled
    if now - message.sent_at > settings.recall_window:
        raise RecallWindowPassed(settings.recall_window)


def can_recall(
    message: Message, actor_id: str, now: datetime, settings: ConversationSettings
) -> bool:
    """Whether to offer "recall" in a menu; the service still calls ``check_recall``."""
    try:
        check_recall(message, actor_id, now, settings)
    except CourtyardError:
        return False
    return True


def recall(
    message: Message, actor_id: str, now: datetime, settings: ConversationSettings
) -> Message:
    """The message as stored after recall: its text and attachments gone, a notice left."""
    check_recall(message, actor_id, now, settings)
    return replace(message, text="", attachment_ids=(), recalled_at=now)


def check_remove(state: GroupState, message: Message, actor_id: str, now: datetime) -> Member:
    """Whether ``actor_id`` may take ``message`` down for everyone; returns the actor.

    Not a recall: owners and admins remove a member's message whatever its age, the removal is
    recorded as theirs, and its author is told. It goes down the ranks like removing a member:
    an admin removes plain members' messages, the owner anyone's but their own (one's own
    message is recalled, within the window). The author's rank is the one they hold now;
    someone who has left counts as a plain member. A dissolved or read-only group refuses it.
    """
    if state.conversation.dissolved_at is not None:
        raise ConversationDissolved
    check_not_read_only(state, None, now)
    actor = _require_member(state, actor_id)
    _require_role(actor, "remove messages", Role.OWNER, Role.ADMIN)
    author = state.members.get(message.sender_id)
    author_role = author.role if author is not None else Role.MEMBER
    if message.sender_id == actor_id or _RANK[actor.role] <= _RANK[author_role]:
        raise NotAllowed("remove this message", actor.role)
    if message.recalled_at is not None:
        raise MessageRecalled
    return actor


def remove_message(state: GroupState, message: Message, actor_id: str, now: datetime) -> Message:
    """The message as stored after an owner or admin removed it: text and attachments gone,
    the remover named."""
    check_remove(state, message, actor_id, now)
    return replace(message, text="", attachment_ids=(), recalled_at=now, removed_by=actor_id)


def forward(
    message: Message, *, message_id: str, conversation_id: str, sender_id: str, now: datetime
) -> Message:
    """A copy sent elsewhere, one hop further from its origin, so governance can add friction
    to content that travels far. A reply's context stays behind."""
    if message.recalled_at is not None:
        raise MessageRecalled
    return Message(
        id=message_id,
        conversation_id=conversation_id,
        sender_id=sender_id,
        text=message.text,
        sent_at=now,
        hops=message.hops + 1,
        attachment_ids=message.attachment_ids,
    )


def direct_key(a: str, b: str) -> str:
    """One key per pair of accounts whichever of them starts the conversation, so a unique
    index on it stops two direct conversations between the same two people."""
    if a == b:
        raise DirectWithSelf
    first, second = sorted((a, b))
    return f"{first}:{second}"


# ---- what the API shows ----------------------------------------------------------------------


class AttachmentOut(BaseModel):
    id: str
    kind: str  # image | file
    filename: str
    content_type: str
    size: int
    width: int | None = None
    height: int | None = None


class MessageOut(BaseModel):
    id: str
    conversation_id: str
    seq: int
    sender_id: str
    client_id: str
    text: str
    sent_at: datetime
    reply_to_id: str | None
    hops: int
    attachments: list[AttachmentOut]
    mentions: list[str]
    mentions_all: bool
    recalled: bool
    labels: list[str] = Field(
        default=[], description="Governance labels shown with the message (docs/policies.md)"
    )
    friction: bool = Field(
        default=False, description="True: it can be forwarded to one conversation at a time"
    )
    removed_by: str | None = Field(
        default=None,
        description="The owner or admin who removed it for everyone (None: recalled by its "
        "author, or not removed)",
    )


def message_payload(
    message: Message,
    *,
    seq: int,
    client_id: str,
    mentions: Mentions,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A message as clients see it (the event's data and the API's item): built by hand, not
    through pydantic, because every message on the hot path needs one."""
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "seq": seq,
        "sender_id": message.sender_id,
        "client_id": client_id,
        "text": message.text,
        "sent_at": message.sent_at.isoformat(),
        "reply_to_id": message.reply_to_id,
        "hops": message.hops,
        "attachments": attachments or [],
        "mentions": sorted(mentions.account_ids),
        "mentions_all": mentions.everyone,
        "recalled": message.recalled_at is not None,
        "labels": list(message.labels),
        "friction": message.friction,
        "removed_by": message.removed_by,
    }


class MemberOut(BaseModel):
    account_id: str
    handle: str
    display_name: str
    nickname: str | None
    role: Role
    joined_at: datetime
    muted_until: datetime | None
    invited_by: str | None


class ReadOnlyOut(BaseModel):
    """The platform's read-only mode on a group, as its members see it."""

    since: datetime
    until: datetime | None = Field(description="None: until the platform lifts it")
    reason: str


def read_only_out(read_only: ReadOnly | None, now: datetime) -> ReadOnlyOut | None:
    if read_only is None or not read_only.in_force(now):
        return None
    return ReadOnlyOut(since=read_only.since, until=read_only.until, reason=read_only.reason)


class ConversationOut(BaseModel):
    id: str
    kind: ConversationKind
    name: str | None
    # Direct conversations: the other person.
    peer_id: str | None
    peer_handle: str | None
    peer_display_name: str | None
    owner_id: str | None
    announcement: str | None
    rules: str | None = Field(default=None, description="The group's rules, shown to newcomers")
    read_only: ReadOnlyOut | None = Field(
        default=None, description="Set while the platform has made the group read-only"
    )
    owner_approval: bool
    member_count: int
    created_at: datetime
    dissolved: bool
    last_seq: int
    last_message_at: datetime | None
    # The viewer's own view of it.
    role: Role
    unread: int
    read_seq: int
    notifications_muted: bool
    pinned: bool
    archived: bool
    request: bool  # a stranger's conversation waiting in the requests box
    proposed_owner_id: str | None


class InvitationOut(BaseModel):
    id: str
    conversation_id: str
    conversation_name: str | None
    rules: str | None = Field(default=None, description="The group's rules, to read before joining")
    member_count: int
    inviter_id: str
    inviter_name: str
    invitee_id: str
    invitee_name: str
    status: InvitationStatus
    needs_approval: bool
    needs_acceptance: bool
    created_at: datetime


class InviteLinkOut(BaseModel):
    id: str
    conversation_id: str
    created_by: str
    created_at: datetime
    expires_at: datetime


class ConversationDetailOut(ConversationOut):
    members: list[MemberOut]
    # Owners and admins see the invitations waiting for approval and the live links.
    pending_invitations: list[InvitationOut]
    invite_links: list[InviteLinkOut]


# ---- what the API takes ------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid")
IdIn = Annotated[str, Field(min_length=1, max_length=64)]


class DirectIn(BaseModel):
    model_config = _STRICT
    account_id: IdIn


class GroupIn(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1, max_length=256)
    member_ids: list[IdIn] = Field(min_length=1, max_length=499)


class GroupUpdateIn(BaseModel):
    model_config = _STRICT
    name: str | None = Field(default=None, max_length=256)
    announcement: str | None = Field(default=None, max_length=10_000)
    rules: str | None = Field(default=None, max_length=10_000)
    owner_approval: bool | None = None


class ReportedMessageOut(BaseModel):
    id: str
    seq: int
    sender_id: str
    snippet: str
    sent_at: datetime


class GroupReportOut(BaseModel):
    """A report about a group or one of its messages, as its owner and admins see it: never
    who filed it."""

    id: str
    target_type: str
    target_id: str
    category: str
    explanation: str
    created_at: datetime
    status: str
    outcome: str | None
    resolved_at: datetime | None
    message: ReportedMessageOut | None = Field(
        default=None,
        description="The reported message, when it still shows and the viewer can read it",
    )


class SendIn(BaseModel):
    model_config = _STRICT
    client_id: str = Field(min_length=1, max_length=64)
    text: str = Field(default="", max_length=100_000)
    reply_to_id: IdIn | None = None
    attachments: list[IdIn] = Field(default_factory=list, max_length=9)


class ForwardIn(BaseModel):
    model_config = _STRICT
    to: list[IdIn] = Field(min_length=1, max_length=9)
    client_id: str = Field(min_length=1, max_length=61)


class ReadIn(BaseModel):
    model_config = _STRICT
    seq: int = Field(ge=0)


class SettingsIn(BaseModel):
    model_config = _STRICT
    notifications_muted: bool | None = None
    pinned: bool | None = None
    archived: bool | None = None


class InviteIn(BaseModel):
    model_config = _STRICT
    account_ids: list[IdIn] = Field(min_length=1, max_length=100)


class MuteIn(BaseModel):
    model_config = _STRICT
    minutes: int = Field(ge=1, le=60 * 24 * 30)


class RoleIn(BaseModel):
    model_config = _STRICT
    role: Literal["admin", "member"]


class NicknameIn(BaseModel):
    model_config = _STRICT
    nickname: str | None = Field(default=None, max_length=256)


class TransferIn(BaseModel):
    model_config = _STRICT
    account_id: IdIn


class PreferencesIn(BaseModel):
    model_config = _STRICT
    allow_strangers: bool


class PreferencesOut(BaseModel):
    allow_strangers: bool


class ReadOut(BaseModel):
    conversation_id: str
    seq: int

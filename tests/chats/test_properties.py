"""Property tests of the group rules: random commands by random accounts against one group.

After every step the invariants a stored group must satisfy are checked directly, written from
the product's rules rather than from the implementation: one owner, caps never exceeded, no
role without membership, outsiders change nothing but their own admission, ownership moves only
by proposal and acceptance, and a dissolved group never changes again. The message rules get
a few properties of their own at the end.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from courtyard.chats.model import (
    AcceptInvitation,
    AcceptTransfer,
    ApproveInvitation,
    CancelInvitation,
    Command,
    ConversationDissolved,
    ConversationSettings,
    CreateInviteLink,
    DeclineInvitation,
    DeclineTransfer,
    DemoteAdmin,
    Dissolve,
    GroupReadOnly,
    GroupState,
    Invite,
    JoinByLink,
    Leave,
    Member,
    Mentions,
    Message,
    MessageRecalled,
    MuteMember,
    NotAllowed,
    PromoteAdmin,
    ProposeTransfer,
    ReadOnly,
    RejectInvitation,
    RemoveMember,
    RevokeInviteLink,
    Role,
    SetAnnouncement,
    SetName,
    SetNickname,
    SetOwnerApproval,
    SetRules,
    UnmuteMember,
    apply,
    check_remove,
    check_text,
    create_group,
    direct_key,
    parse_mentions,
)
from courtyard.core.errors import CourtyardError
from courtyard.core.text import text_problem

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACCOUNTS = ("o", "a", "b", "c", "d", "e", "x")
FRIENDS = frozenset(ACCOUNTS) - {"x"}  # "x" is nobody's friend
ADMISSIONS = (AcceptInvitation, DeclineInvitation, JoinByLink)  # what an outsider may do

texts = st.sampled_from(("", "  ", "Hello", "New name", "x" * 70, "bad\x00text"))
durations = st.sampled_from([timedelta(0), timedelta(minutes=30), timedelta(hours=3)])


def people(state: GroupState) -> st.SearchStrategy[str]:
    """Anyone, but members, the owner, a proposed owner and open invitees come up more often:
    commands by random outsiders mostly bounce, and the interesting paths need insiders."""
    likely = [*state.members, state.conversation.owner_id or "o"]
    likely += [i.invitee_id for i in state.invitations.values() if i.is_open]
    if state.conversation.proposed_owner_id:
        likely.append(state.conversation.proposed_owner_id)
    return st.sampled_from(sorted(likely) * 3 + list(ACCOUNTS))


def outsiders(state: GroupState) -> st.SearchStrategy[str]:
    """Mostly accounts that are not members (the ones a way in can admit), sometimes anyone."""
    outside = [a for a in ACCOUNTS if a not in state.members]
    return st.sampled_from(outside * 3 + list(ACCOUNTS))


def draw_command(data: st.DataObject, state: GroupState) -> Command:
    """A command that refers to the group's real invitations and links (or to new ones).

    Drawn field by field rather than from a ``one_of`` of builders: rebuilding two dozen
    strategies at every step made the test several times slower."""
    who, newcomer = people(state), outsiders(state)
    fresh_invitation = f"i{len(state.invitations)}"
    open_invitations = [key for key, i in state.invitations.items() if i.is_open]
    invitations = st.sampled_from([*open_invitations * 3, *state.invitations, fresh_invitation])
    links = st.sampled_from([*state.invite_links, f"l{len(state.invite_links)}"])
    proposed = state.conversation.proposed_owner_id
    actors = {
        AcceptInvitation: newcomer,
        DeclineInvitation: newcomer,
        JoinByLink: newcomer,
        AcceptTransfer: st.sampled_from([proposed, proposed]) | who if proposed else who,
    }
    arguments: dict[type[Any], tuple[st.SearchStrategy[Any], ...]] = {
        Leave: (),
        AcceptTransfer: (),
        DeclineTransfer: (),
        Dissolve: (),
        Invite: (st.just(fresh_invitation) | invitations, newcomer, st.just(FRIENDS)),
        **dict.fromkeys(INVITATION_COMMANDS, (invitations,)),
        **dict.fromkeys(LINK_COMMANDS, (links,)),
        MuteMember: (who, durations),
        SetName: (texts,),
        SetAnnouncement: (texts,),
        SetRules: (texts,),
        SetNickname: (st.none() | texts,),
        SetOwnerApproval: (st.booleans(),),
    }
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    actor = data.draw(actors.get(kind, who), label="actor")
    # The rest act on one member: remove, unmute, promote, demote, propose a transfer.
    command: Command = kind(actor, *(data.draw(s) for s in arguments.get(kind, (who,))))
    return command


INVITATION_COMMANDS = {
    ApproveInvitation,
    RejectInvitation,
    AcceptInvitation,
    DeclineInvitation,
    CancelInvitation,
}
LINK_COMMANDS = {CreateInviteLink, RevokeInviteLink, JoinByLink}
COMMANDS: list[type[Any]] = [
    Invite,
    *sorted(INVITATION_COMMANDS, key=lambda kind: kind.__name__),
    *sorted(LINK_COMMANDS, key=lambda kind: kind.__name__),
    RemoveMember,
    MuteMember,
    UnmuteMember,
    PromoteAdmin,
    DemoteAdmin,
    Leave,
    ProposeTransfer,
    AcceptTransfer,
    DeclineTransfer,
    SetName,
    SetAnnouncement,
    SetRules,
    SetNickname,
    SetOwnerApproval,
]
# Ways in come up more often, since most of them need a few steps of set-up to succeed, and
# dissolving less often, since it ends the interesting part of a run.
KINDS = [*COMMANDS, *COMMANDS, Invite, ApproveInvitation, AcceptInvitation, JoinByLink, Dissolve]


group_settings = st.builds(
    ConversationSettings,
    member_cap=st.integers(3, 5),
    admin_cap=st.sampled_from([0, 1, 2, 2]),
    owner_approval=st.booleans(),
    invite_accept_threshold=st.integers(1, 4),
    invite_link_max_members=st.integers(2, 7),
    invite_link_ttl=st.just(timedelta(days=1)),
)
waits = st.sampled_from(  # mostly quick steps; sometimes long enough for mutes and links to end
    [
        timedelta(0),
        timedelta(minutes=1),
        timedelta(minutes=30),
        timedelta(hours=3),
        timedelta(days=2),
    ]
)


def check_invariants(state: GroupState) -> None:
    conversation = state.conversation
    settings = conversation.settings
    owners = state.with_role(Role.OWNER)
    if conversation.dissolved_at is None:
        assert [m.account_id for m in owners] == [conversation.owner_id]
    assert len(state.with_role(Role.ADMIN)) <= settings.admin_cap
    assert len(state.members) <= settings.member_cap
    assert all(key == m.account_id for key, m in state.members.items())
    assert conversation.owner_id in state.members  # the owner's role lives on a membership
    proposed = conversation.proposed_owner_id
    assert proposed is None or state.members[proposed].role is not Role.OWNER
    for invitation in state.invitations.values():
        if invitation.is_open:
            assert invitation.invitee_id not in state.members
            assert invitation.inviter_id in state.members


def check_outsider_changed_only_own_admission(
    before: GroupState, after: GroupState, command: Command
) -> None:
    """An outsider may only get themselves in (or answer their own card); nothing else moves."""
    actor = command.actor_id
    assert isinstance(command, ADMISSIONS), f"{command} by an outsider changed the group"
    assert after.conversation == before.conversation
    assert after.invite_links == before.invite_links
    assert {k: v for k, v in after.members.items() if k != actor} == dict(before.members)
    if actor in after.members:
        assert after.members[actor].role is Role.MEMBER
    for key, invitation in after.invitations.items():
        if invitation.invitee_id != actor:
            assert before.invitations[key] == invitation


def check_step(before: GroupState, after: GroupState, command: Command) -> None:
    check_invariants(after)
    # Only due process sets or lifts read-only mode; only SetRules changes the rules.
    assert after.conversation.read_only == before.conversation.read_only
    if after.conversation.rules != before.conversation.rules:
        assert isinstance(command, SetRules)
    if command.actor_id not in before.members and after != before:
        check_outsider_changed_only_own_admission(before, after, command)
    if isinstance(command, Leave | RemoveMember):
        gone = command.actor_id if isinstance(command, Leave) else command.target_id
        assert gone not in after.members
        assert after.conversation.proposed_owner_id != gone
    if isinstance(command, RemoveMember):  # removal goes down the ranks only
        actor_role, target_role = (
            before.members[a].role for a in (command.actor_id, command.target_id)
        )
        assert (actor_role, target_role) in {
            (Role.OWNER, Role.ADMIN),
            (Role.OWNER, Role.MEMBER),
            (Role.ADMIN, Role.MEMBER),
        }
    if isinstance(command, JoinByLink):  # links stop admitting once the group is big
        assert len(before.members) < before.conversation.settings.invite_link_max_members
    old_owner, new_owner = before.conversation.owner_id, after.conversation.owner_id
    if new_owner != old_owner:
        assert isinstance(command, AcceptTransfer)
        assert new_owner == command.actor_id == before.conversation.proposed_owner_id
        assert after.members[old_owner or ""].role is Role.MEMBER
    for account_id, member in after.members.items():
        earlier = before.members.get(account_id)
        if earlier is None:  # a newcomer starts as a plain member
            assert member.role is Role.MEMBER
        elif earlier.role is not member.role:
            assert isinstance(command, PromoteAdmin | DemoteAdmin | AcceptTransfer)


@settings(deadline=None, max_examples=1000)
@given(group_settings, st.sampled_from(["a", "ab"]), st.data())
def test_group_invariants_hold_after_every_command(
    config: ConversationSettings, initial: str, data: st.DataObject
) -> None:
    state = create_group(
        conversation_id="g",
        owner_id="o",
        name="Group",
        member_ids=list(initial),
        friends=FRIENDS,
        now=T0,
        settings=config,
    ).state
    check_invariants(state)
    now = T0
    for _ in range(data.draw(st.integers(0, 60), label="steps")):
        command = draw_command(data, state)
        now += data.draw(waits, label="wait")
        dissolved = state.conversation.dissolved_at is not None
        try:
            after = apply(state, command, now).state
        except ConversationDissolved:
            assert dissolved
            continue
        except CourtyardError:
            assert not dissolved
            continue
        assert not dissolved, "a dissolved group changed"
        check_step(state, after, command)
        state = after


# ---- message rules -------------------------------------------------------------------------

names = st.dictionaries(
    st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=6),
    st.sampled_from(ACCOUNTS),
    max_size=5,
)


@settings(deadline=None)
@given(st.text(max_size=60), names)
def test_mentions_name_only_members(text: str, members_by_name: dict[str, str]) -> None:
    mentions = parse_mentions(text, members_by_name)
    assert mentions.account_ids <= set(members_by_name.values())
    if "@" not in text:
        assert mentions == Mentions()


@settings(deadline=None)
@given(names, st.data())
def test_every_member_can_be_mentioned(
    members_by_name: dict[str, str], data: st.DataObject
) -> None:
    if not members_by_name:
        return
    name = data.draw(st.sampled_from(sorted(members_by_name)))
    mentions = parse_mentions(f"hi @{name} !", members_by_name)
    # Another member whose name is a longer match may win, but someone is always mentioned.
    assert mentions.account_ids or mentions.everyone


@settings(deadline=None)
@given(st.text(max_size=30), st.integers(1, 20), st.booleans())
def test_accepted_text_is_within_limits(text: str, limit: int, attachments: bool) -> None:
    config = ConversationSettings(message_max_chars=limit)
    try:
        stored = check_text(text, config, has_attachments=attachments)
    except CourtyardError:
        return
    assert len(stored) <= limit
    assert attachments or stored.strip()
    assert text_problem(stored, multiline=True) is None


account_ids = st.text("0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=1, max_size=4)  # id alphabet


@settings(deadline=None)
@given(account_ids, account_ids, account_ids, account_ids)
def test_direct_key_names_one_unordered_pair(a: str, b: str, c: str, d: str) -> None:
    if a == b or c == d:
        return
    assert direct_key(a, b) == direct_key(b, a)
    assert (direct_key(a, b) == direct_key(c, d)) == ({a, b} == {c, d})


# ---- group moderation: read-only mode and removing messages ---------------------------------


def random_group(data: st.DataObject) -> tuple[GroupState, datetime]:
    """A group after a random history (the same commands as above), and the time it ends."""
    state = create_group(
        conversation_id="g",
        owner_id="o",
        name="Group",
        member_ids=list(data.draw(st.sampled_from(["a", "ab"]), label="initial")),
        friends=FRIENDS,
        now=T0,
        settings=data.draw(group_settings, label="settings"),
    ).state
    now = T0
    for _ in range(data.draw(st.integers(0, 25), label="history")):
        command = draw_command(data, state)
        now += data.draw(waits, label="wait")
        try:
            state = apply(state, command, now).state
        except CourtyardError:
            continue
    return state, now


def _result(state: GroupState, command: Command, now: datetime) -> object:
    """What applying a command gives: the new state, or the error's code and details."""
    try:
        return apply(state, command, now).state
    except CourtyardError as exc:
        return (exc.code, exc.details)


@settings(deadline=None, max_examples=500)
@given(st.data())
def test_read_only_lets_members_only_go_away_and_ends_by_the_clock(data: st.DataObject) -> None:
    """While read-only, a command either fails or is a member leaving / an invitee declining;
    once its end has passed, every command does exactly what it would without it."""
    state, now = random_group(data)
    until = data.draw(st.none() | st.sampled_from([timedelta(hours=1), timedelta(days=1)]))
    mode = ReadOnly("s", now, now + until if until is not None else None, "reason")
    frozen = replace(state, conversation=replace(state.conversation, read_only=mode))
    free = replace(state, conversation=replace(state.conversation, read_only=None))
    for _ in range(data.draw(st.integers(1, 20), label="steps")):
        command = draw_command(data, frozen)
        now += data.draw(waits, label="wait")
        in_force = mode.until is None or now < mode.until
        try:
            after = apply(frozen, command, now).state
        except GroupReadOnly:
            assert in_force
            assert not isinstance(command, Leave | DeclineInvitation)
            continue
        except CourtyardError:
            if not in_force:
                assert _result(frozen, command, now) == _result(free, command, now)
            continue
        if in_force:
            assert isinstance(command, Leave | DeclineInvitation)
            assert set(after.members) <= set(frozen.members)
        else:
            expected = apply(free, command, now).state
            assert replace(after, conversation=replace(after.conversation, read_only=None)) == (
                expected
            )
        assert after.conversation.read_only == mode
        frozen = after
        free = replace(after, conversation=replace(after.conversation, read_only=None))


RANK = {Role.OWNER: 2, Role.ADMIN: 1, Role.MEMBER: 0}


@settings(deadline=None, max_examples=500)
@given(st.data())
def test_removing_a_message_goes_down_the_ranks(data: st.DataObject) -> None:
    """Only an owner or admin removes, and only the message of someone ranked below them now
    (a former member counts as a plain member); never their own, never twice."""
    state, now = random_group(data)
    actor = data.draw(people(state), label="actor")
    author = data.draw(st.sampled_from(ACCOUNTS), label="author")
    recalled = data.draw(st.booleans(), label="recalled")
    message = Message("m", "g", author, "text", T0, recalled_at=T0 if recalled else None)
    actor_member: Member | None = state.members.get(actor)
    author_role = state.members[author].role if author in state.members else Role.MEMBER
    try:
        remover = check_remove(state, message, actor, now)
    except (NotAllowed, MessageRecalled, ConversationDissolved):
        allowed = (
            state.conversation.dissolved_at is None
            and actor_member is not None
            and actor != author
            and RANK[actor_member.role] > RANK[author_role]
            and not recalled
        )
        assert not allowed
        return
    except CourtyardError:  # not a member
        assert actor_member is None
        return
    assert remover == actor_member
    assert remover.role in {Role.OWNER, Role.ADMIN}
    assert actor != author
    assert RANK[remover.role] > RANK[author_role]
    assert not recalled
    assert state.conversation.dissolved_at is None

"""Chats use cases: direct conversations, groups, messages, read markers and settings.

Group management follows the pillar's pattern: capability and policy first, then one
transaction that locks the conversation, loads its ``GroupState``, applies the pure
``model.apply`` and writes the difference, the audience change, the events and the audit row.

Messages take a faster road because they are the hot path: every send goes through a
``GroupCommitter`` that writes many sends in one transaction (validation, policy decision,
seq, message row, stream event), and the sender hears back only after that commit. The
sender's capabilities are checked against the account row read inside that transaction, so a
socket opened before a suspension cannot keep sending.

A conversation is invisible to those outside it: every path answers a non-member with the
same ``NotFound`` as a conversation that does not exist.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from courtyard.accounts.model import Account, Actor
from courtyard.accounts.service import AccountsService
from courtyard.chats import events, store
from courtyard.chats.model import (
    AcceptInvitation,
    AcceptTransfer,
    ApproveInvitation,
    AttachmentOut,
    CancelInvitation,
    Command,
    Conversation,
    ConversationDetailOut,
    ConversationDissolved,
    ConversationKind,
    ConversationOut,
    ConversationSettings,
    CreateInviteLink,
    DeclineInvitation,
    DeclineTransfer,
    DemoteAdmin,
    Dissolve,
    Effect,
    EffectKind,
    ForwardFriction,
    GroupReadOnly,
    GroupReportOut,
    GroupState,
    Invitation,
    InvitationOut,
    Invite,
    InviteLinkOut,
    JoinByLink,
    Leave,
    Member,
    MemberMuted,
    MemberOut,
    Mentions,
    Message,
    MessageOut,
    MessageRecalled,
    MuteMember,
    NotAFriend,
    NotAllowed,
    Outcome,
    PromoteAdmin,
    ProposeTransfer,
    ReadOnly,
    RecipientUnavailable,
    RejectInvitation,
    RemoveMember,
    ReportedMessageOut,
    RevokeInviteLink,
    Role,
    SetAnnouncement,
    SetName,
    SetNickname,
    SetOwnerApproval,
    SetRules,
    UnmuteMember,
    apply,
    attachment_not_found,
    check_mentions,
    check_recall,
    check_text,
    conversation_not_found,
    create_group,
    direct_key,
    invitation_not_found,
    invite_link_not_found,
    message_not_found,
    message_payload,
    parse_mentions,
    read_only_in_force,
    read_only_out,
    remove_message,
)
from courtyard.chats.writer import GroupCommitter
from courtyard.contacts import store as contacts_store
from courtyard.core.clock import Clock
from courtyard.core.config import Settings
from courtyard.core.db import Conn, Database, Tx
from courtyard.core.errors import (
    CourtyardError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UnsupportedMedia,
)
from courtyard.core.ids import is_valid_id, new_id
from courtyard.core.media import MediaStore, sanitize_image
from courtyard.core.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from courtyard.governance import due_process_store
from courtyard.governance.due_process import Withheld
from courtyard.governance.hashes import hash_image
from courtyard.governance.model import (
    Capability,
    Decision,
    EventKind,
    PolicyEvent,
    Standing,
    Verdict,
)
from courtyard.governance.service import GovernanceService, blocked
from courtyard.governance.virality import ViralityService

if TYPE_CHECKING:
    from courtyard.governance.due_process import DueProcessService
from courtyard.realtime.model import EventDraft
from courtyard.realtime.service import RealtimeService

CLIENT_ID_MAX = 64
SNIPPET_MAX = 200  # characters of a reported message shown to the group's owner and admins
IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "gif", "webp"})
FILENAME_MAX = 200
UNREAD_CAP = 999  # unread counts above this show as "999+"


def _check_client_id(client_id: str) -> str:
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= CLIENT_ID_MAX:
        raise InvalidInput(
            f"client_id is 1 to {CLIENT_ID_MAX} characters.", details={"field": "client_id"}
        )
    if not client_id.isprintable():
        raise InvalidInput("client_id has invalid characters.", details={"field": "client_id"})
    return client_id


def _clean_filename(raw: str) -> str:
    """A file name safe to show and to put in a Content-Disposition header."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable() and c not in '"<>|*?:').strip(" .")
    if not name:
        name = "file"
    if len(name) > FILENAME_MAX:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: FILENAME_MAX - len(ext) - 1] + dot + ext) if dot else name[:FILENAME_MAX]
    return name


def _within(ranges: Sequence[tuple[int, int | None]], seq: int) -> bool:
    """Whether ``seq`` falls in one of an account's history ranges (it may read it)."""
    return any(lo < seq and (hi is None or seq <= hi) for lo, hi in ranges)


def _check_id(value: str, field: str) -> str:
    if not is_valid_id(value):
        raise InvalidInput(f"{field} is not a valid id.", details={"field": field})
    return value


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One message to write; validated as far as possible before it joins a batch."""

    sender_id: str
    conversation_id: str
    client_id: str
    text: str
    reply_to_id: str | None = None
    attachment_ids: tuple[str, ...] = ()
    hops: int = 0
    forwarded_from: str | None = None  # the message this one forwards
    origin_id: str | None = None  # the original of a forwarded copy
    # Withheld content a reviewer released: already decided, delivered under this id.
    released_id: str | None = None


_Accepted = tuple[int, SendRequest, Message, Mentions, list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class _Checked:
    """A send that passed every check but the policy decision."""

    message_id: str
    event: PolicyEvent
    mentions: Mentions
    shown: list[dict[str, Any]]


ATTACHMENT_FIELDS = ("id", "kind", "filename", "content_type", "size", "width", "height")


def _attachments_for(
    request: SendRequest, files: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """What the message shows of each attachment; each must be the sender's upload to this
    conversation (a forward copies attachments into the target conversation first)."""
    shown = []
    for attachment_id in request.attachment_ids:
        row = files.get(attachment_id)
        if (
            row is None
            or row["conversation_id"] != request.conversation_id
            or row["uploader_id"] != request.sender_id
        ):
            raise attachment_not_found()
        shown.append({name: row[name] for name in ATTACHMENT_FIELDS})
    return shown


Reply = Callable[[dict[str, Any] | None], None]


def _error_frame(
    kind: str, request: object, client_id: object, exc: CourtyardError
) -> dict[str, Any]:
    return {
        "type": kind,
        "client_id": client_id if isinstance(client_id, str) else None,
        "request": request,
        "error": {"code": exc.code, "message": exc.message, "details": exc.details},
    }


class ChatsService:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        clock: Clock,
        realtime: RealtimeService,
        governance: GovernanceService,
        accounts: AccountsService,
        media: MediaStore,
        virality: ViralityService | None = None,
    ) -> None:
        self._media = media
        self._virality = virality
        self._settings = settings
        self._db = db
        self._clock = clock
        self._realtime = realtime
        self._governance = governance
        self._accounts = accounts
        self._group_settings = self._conversation_settings(settings)
        self._frame_tasks: set[asyncio.Task[dict[str, Any] | None]] = set()
        self._sends: GroupCommitter[SendRequest, dict[str, Any]] = GroupCommitter(
            self._write_sends,
            max_batch=settings.chat_batch_max,
            linger=settings.chat_batch_linger_ms / 1000,
        )
        # Set by the container: where held and blocked messages are kept with their notice.
        self.due_process: DueProcessService | None = None

    @property
    def group_settings(self) -> ConversationSettings:
        return self._group_settings

    @staticmethod
    def _conversation_settings(s: Settings) -> ConversationSettings:
        return ConversationSettings(
            member_cap=s.group_member_cap,
            admin_cap=s.group_admin_cap,
            invite_accept_threshold=s.group_invite_accept_threshold,
            invite_link_max_members=s.group_invite_link_max_members,
            invite_link_ttl=timedelta(days=s.group_invite_link_days),
            recall_window=timedelta(seconds=s.message_recall_seconds),
            message_max_chars=s.message_max_chars,
        )

    def start(self) -> None:
        self._sends.start()

    async def stop(self) -> None:
        await self._sends.stop()

    @property
    def batches_written(self) -> int:
        return self._sends.batches

    async def _authorize(
        self,
        actor: Actor,
        capability: Capability,
        action: str,
        conversation_id: str | None = None,
    ) -> None:
        """Capability and policy decision for the small writes (read markers, settings,
        recall, delete-for-me) that have no richer event of their own."""
        await self._governance.authorize(
            actor.standing,
            capability,
            PolicyEvent(
                EventKind.CONVERSATION,
                actor_id=actor.id,
                subject_type="conversation" if conversation_id else "account",
                subject_id=conversation_id or actor.id,
                context={"action": action},
            ),
        )

    # -- reading --------------------------------------------------------------------------------

    async def _member_or_hide(
        self, conn: Conn, actor_id: str, conversation_id: str
    ) -> store.MemberView:
        if not is_valid_id(conversation_id):
            raise conversation_not_found()
        view = await store.get_member(conn, conversation_id, actor_id)
        if view is None:
            raise conversation_not_found()
        return view

    async def _conversation_out(
        self,
        conn: Conn,
        listed: store.ListedConversation,
        viewer_id: str,
        accounts: dict[str, Account],
        member_count: int,
    ) -> ConversationOut:
        c = listed.conversation
        peer: Account | None = None
        if c.kind is ConversationKind.DIRECT and listed.direct_key:
            first, second = listed.direct_key.split(":")
            peer = accounts.get(second if first == viewer_id else first)
        unread = await store.count_unread(
            conn, c.id, viewer_id, max(listed.view.read_seq, listed.view.cleared_seq)
        )
        return ConversationOut(
            id=c.id,
            kind=c.kind,
            name=c.name,
            peer_id=peer.id if peer else None,
            peer_handle=peer.handle if peer else None,
            peer_display_name=peer.display_name if peer else None,
            owner_id=c.owner_id,
            announcement=c.announcement,
            rules=c.rules,
            read_only=read_only_out(c.read_only, self._clock.now()),
            owner_approval=c.settings.owner_approval,
            member_count=member_count,
            created_at=c.created_at,
            dissolved=c.dissolved_at is not None,
            last_seq=listed.last_seq,
            last_message_at=listed.last_message_at,
            role=listed.view.member.role,
            unread=min(unread, UNREAD_CAP),
            read_seq=listed.view.read_seq,
            notifications_muted=listed.view.notifications_muted,
            pinned=listed.view.pinned,
            archived=listed.view.archived,
            request=not listed.view.accepted,
            proposed_owner_id=c.proposed_owner_id,
        )

    async def list_conversations(
        self,
        actor: Actor,
        *,
        box: str = "inbox",
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[ConversationOut]:
        """The actor's conversations, most recently active first; ``box`` is ``inbox``
        (accepted ones) or ``requests`` (strangers' direct messages waiting)."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        if box not in {"inbox", "requests"}:
            raise InvalidInput("box is inbox or requests.", details={"field": "box"})
        size = clamp_limit(limit)
        before = decode_cursor(cursor)
        if before is not None and (
            len(before) != 2 or not all(isinstance(part, str) for part in before)
        ):
            raise InvalidInput("The cursor is not valid.", details={"field": "cursor"})
        try:
            key = (before[0], before[1]) if before is not None else None
            if key is not None:
                datetime.fromisoformat(key[0])
        except ValueError:
            raise InvalidInput("The cursor is not valid.", details={"field": "cursor"}) from None
        want_request = box == "requests"
        items: list[ConversationOut] = []
        next_cursor: str | None = None
        async with self._db.read() as conn:
            while len(items) < size:
                rows = await store.list_for_account(conn, actor.id, limit=size + 1, before=key)
                page = rows[:size]
                wanted = [r for r in page if (not r.view.accepted) == want_request]
                peers = [
                    part
                    for r in wanted
                    if r.direct_key
                    for part in r.direct_key.split(":")
                    if part != actor.id
                ]
                accounts = await self._accounts.get_accounts(peers) if peers else {}
                for listed in wanted:
                    count = await store.count_members(conn, listed.conversation.id)
                    items.append(
                        await self._conversation_out(conn, listed, actor.id, accounts, count)
                    )
                    if len(items) == size:
                        break
                if len(rows) <= size:
                    break
                last = page[-1]
                activity = last.last_message_at or last.conversation.created_at
                key = (activity.isoformat(), last.conversation.id)
                if len(items) >= size:
                    next_cursor = encode_cursor(*key)
        return Page[ConversationOut](items=items, next_cursor=next_cursor)

    async def get_conversation(self, actor: Actor, conversation_id: str) -> ConversationDetailOut:
        self._governance.capabilities(actor.standing).require(Capability.READ)
        async with self._db.read() as conn:
            view = await self._member_or_hide(conn, actor.id, conversation_id)
            state = await store.load_group_state(conn, conversation_id)
            assert state is not None
            extras = await store.conversation_extras(conn, conversation_id)
            assert extras is not None
            members = await store.load_members(conn, conversation_id)
            ids = set(members)
            ids.update(i.inviter_id for i in state.invitations.values())
            ids.update(i.invitee_id for i in state.invitations.values())
            accounts = await self._accounts.get_accounts(sorted(ids))
            listed = store.ListedConversation(
                conversation=state.conversation,
                view=view,
                last_seq=int(extras.last_seq),
                last_message_at=extras.last_message_at,
                direct_key=extras.direct_key,
                avatar_media_id=extras.avatar_media_id,
            )
            summary = await self._conversation_out(conn, listed, actor.id, accounts, len(members))
        manager = view.member.role in {Role.OWNER, Role.ADMIN}
        member_out = [
            self._member_out(v.member, accounts[a]) for a, v in members.items() if a in accounts
        ]
        pending = [
            self._invitation_out(conversation_id, state, i, accounts)
            for i in state.invitations.values()
            if manager and i.needs_approval and i.is_open and i.decided_by is None
        ]
        links = [
            InviteLinkOut(
                id=link.id,
                conversation_id=conversation_id,
                created_by=link.created_by,
                created_at=link.created_at,
                expires_at=link.expires_at,
            )
            for link in state.invite_links.values()
            if manager and not link.revoked and link.expires_at > self._clock.now()
        ]
        return ConversationDetailOut(
            **summary.model_dump(),
            members=member_out,
            pending_invitations=pending,
            invite_links=links,
        )

    @staticmethod
    def _member_out(member: Any, account: Account) -> MemberOut:
        return MemberOut(
            account_id=member.account_id,
            handle=account.handle,
            display_name=account.display_name,
            nickname=member.nickname,
            role=member.role,
            joined_at=member.joined_at,
            muted_until=member.muted_until,
            invited_by=member.invited_by,
        )

    @staticmethod
    def _invitation_out(
        conversation_id: str,
        state: GroupState,
        invitation: Invitation,
        accounts: dict[str, Account],
    ) -> InvitationOut:
        inviter = accounts.get(invitation.inviter_id)
        invitee = accounts.get(invitation.invitee_id)
        return InvitationOut(
            id=invitation.id,
            conversation_id=conversation_id,
            conversation_name=state.conversation.name,
            rules=state.conversation.rules,
            member_count=len(state.members),
            inviter_id=invitation.inviter_id,
            inviter_name=inviter.display_name if inviter else "",
            invitee_id=invitation.invitee_id,
            invitee_name=invitee.display_name if invitee else "",
            status=invitation.status,
            needs_approval=invitation.needs_approval,
            needs_acceptance=invitation.needs_acceptance,
            created_at=invitation.created_at,
        )

    async def history(
        self,
        actor: Actor,
        conversation_id: str,
        *,
        before_seq: int | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> Page[MessageOut]:
        """Messages the actor may read, newest first (``before_seq``) or oldest first from
        ``after_seq`` (catching up); ``next_cursor`` is the seq to continue from."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        for value, name in ((before_seq, "before"), (after_seq, "after")):
            if value is not None and value < 0:
                raise InvalidInput(f"{name} is a non-negative seq.", details={"field": name})
        size = clamp_limit(limit)
        async with self._db.read() as conn:
            view = await self._member_or_hide(conn, actor.id, conversation_id)
            ranges = await store.history_ranges_of(conn, conversation_id, actor.id)
            newest_first = after_seq is None
            rows = await store.history(
                conn,
                conversation_id,
                actor.id,
                ranges,
                after_seq=max(view.cleared_seq, after_seq or 0),
                before_seq=before_seq,
                limit=size + 1,
                newest_first=newest_first,
            )
        page = rows[:size]
        items = [MessageOut(**self._stored_payload(m)) for m in page]
        next_cursor = str(page[-1].seq) if len(rows) > size else None
        return Page[MessageOut](items=items, next_cursor=next_cursor)

    @staticmethod
    def _stored_payload(stored: store.StoredMessage) -> dict[str, Any]:
        mentions = Mentions(
            frozenset(a for a in stored.mentions if a != "@all"), "@all" in stored.mentions
        )
        return message_payload(
            stored.message,
            seq=stored.seq,
            client_id=stored.client_id,
            mentions=mentions,
            attachments=list(stored.attachments),
        )

    # -- direct conversations -----------------------------------------------------------------

    async def open_direct(self, actor: Actor, peer_id: str) -> ConversationOut:
        """The direct conversation with ``peer_id``, created on first use.

        With a friend it opens in both inboxes; with a stranger (needs ``message_non_friends``)
        it waits in their requests box unless they accept messages from strangers. Someone who
        blocks the actor, or whom the actor blocks, looks like nobody at all.
        """
        capabilities = self._governance.capabilities(actor.standing)
        capabilities.require(Capability.SEND)
        _check_id(peer_id, "account_id")
        key = direct_key(actor.id, peer_id)
        async with self._db.read() as conn:
            peer = (await self._accounts.get_accounts([peer_id])).get(peer_id)
            if peer is None or peer.standing.state.value not in {"active", "limited"}:
                raise NotFound("No such account.", code="account_not_found")
            standing = await store.pair_standing(conn, actor.id, peer_id)
            if standing.blocked:
                raise NotFound("No such account.", code="account_not_found")
            existing = await store.find_direct(conn, key)
        if existing is None:
            if not standing.recipient_friends_sender:
                capabilities.require(Capability.MESSAGE_NON_FRIENDS)
            await self._governance.authorize(
                actor.standing,
                Capability.SEND,
                PolicyEvent(
                    EventKind.CONVERSATION,
                    actor_id=actor.id,
                    subject_type="conversation",
                    context={"action": "open_direct", "friends": standing.recipient_friends_sender},
                ),
            )
            await self._create_direct(actor.id, peer_id, key, standing.recipient_friends_sender)
        return await self._summary(actor, key=key)

    async def _create_direct(self, actor_id: str, peer_id: str, key: str, friends: bool) -> None:
        now = self._clock.now()
        conversation_id = new_id()
        async with self._db.write() as tx:
            conn = tx.conn
            strangers_ok = friends or await store.allows_strangers(conn, peer_id)
            conversation = Conversation(
                id=conversation_id,
                kind=ConversationKind.DIRECT,
                name=None,
                owner_id=None,
                created_at=now,
                settings=self.group_settings,
            )
            if not await store.insert_conversation(conn, conversation, direct_key=key):
                return  # the other side opened it at the same moment
            await store.insert_member(
                conn, conversation_id, Member(actor_id, Role.MEMBER, now), accepted=True
            )
            await store.insert_member(
                conn, conversation_id, Member(peer_id, Role.MEMBER, now), accepted=strangers_ok
            )
            await store.open_history(conn, conversation_id, [actor_id, peer_id], 0)
            ids = await self._realtime.append(
                tx,
                [
                    events.to_conversation(
                        events.CONVERSATION_CREATED,
                        conversation_id,
                        {"kind": "direct", "by": actor_id},
                        audience_changed=True,
                    )
                ],
            )
            await self._realtime.open_audience(tx, conversation_id, [actor_id, peer_id], ids[0])
            await self._governance.audit(
                tx,
                actor_id=actor_id,
                tag="chats:direct:create",
                target_type="conversation",
                target_id=conversation_id,
                after={"members": sorted([actor_id, peer_id]), "request": not strangers_ok},
            )

    async def _summary(
        self, actor: Actor, *, key: str | None = None, conversation_id: str | None = None
    ) -> ConversationOut:
        async with self._db.read() as conn:
            if key is not None:
                conversation_id = await store.find_direct(conn, key)
            assert conversation_id is not None
        detail = await self.get_conversation(actor, conversation_id)
        return ConversationOut(
            **detail.model_dump(exclude={"members", "pending_invitations", "invite_links"})
        )

    async def accept_request(self, actor: Actor, conversation_id: str) -> ConversationOut:
        """Move a stranger's conversation from the requests box to the inbox."""
        await self._authorize(actor, Capability.READ, "accept_request", conversation_id)
        async with self._db.write() as tx:
            await self._member_or_hide(tx.conn, actor.id, conversation_id)
            await store.update_member(tx.conn, conversation_id, actor.id, accepted=True)
            await self._settings_event(tx, actor.id, conversation_id)
        return await self._summary(actor, conversation_id=conversation_id)

    async def set_allow_strangers(self, actor: Actor, allow: bool) -> bool:
        await self._authorize(actor, Capability.MANAGE_CONTACTS, "allow_strangers")
        async with self._db.write() as tx:
            await store.set_allows_strangers(tx.conn, actor.id, allow)
        return allow

    async def allow_strangers(self, actor: Actor) -> bool:
        async with self._db.read() as conn:
            return await store.allows_strangers(conn, actor.id)

    # -- per-member settings --------------------------------------------------------------------

    async def _settings_event(self, tx: Tx, account_id: str, conversation_id: str) -> None:
        view = await store.get_member(tx.conn, conversation_id, account_id)
        assert view is not None
        await self._realtime.append(
            tx,
            [
                events.to_account(
                    events.SETTINGS,
                    account_id,
                    {
                        "conversation_id": conversation_id,
                        "notifications_muted": view.notifications_muted,
                        "pinned": view.pinned,
                        "archived": view.archived,
                        "request": not view.accepted,
                    },
                )
            ],
        )

    async def update_settings(
        self,
        actor: Actor,
        conversation_id: str,
        *,
        notifications_muted: bool | None = None,
        pinned: bool | None = None,
        archived: bool | None = None,
    ) -> ConversationOut:
        await self._authorize(actor, Capability.READ, "update_settings", conversation_id)
        values = {
            k: v
            for k, v in {
                "notifications_muted": notifications_muted,
                "pinned": pinned,
                "archived": archived,
            }.items()
            if v is not None
        }
        async with self._db.write() as tx:
            await self._member_or_hide(tx.conn, actor.id, conversation_id)
            if values:
                await store.update_member(tx.conn, conversation_id, actor.id, **values)
                await self._settings_event(tx, actor.id, conversation_id)
        return await self._summary(actor, conversation_id=conversation_id)

    async def mark_read(self, actor: Actor, conversation_id: str, seq: int) -> int:
        """Move the actor's read marker forward to ``seq`` (never back); returns the marker."""
        await self._authorize(actor, Capability.READ, "mark_read", conversation_id)
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise InvalidInput("seq is a non-negative integer.", details={"field": "seq"})
        async with self._db.write() as tx:
            view = await self._member_or_hide(tx.conn, actor.id, conversation_id)
            top = await store.last_seq(tx.conn, conversation_id)
            marker = max(view.read_seq, min(seq, top))
            if marker != view.read_seq:
                await store.update_member(tx.conn, conversation_id, actor.id, read_seq=marker)
                await self._realtime.append(
                    tx,
                    [
                        events.to_account(
                            events.READ,
                            actor.id,
                            {"conversation_id": conversation_id, "seq": marker},
                        )
                    ],
                )
        return marker

    async def typing(self, actor: Actor, conversation_id: str) -> None:
        """Tell the conversation's online members the actor is typing (never stored)."""
        self._governance.capabilities(actor.standing).require(Capability.SEND)
        async with self._db.read() as conn:
            await self._member_or_hide(conn, actor.id, conversation_id)
        await self._realtime.publish_ephemeral(
            conversation_id,
            {"type": events.TYPING, "conversation_id": conversation_id, "account_id": actor.id},
        )

    # -- messages -------------------------------------------------------------------------------

    async def send(
        self,
        actor: Actor,
        conversation_id: str,
        *,
        client_id: str,
        text: str,
        reply_to_id: str | None = None,
        attachment_ids: Sequence[str] = (),
    ) -> MessageOut:
        """Send a message; returns it once durably committed. A retry with the same
        ``client_id`` returns the message the first attempt created."""
        payload = await self.send_payload(
            actor,
            SendRequest(
                sender_id=actor.id,
                conversation_id=conversation_id,
                client_id=client_id,
                text=text,
                reply_to_id=reply_to_id,
                attachment_ids=tuple(attachment_ids),
            ),
        )
        return MessageOut(**payload)

    async def send_payload(self, actor: Actor, request: SendRequest) -> dict[str, Any]:
        """``send`` and ``forward``: checks what needs no database, then joins the next
        batch; returns the message once committed."""
        return await self._sends.submit(self._precheck(actor, request))

    def _precheck(self, actor: Actor, request: SendRequest) -> SendRequest:
        """What a send can be refused for without the database (the batch checks the rest);
        returns the request with its text as it will be stored."""
        capabilities = self._governance.capabilities(actor.standing)
        capabilities.require(Capability.SEND)
        _check_client_id(request.client_id)
        if not is_valid_id(request.conversation_id):
            raise conversation_not_found()
        if request.reply_to_id is not None:
            _check_id(request.reply_to_id, "reply_to_id")
        if len(request.attachment_ids) > 9:
            raise InvalidInput("At most 9 attachments.", details={"field": "attachments"})
        text = check_text(
            request.text, self.group_settings, has_attachments=bool(request.attachment_ids)
        )
        return replace(request, text=text) if text != request.text else request

    async def _write_sends(
        self, batch: Sequence[SendRequest]
    ) -> list[dict[str, Any] | BaseException]:
        """One transaction for a batch of sends: a fixed handful of statements whatever its
        size (client ids, membership contexts, direct-pair standings, seqs per conversation,
        stream ids, events, messages), so the per-message cost is Python, not round trips."""
        now = self._clock.now()
        results: list[dict[str, Any] | BaseException | None] = [None] * len(batch)
        keys = [f"{r.sender_id}:{r.client_id}" for r in batch]
        first_of: dict[str, int] = {}
        # Commit on the loop's thread: a thread hand-off costs more than the commit, whose
        # checkpoints run elsewhere (see ``Database.write``).
        async with self._db.write(commit_inline=True) as tx:
            conn = tx.conn
            existing = await store.messages_by_client_keys(conn, keys)
            fresh: list[int] = []
            for index, key in enumerate(keys):
                if key in existing:
                    results[index] = self._replayed(existing[key], batch[index])
                elif key not in first_of:
                    first_of[key] = index
                    fresh.append(index)
            contexts = await store.send_contexts(
                conn, sorted({(batch[i].conversation_id, batch[i].sender_id) for i in fresh})
            )
            files = await store.get_attachments(
                conn, sorted({a for i in fresh for a in batch[i].attachment_ids})
            )
            checked: list[tuple[int, _Checked]] = []
            for index in fresh:
                try:
                    checked.append(
                        (index, await self._check_send(tx, batch[index], now, contexts, files))
                    )
                except CourtyardError as exc:
                    results[index] = exc
            # One decision pass for the batch: the counters rules read cost one round trip.
            # Released content was decided by a reviewer and is not decided again.
            undecided = [check.event for index, check in checked if not batch[index].released_id]
            decided = iter(await self._governance.decide_many_in(tx, undecided))
            decisions = [
                Decision.allow() if batch[index].released_id else next(decided)
                for index, _ in checked
            ]
            accepted: list[_Accepted] = []
            for (index, check), decision in zip(checked, decisions, strict=True):
                if decision.verdict in {Verdict.BLOCK, Verdict.HOLD}:
                    results[index] = await self._withhold(tx, batch[index], check, decision)
                    continue
                message = await self._accept_send(tx, batch[index], check, decision, now, contexts)
                accepted.append((index, batch[index], message, check.mentions, check.shown))
            if accepted:
                await self._store_sends(tx, accepted, results, now, contexts)
        for index, key in enumerate(keys):
            if results[index] is None:  # a duplicate within the batch: same result as the first
                results[index] = results[first_of[key]]
        return [r if r is not None else RuntimeError("unwritten send") for r in results]

    @staticmethod
    def _replayed(
        stored: store.StoredMessage, request: SendRequest
    ) -> dict[str, Any] | BaseException:
        m = stored.message
        if m.conversation_id != request.conversation_id or (
            m.recalled_at is None and m.text != request.text.replace("\r\n", "\n")
        ):
            return InvalidInput(
                "This client_id was already used for a different message.",
                details={"field": "client_id"},
                code="client_id_reused",
            )
        return ChatsService._stored_payload(stored)

    async def _check_send(
        self,
        tx: Tx,
        request: SendRequest,
        now: datetime,
        contexts: dict[tuple[str, str], store.SendContext],
        files: dict[str, dict[str, Any]],
    ) -> _Checked:
        """Everything a send must pass before the policy decision, on what the batch loaded:
        membership, the sender's capabilities as stored now, dissolved, muted, a block or a
        stranger, mentions, the replied message and the attachments."""
        conn = tx.conn
        context = contexts.get((request.conversation_id, request.sender_id))
        if context is None:
            raise conversation_not_found()
        standing = Standing(
            request.sender_id,
            context.sender_state,
            context.sender_state_until,
            context.sender_bounds,
        )
        capabilities = self._governance.capabilities(standing)
        released = request.released_id is not None
        if not released:  # a released message was sent when the sender could send it
            capabilities.require(Capability.SEND)
            if request.hops:
                capabilities.require(Capability.FORWARD)
        if context.dissolved:
            raise ConversationDissolved
        if context.read_only and not released and read_only_in_force(context.read_only_until, now):
            raise GroupReadOnly(context.read_only_until)
        if not released and context.muted_until is not None and now < context.muted_until:
            raise MemberMuted(context.muted_until)
        text = request.text  # checked and normalised before it joined the batch
        mentions = Mentions()
        if context.kind is ConversationKind.DIRECT:
            if context.blocked:
                raise RecipientUnavailable
            if not context.recipient_friends_sender and not released:
                capabilities.require(Capability.MESSAGE_NON_FRIENDS)
        elif "@" in text:
            mentions = await self._mentions(conn, request.conversation_id, text)
            check_mentions(mentions, Member(request.sender_id, context.role, now))
        if request.reply_to_id is not None:
            replied = await store.get_message(conn, request.reply_to_id)
            if replied is None or replied.message.conversation_id != request.conversation_id:
                raise message_not_found()
        shown = _attachments_for(request, files)
        message_id = request.released_id or new_id()
        event = PolicyEvent(
            EventKind.MESSAGE,
            actor_id=request.sender_id,
            subject_type="conversation",
            subject_id=request.conversation_id,
            text={"text": text},
            context={
                "conversation_kind": context.kind.value,
                "hops": request.hops,
                "attachments": len(request.attachment_ids),
                "content_type": "message",
                "content_id": message_id,
            },
        )
        return _Checked(message_id, event, mentions, shown)

    async def _withhold(
        self, tx: Tx, request: SendRequest, check: _Checked, decision: Decision
    ) -> BaseException:
        """A held or blocked send is kept for its author with a notice that says why (never a
        silent drop); the sender gets the typed error with the notice's id. A retry with the
        same client id returns the same notice."""
        error = blocked(decision)
        if self.due_process is None:
            return error
        statement_id, withheld_id = await self.due_process.withhold_in(
            tx,
            decision,
            Withheld(
                content_type="message",
                content_id=check.message_id,
                author_id=request.sender_id,
                conversation_id=request.conversation_id,
                client_id=request.client_id,
                text=request.text,
                body={
                    "text": request.text,
                    "reply_to_id": request.reply_to_id,
                    "attachment_ids": list(request.attachment_ids),
                    "hops": request.hops,
                    "origin_id": request.origin_id,
                    "forwarded_from": request.forwarded_from,
                },
            ),
        )
        error.details.update(statement_id=statement_id, withheld_id=withheld_id)
        return error

    async def _accept_send(
        self,
        tx: Tx,
        request: SendRequest,
        check: _Checked,
        decision: Decision,
        now: datetime,
        contexts: dict[tuple[str, str], store.SendContext],
    ) -> Message:
        """The message a send that passed becomes, with what governance attached to it."""
        pair = (request.conversation_id, request.sender_id)
        context = contexts[pair]
        if not context.accepted:
            # Replying to a stranger's request accepts it.
            await store.update_member(
                tx.conn, request.conversation_id, request.sender_id, accepted=True
            )
            contexts[pair] = replace(context, accepted=True)
        return Message(
            id=check.message_id,
            conversation_id=request.conversation_id,
            sender_id=request.sender_id,
            text=request.text,
            sent_at=now,
            hops=request.hops,
            attachment_ids=request.attachment_ids,
            reply_to_id=request.reply_to_id,
            labels=decision.labels,
            friction=Verdict.FRICTION in decision.effects,
            origin_id=request.origin_id,
        )

    async def _mentions(self, conn: Conn, conversation_id: str, text: str) -> Mentions:
        members = await store.load_members(conn, conversation_id)
        accounts = await self._accounts.get_accounts(sorted(members))
        names: dict[str, str] = {}
        for account_id, view in members.items():
            account = accounts.get(account_id)
            if account is not None:
                names[account.handle] = account_id
                names[account.display_name] = account_id
            if view.member.nickname:
                names[view.member.nickname] = account_id
        return parse_mentions(text, names)

    async def _store_sends(
        self,
        tx: Tx,
        accepted: list[_Accepted],
        results: list[dict[str, Any] | BaseException | None],
        now: datetime,
        contexts: dict[tuple[str, str], store.SendContext],
    ) -> None:
        conn = tx.conn
        per_conversation: dict[str, int] = {}
        for _, request, _, _, _ in accepted:
            per_conversation[request.conversation_id] = (
                per_conversation.get(request.conversation_id, 0) + 1
            )
        known = {c: ctx.last_seq for (c, _), ctx in contexts.items()}
        next_seq = await store.take_seqs(conn, per_conversation, now, known)
        payloads: list[dict[str, Any]] = []
        drafts: list[EventDraft] = []
        seqs: list[int] = []
        for _, request, message, mentions, shown in accepted:
            seq = next_seq[request.conversation_id]
            next_seq[request.conversation_id] = seq + 1
            payload = message_payload(
                message, seq=seq, client_id=request.client_id, mentions=mentions, attachments=shown
            )
            payloads.append(payload)
            seqs.append(seq)
            drafts.append(
                EventDraft(
                    kind=events.MESSAGE,
                    payload=payload,
                    conversation_id=request.conversation_id,
                )
            )
        stream_ids = await self._realtime.append(tx, drafts)
        rows = []
        for (index, request, message, mentions, shown), seq, stream_id, payload in zip(
            accepted, seqs, stream_ids, payloads, strict=True
        ):
            stored_mentions = sorted(mentions.account_ids) + (["@all"] if mentions.everyone else [])
            rows.append(
                store.message_row(
                    store.StoredMessage(
                        message=message,
                        seq=seq,
                        client_id=request.client_id,
                        mentions=stored_mentions,
                        stream_id=stream_id,
                        attachments=tuple(shown),
                    ),
                    f"{request.sender_id}:{request.client_id}",
                )
            )
            results[index] = payload
        await store.insert_messages(conn, rows)
        if self._virality is not None:
            for _, request, message, _, _ in accepted:
                if message.labels or message.friction:
                    await self._track_reach(tx, request, message)

    async def _track_reach(self, tx: Tx, request: SendRequest, message: Message) -> None:
        """Labelled content is tracked for virality: its members saw it (a rare, labelled
        message costs one member query; an ordinary one costs nothing)."""
        assert self._virality is not None
        content_id = message.origin_id or message.id
        await self._virality.label(
            tx, "message", content_id, message.sender_id, message.labels or ("friction",)
        )
        members = await store.load_members(tx.conn, request.conversation_id)
        viewers = [account_id for account_id in members if account_id != message.sender_id]
        if viewers:
            await self._virality.record_views(tx, "message", content_id, viewers)

    async def recall(self, actor: Actor, conversation_id: str, message_id: str) -> MessageOut:
        """Withdraw one's own message within the recall window; everyone sees a notice."""
        await self._authorize(actor, Capability.SEND, "recall", conversation_id)
        _check_id(message_id, "message_id")
        now = self._clock.now()
        async with self._db.write() as tx:
            await self._member_or_hide(tx.conn, actor.id, conversation_id)
            stored = await store.get_message(tx.conn, message_id)
            if stored is None or stored.message.conversation_id != conversation_id:
                raise message_not_found()
            check_recall(stored.message, actor.id, now, self.group_settings)
            await store.mark_recalled(tx.conn, message_id, now)
            recalled = store.StoredMessage(
                message=replace(stored.message, text="", attachment_ids=(), recalled_at=now),
                seq=stored.seq,
                client_id=stored.client_id,
                mentions=[],
                stream_id=stored.stream_id,
            )
            payload = self._stored_payload(recalled)
            # The original event carried the text: replay must not bring it back.
            await self._realtime.redact(tx, stored.stream_id, payload)
            await self._realtime.append(
                tx,
                [
                    events.to_conversation(
                        events.MESSAGE_RECALLED,
                        conversation_id,
                        {"message_id": message_id, "seq": stored.seq, "by": actor.id},
                    )
                ],
            )
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="chats:message:recall",
                target_type="message",
                target_id=message_id,
            )
        return MessageOut(**payload)

    async def hide(self, actor: Actor, conversation_id: str, message_id: str) -> None:
        """Delete a message for the actor only."""
        await self._authorize(actor, Capability.READ, "hide", conversation_id)
        _check_id(message_id, "message_id")
        async with self._db.write() as tx:
            await self._member_or_hide(tx.conn, actor.id, conversation_id)
            stored = await store.get_message(tx.conn, message_id)
            if stored is None or stored.message.conversation_id != conversation_id:
                raise message_not_found()
            if not await self._can_read(tx.conn, actor.id, stored):
                raise message_not_found()
            await store.hide_message(tx.conn, actor.id, message_id, self._clock.now())
            await self._realtime.append(
                tx,
                [
                    events.to_account(
                        events.MESSAGE_HIDDEN,
                        actor.id,
                        {"conversation_id": conversation_id, "message_id": message_id},
                    )
                ],
            )

    async def _can_read(self, conn: Conn, account_id: str, stored: store.StoredMessage) -> bool:
        ranges = await store.history_ranges_of(conn, stored.message.conversation_id, account_id)
        return _within(ranges, stored.seq)

    async def remove_message(
        self, actor: Actor, conversation_id: str, message_id: str
    ) -> MessageOut:
        """An owner or admin takes a member's message down for everyone (group moderation,
        not a recall: no time window, recorded as theirs). The conversation sees a removal
        notice, the replayed event loses the text, and the author is told who removed it."""
        await self._authorize(actor, Capability.READ, "remove_message", conversation_id)
        _check_id(message_id, "message_id")
        if not is_valid_id(conversation_id):
            raise conversation_not_found()
        now = self._clock.now()
        async with self._db.write() as tx:
            conn = tx.conn
            row = await store.lock_conversation(conn, conversation_id)
            state = await store.load_group_state(conn, conversation_id) if row else None
            if state is None or actor.id not in state.members:
                raise conversation_not_found()
            if state.conversation.kind is not ConversationKind.GROUP:
                raise NotAllowed("remove messages in a direct conversation")
            stored = await store.get_message(conn, message_id)
            if (
                stored is None
                or stored.message.conversation_id != conversation_id
                or not await self._can_read(conn, actor.id, stored)
            ):
                raise message_not_found()
            removed = remove_message(state, stored.message, actor.id, now)
            role = state.members[actor.id].role.value
            await store.mark_recalled(conn, message_id, now, removed_by=actor.id)
            payload = self._stored_payload(replace(stored, message=removed, mentions=[]))
            # The original event carried the text: replay must not bring it back.
            await self._realtime.redact(tx, stored.stream_id, payload)
            notice = {"message_id": message_id, "seq": stored.seq}
            await self._realtime.append(
                tx,
                [
                    events.to_conversation(
                        events.MESSAGE_RECALLED,
                        conversation_id,
                        {**notice, "by": "group_admin", "admin_id": actor.id},
                    ),
                    events.to_account(
                        events.MESSAGE_REMOVED_BY_ADMIN,
                        stored.message.sender_id,
                        {
                            "conversation_id": conversation_id,
                            "conversation_name": state.conversation.name,
                            **notice,
                            "admin_id": actor.id,
                            "admin_role": role,
                        },
                    ),
                ],
            )
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="chats:message:remove",
                target_type="message",
                target_id=message_id,
                before={"conversation_id": conversation_id, "sender_id": removed.sender_id},
                after={"removed_by": actor.id, "role": role},
            )
        return MessageOut(**payload)

    # -- attachments ------------------------------------------------------------------------

    async def upload_attachment(
        self,
        actor: Actor,
        conversation_id: str,
        *,
        filename: str,
        content_type: str | None,
        data: bytes,
    ) -> AttachmentOut:
        """Store a file or image for a message the actor is about to send.

        Images are decoded and re-encoded (so location and camera metadata never survive);
        other files must have an allowed extension and are always served as downloads.
        """
        self._governance.capabilities(actor.standing).require(Capability.SEND)
        name = _clean_filename(filename)
        settings = self._settings
        if len(data) > settings.attachment_max_bytes:
            raise PayloadTooLarge(
                f"Attachments are at most {settings.attachment_max_bytes // (1024 * 1024)} MiB.",
                details={"max_bytes": settings.attachment_max_bytes},
            )
        if not data:
            raise InvalidInput("The file is empty.", details={"field": "file"})
        async with self._db.read() as conn:
            await self._member_or_hide(conn, actor.id, conversation_id)
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        row: dict[str, Any] = {
            "id": new_id(),
            "conversation_id": conversation_id,
            "uploader_id": actor.id,
            "filename": name,
            "created_at": self._clock.now(),
        }
        if (content_type or "").startswith("image/") or extension in IMAGE_EXTENSIONS:
            image = await asyncio.to_thread(
                sanitize_image,
                data,
                max_side=settings.attachment_image_max_side,
                max_bytes=settings.attachment_max_bytes,
            )
            stored, key = image.data, image.key
            row.update(
                kind="image",
                content_type=image.content_type,
                width=image.width,
                height=image.height,
                removed_metadata=list(image.removed_metadata),
            )
        else:
            allowed = {e.strip() for e in settings.attachment_extensions.split(",") if e.strip()}
            if extension not in allowed:
                raise UnsupportedMedia(
                    "This kind of file cannot be sent.",
                    details={"field": "file", "allowed": sorted(allowed)},
                )
            stored, key = data, hashlib.sha256(data).hexdigest()
            row.update(
                kind="file",
                content_type="application/octet-stream",
                width=None,
                height=None,
                removed_metadata=[],
            )
        context: dict[str, Any] = {"kind": row["kind"], "size": len(stored), "sha256": key}
        if row["kind"] == "image" and self._governance.reads_images(EventKind.ATTACHMENT):
            context["image_hashes"] = [hash_image(stored)]
        await self._governance.authorize(
            actor.standing,
            Capability.SEND,
            PolicyEvent(
                EventKind.ATTACHMENT,
                actor_id=actor.id,
                subject_type="attachment",
                subject_id=row["id"],
                context=context,
            ),
        )
        await self._media.put(key, stored)
        row.update(size=len(stored), media_key=key)
        async with self._db.write() as tx:
            await store.insert_attachment(tx.conn, row)
        return AttachmentOut(**{name: row[name] for name in ATTACHMENT_FIELDS})

    async def attachment_content(
        self, actor: Actor, conversation_id: str, attachment_id: str
    ) -> tuple[dict[str, Any], bytes]:
        """An attachment's metadata and bytes, for a member of its conversation."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        async with self._db.read() as conn:
            await self._member_or_hide(conn, actor.id, conversation_id)
            found = await store.get_attachments(conn, [attachment_id])
        row = found.get(attachment_id)
        if row is None or row["conversation_id"] != conversation_id:
            raise attachment_not_found()
        data = await self._media.get(row["media_key"])
        if data is None:
            raise attachment_not_found()
        return row, data

    async def _copy_attachments(
        self, actor: Actor, attachments: Sequence[dict[str, Any]], to_conversation_id: str
    ) -> tuple[str, ...]:
        """Copies of a forwarded message's attachments in the target conversation."""
        if not attachments:
            return ()
        async with self._db.write() as tx:
            found = await store.get_attachments(tx.conn, [a["id"] for a in attachments])
            copies = []
            for shown in attachments:
                original = found.get(shown["id"])
                if original is None:
                    raise attachment_not_found()
                copy = {
                    **original,
                    "id": new_id(),
                    "conversation_id": to_conversation_id,
                    "uploader_id": actor.id,
                    "created_at": self._clock.now(),
                }
                await store.insert_attachment(tx.conn, copy)
                copies.append(copy["id"])
        return tuple(copies)

    async def forward(
        self,
        actor: Actor,
        conversation_id: str,
        message_id: str,
        *,
        to_conversation_ids: Sequence[str],
        client_id: str,
    ) -> list[MessageOut]:
        """Send a copy of a message the actor can read to other conversations, one hop further
        from its origin (governance adds friction to content that travels far)."""
        capabilities = self._governance.capabilities(actor.standing)
        capabilities.require(Capability.FORWARD)
        _check_id(message_id, "message_id")
        targets = list(dict.fromkeys(to_conversation_ids))
        if not 1 <= len(targets) <= 9:
            raise InvalidInput("Forward to 1 to 9 conversations.", details={"field": "to"})
        _check_client_id(client_id)
        if len(client_id) > CLIENT_ID_MAX - 3:
            raise InvalidInput(
                "client_id is too long for a forward.", details={"field": "client_id"}
            )
        async with self._db.read() as conn:
            await self._member_or_hide(conn, actor.id, conversation_id)
            stored = await store.get_message(conn, message_id)
            if (
                stored is None
                or stored.message.conversation_id != conversation_id
                or not await self._can_read(conn, actor.id, stored)
            ):
                raise message_not_found()
        if stored.message.recalled_at is not None:
            raise MessageRecalled
        origin_id = stored.message.origin_id or stored.message.id
        if len(targets) > 1 and await self._has_friction(stored.message, origin_id):
            raise ForwardFriction
        out = []
        for index, target in enumerate(targets):
            async with self._db.read() as conn:
                await self._member_or_hide(conn, actor.id, target)
            copies = await self._copy_attachments(actor, stored.attachments, target)
            payload = await self.send_payload(
                actor,
                SendRequest(
                    sender_id=actor.id,
                    conversation_id=target,
                    client_id=f"{client_id}:{index}",
                    text=stored.message.text,
                    attachment_ids=copies,
                    hops=stored.message.hops + 1,
                    forwarded_from=message_id,
                    origin_id=origin_id,
                ),
            )
            out.append(MessageOut(**payload))
        if self._virality is not None and (stored.message.labels or stored.message.friction):
            async with self._db.write() as tx:
                await self._virality.record_share(
                    tx, "message", origin_id, actor.id, stored.message.hops + 1
                )
        return out

    async def _has_friction(self, message: Message, origin_id: str) -> bool:
        """Friction from the message's own decision, or from virality (labelled content that
        travelled far): either way it goes to one conversation at a time."""
        if message.friction:
            return True
        if self._virality is None:
            return False
        async with self._db.read() as conn:
            return await self._virality.has_friction(conn, "message", origin_id)

    # -- groups -----------------------------------------------------------------------------

    async def create_group(
        self, actor: Actor, name: str, member_ids: Sequence[str]
    ) -> ConversationOut:
        capabilities = self._governance.capabilities(actor.standing)
        capabilities.require(Capability.CREATE_GROUP)
        for member_id in member_ids:
            _check_id(member_id, "member_ids")
        now = self._clock.now()
        conversation_id = new_id()
        async with self._db.read() as conn:
            friends = frozenset(await contacts_store.friend_ids(conn, actor.id))
        outcome = create_group(
            conversation_id=conversation_id,
            owner_id=actor.id,
            name=name,
            member_ids=member_ids,
            friends=friends,
            now=now,
            settings=self.group_settings,
        )
        await self._governance.authorize(
            actor.standing,
            Capability.CREATE_GROUP,
            PolicyEvent(
                EventKind.GROUP,
                actor_id=actor.id,
                subject_type="conversation",
                subject_id=conversation_id,
                text={"name": outcome.state.conversation.name or ""},
                context={"action": "create", "members": len(outcome.state.members)},
            ),
        )
        async with self._db.write() as tx:
            conn = tx.conn
            # Friendships may have ended since they were read: check again under the write.
            current = frozenset(await contacts_store.friend_ids(conn, actor.id))
            gone = sorted(set(outcome.state.members) - {actor.id} - current)
            if gone:
                raise NotAFriend(gone)
            await store.insert_conversation(conn, outcome.state.conversation)
            await self._write_outcome(tx, actor.id, None, outcome, now)
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="chats:group:create",
                target_type="conversation",
                target_id=conversation_id,
                after={
                    "name": outcome.state.conversation.name,
                    "members": sorted(outcome.state.members),
                },
            )
        return await self._summary(actor, conversation_id=conversation_id)

    async def _write_outcome(
        self, tx: Tx, actor_id: str, before: GroupState | None, outcome: Outcome, now: datetime
    ) -> None:
        """Write the difference between ``before`` and the outcome, then its events and the
        audience change (new members see from this transaction's first event on, leavers up
        to its last)."""
        conn = tx.conn
        after = outcome.state
        conversation_id = after.conversation.id
        old_members = before.members if before is not None else {}
        joined = [a for a in after.members if a not in old_members]
        left = [a for a in old_members if a not in after.members]
        if before is not None:
            await self._write_conversation_changes(conn, before, after, now)
        seq = await store.last_seq(conn, conversation_id) if before is not None else 0
        for account_id in joined:
            await store.insert_member(
                conn, conversation_id, after.members[account_id], True, read_seq=seq
            )
        if joined:
            await store.open_history(conn, conversation_id, joined, seq)
        for account_id in left:
            await store.delete_member(conn, conversation_id, account_id)
        if left:
            await store.close_history(conn, conversation_id, left, seq)
        for account_id, member in after.members.items():
            old = old_members.get(account_id)
            if old is not None and old != member:
                await store.update_member(
                    conn,
                    conversation_id,
                    account_id,
                    role=member.role.value,
                    nickname=member.nickname,
                    muted_until=member.muted_until,
                )
        old_invitations = before.invitations if before is not None else {}
        changed_invitations = [
            i for key, i in after.invitations.items() if old_invitations.get(key) != i
        ]
        await store.upsert_invitations(conn, conversation_id, changed_invitations, now)
        old_links = before.invite_links if before is not None else {}
        await store.upsert_links(
            conn,
            conversation_id,
            [link for k, link in after.invite_links.items() if old_links.get(k) != link],
        )
        drafts = await self._effect_events(conn, actor_id, before, outcome)
        audience_changed = bool(joined or left)
        if audience_changed:
            drafts = [
                replace(d, audience_changed=True) if d.conversation_id is not None else d
                for d in drafts
            ]
            if not any(d.conversation_id is not None for d in drafts):
                drafts.append(
                    events.to_conversation(
                        events.CONVERSATION_UPDATED,
                        conversation_id,
                        {"change": "members"},
                        audience_changed=True,
                    )
                )
        ids = await self._realtime.append(tx, drafts)
        if joined:
            await self._realtime.open_audience(tx, conversation_id, joined, ids[0])
        if left:
            await self._realtime.close_audience(tx, conversation_id, left, ids[-1])

    @staticmethod
    async def _write_conversation_changes(
        conn: Conn, before: GroupState, after: GroupState, now: datetime
    ) -> None:
        c0, c1 = before.conversation, after.conversation
        changes: dict[str, Any] = {}
        for column, old, new in (
            ("name", c0.name, c1.name),
            ("owner_id", c0.owner_id, c1.owner_id),
            ("announcement", c0.announcement, c1.announcement),
            ("rules", c0.rules, c1.rules),
            ("proposed_owner_id", c0.proposed_owner_id, c1.proposed_owner_id),
            ("owner_approval", c0.settings.owner_approval, c1.settings.owner_approval),
            ("dissolved_at", c0.dissolved_at, c1.dissolved_at),
        ):
            if old != new:
                changes[column] = new
        if "announcement" in changes:
            changes["announcement_at"] = now
        if changes:
            await store.update_conversation(conn, c1.id, **changes)

    def _conversation_data(self, state: GroupState) -> dict[str, Any]:
        c = state.conversation
        return {
            "name": c.name,
            "owner_id": c.owner_id,
            "announcement": c.announcement,
            "rules": c.rules,
            "read_only": self._read_only_data(c.read_only),
            "owner_approval": c.settings.owner_approval,
            "proposed_owner_id": c.proposed_owner_id,
            "dissolved": c.dissolved_at is not None,
            "member_count": len(state.members),
        }

    def _read_only_data(self, read_only: ReadOnly | None) -> dict[str, Any] | None:
        shown = read_only_out(read_only, self._clock.now())
        return shown.model_dump(mode="json") if shown is not None else None

    def _member_data(self, state: GroupState, account_id: str) -> dict[str, Any]:
        member = state.members[account_id]
        return {
            "account_id": account_id,
            "role": member.role.value,
            "nickname": member.nickname,
            "muted_until": member.muted_until.isoformat() if member.muted_until else None,
            "invited_by": member.invited_by,
            "joined_at": member.joined_at.isoformat(),
        }

    _MEMBER_CHANGES = frozenset(
        {
            EffectKind.MUTED,
            EffectKind.UNMUTED,
            EffectKind.ROLE_CHANGED,
            EffectKind.NICKNAME_CHANGED,
        }
    )
    _INVITATION_EFFECTS = frozenset(
        {EffectKind.APPROVAL_REQUESTED, EffectKind.INVITATION_SENT, EffectKind.INVITATION_CLOSED}
    )

    async def _effect_events(
        self, conn: Conn, actor_id: str, before: GroupState | None, outcome: Outcome
    ) -> list[EventDraft]:
        """The events of one group command's effects (catalogue in docs/events.md)."""
        state = outcome.state
        drafts: list[EventDraft] = []
        updated_sent = False
        for effect in outcome.effects:
            kind = effect.kind
            if kind in self._INVITATION_EFFECTS:
                drafts.extend(await self._invitation_events(state, effect))
            elif kind in {EffectKind.INVITE_LINK_CREATED, EffectKind.INVITE_LINK_REVOKED}:
                continue  # managers fetch links; nothing for members to see
            elif (draft := self._membership_event(state, actor_id, effect)) is not None:
                drafts.append(draft)
            elif kind not in self._MEMBER_CHANGES and not updated_sent:
                # Renamed, announcement, owner changes, transfer proposals, settings, dissolved.
                updated_sent = True
                data = {
                    "change": kind.value,
                    "notify": kind is EffectKind.NOTIFY_ALL_MEMBERS,
                    "by": actor_id,
                    **self._conversation_data(state),
                }
                drafts.append(
                    events.to_conversation(events.CONVERSATION_UPDATED, state.conversation.id, data)
                )
        drafts.extend(await self._silently_closed(before, outcome))
        return drafts

    def _membership_event(
        self, state: GroupState, actor_id: str, effect: Effect
    ) -> EventDraft | None:
        cid = state.conversation.id
        kind = effect.kind
        if kind is EffectKind.CREATED:
            data = {"kind": "group", "by": actor_id, **self._conversation_data(state)}
            return events.to_conversation(events.CONVERSATION_CREATED, cid, data)
        if kind is EffectKind.MEMBER_JOINED:
            assert effect.account_id is not None
            # The group's rules travel with the join, so the newcomer's client shows them.
            data = {
                "member": self._member_data(state, effect.account_id),
                "by": effect.by_id,
                "rules": state.conversation.rules,
            }
            return events.to_conversation(events.MEMBER_JOINED, cid, data)
        if kind in {EffectKind.MEMBER_LEFT, EffectKind.MEMBER_REMOVED}:
            name = events.MEMBER_LEFT if kind is EffectKind.MEMBER_LEFT else events.MEMBER_REMOVED
            data = {"account_id": effect.account_id, "by": effect.by_id}
            return events.to_conversation(name, cid, data)
        if kind in self._MEMBER_CHANGES and effect.account_id in state.members:
            assert effect.account_id is not None
            data = {"member": self._member_data(state, effect.account_id), "change": kind.value}
            return events.to_conversation(events.MEMBER_UPDATED, cid, data)
        return None

    async def _silently_closed(
        self, before: GroupState | None, outcome: Outcome
    ) -> list[EventDraft]:
        """Closures of invitations that a command closed as a side effect (the invitee got in,
        the inviter left, the group was dissolved): the cards must leave the invitee's and the
        managers' screens too, or initial state + events would keep them forever."""
        if before is None:
            return []
        reported = {
            e.invitation_id for e in outcome.effects if e.kind is EffectKind.INVITATION_CLOSED
        }
        drafts: list[EventDraft] = []
        for invitation in outcome.state.invitations.values():
            old = before.invitations.get(invitation.id)
            if old is None or not old.is_open or invitation.is_open or invitation.id in reported:
                continue
            effect = Effect(
                EffectKind.INVITATION_CLOSED,
                account_id=invitation.invitee_id,
                invitation_id=invitation.id,
            )
            drafts.extend(await self._invitation_events(outcome.state, effect))
        return drafts

    async def _invitation_events(self, state: GroupState, effect: Effect) -> list[EventDraft]:
        """Cards go to people, not to the conversation: approval requests to the owner and
        admins, invitation cards to the invitee, closures to everyone involved."""
        assert effect.invitation_id is not None
        cid = state.conversation.id
        invitation = state.invitations[effect.invitation_id]
        managers = [a for a, m in state.members.items() if m.role in {Role.OWNER, Role.ADMIN}]
        if effect.kind is EffectKind.INVITATION_CLOSED:
            closed = {
                "id": invitation.id,
                "conversation_id": cid,
                "status": invitation.status.value,
            }
            told = sorted({invitation.invitee_id, invitation.inviter_id, *managers})
            return [events.to_account(events.INVITATION_CLOSED, a, closed) for a in told]
        accounts = await self._accounts.get_accounts([invitation.inviter_id, invitation.invitee_id])
        card = self._invitation_out(cid, state, invitation, accounts).model_dump(mode="json")
        if effect.kind is EffectKind.APPROVAL_REQUESTED:
            return [events.to_account(events.INVITATION, m, card) for m in managers]
        return [events.to_account(events.INVITATION, invitation.invitee_id, card)]

    def _with_node_settings(self, state: GroupState) -> GroupState:
        """The state with this node's limits: a conversation row stores only its member cap,
        admin cap and owner approval, so the acceptance threshold, link limits and recall
        window come from the settings (they would silently fall back to the defaults)."""
        stored = state.conversation.settings
        settings = replace(
            self.group_settings,
            member_cap=stored.member_cap,
            admin_cap=stored.admin_cap,
            owner_approval=stored.owner_approval,
        )
        return replace(state, conversation=replace(state.conversation, settings=settings))

    async def _group_command(
        self,
        actor: Actor,
        conversation_id: str,
        command: Command,
        *,
        capability: Capability,
        outsider: bool = False,
        text: dict[str, str] | None = None,
    ) -> Outcome:
        """Run one group command: capability, policy, then lock → load → apply → write."""
        if not is_valid_id(conversation_id):
            raise conversation_not_found()
        await self._governance.authorize(
            actor.standing,
            capability,
            PolicyEvent(
                EventKind.GROUP,
                actor_id=actor.id,
                subject_type="conversation",
                subject_id=conversation_id,
                text=text or {},
                context={"action": type(command).__name__},
            ),
        )
        now = self._clock.now()
        async with self._db.write() as tx:
            row = await store.lock_conversation(tx.conn, conversation_id)
            if row is None or row.kind != ConversationKind.GROUP.value:
                raise conversation_not_found()
            state = await store.load_group_state(tx.conn, conversation_id)
            assert state is not None
            state = self._with_node_settings(state)
            if not outsider and actor.id not in state.members:
                raise conversation_not_found()
            outcome = apply(state, command, now)
            await self._write_outcome(tx, actor.id, state, outcome, now)
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag=f"chats:group:{type(command).__name__}",
                target_type="conversation",
                target_id=conversation_id,
                before={"members": len(state.members)},
                after={"members": len(outcome.state.members)},
            )
        return outcome

    async def invite(
        self, actor: Actor, conversation_id: str, account_ids: Sequence[str]
    ) -> list[InvitationOut]:
        """Invite friends; each lands as a member, an approval card or an invitation card."""
        if not 1 <= len(account_ids) <= 100:
            raise InvalidInput(
                "Invite 1 to 100 people at a time.", details={"field": "account_ids"}
            )
        for account_id in account_ids:
            _check_id(account_id, "account_ids")
        async with self._db.read() as conn:
            friends = frozenset(await contacts_store.friend_ids(conn, actor.id))
        results: list[InvitationOut] = []
        for account_id in dict.fromkeys(account_ids):
            invitation_id = new_id()
            outcome = await self._group_command(
                actor,
                conversation_id,
                Invite(actor.id, invitation_id, account_id, friends),
                capability=Capability.SEND,
            )
            invitation = outcome.state.invitations.get(invitation_id)
            if invitation is not None:
                accounts = await self._accounts.get_accounts([actor.id, account_id])
                results.append(
                    self._invitation_out(conversation_id, outcome.state, invitation, accounts)
                )
        return results

    async def invitation_action(self, actor: Actor, invitation_id: str, action: str) -> None:
        """approve / reject (owner, admins), accept / decline (the invitee), cancel."""
        _check_id(invitation_id, "invitation_id")
        async with self._db.read() as conn:
            conversation_id = await store.invitation_conversation(conn, invitation_id)
        if conversation_id is None:
            raise invitation_not_found()
        commands: dict[str, tuple[Command, bool]] = {
            "approve": (ApproveInvitation(actor.id, invitation_id), False),
            "reject": (RejectInvitation(actor.id, invitation_id), False),
            "accept": (AcceptInvitation(actor.id, invitation_id), True),
            "decline": (DeclineInvitation(actor.id, invitation_id), True),
            "cancel": (CancelInvitation(actor.id, invitation_id), False),
        }
        if action not in commands:
            raise InvalidInput("Unknown invitation action.", details={"field": "action"})
        command, outsider = commands[action]
        try:
            await self._group_command(
                actor, conversation_id, command, capability=Capability.READ, outsider=outsider
            )
        except NotFound:
            raise invitation_not_found() from None

    async def my_invitations(self, actor: Actor) -> list[InvitationOut]:
        """Invitation cards waiting for the actor's answer."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        out = []
        async with self._db.read() as conn:
            cards = await store.invitations_for_invitee(conn, actor.id)
            for conversation_id, invitation in cards:
                state = await store.load_group_state(conn, conversation_id)
                if state is None:
                    continue
                accounts = await self._accounts.get_accounts(
                    [invitation.inviter_id, invitation.invitee_id]
                )
                out.append(self._invitation_out(conversation_id, state, invitation, accounts))
        return out

    async def create_invite_link(self, actor: Actor, conversation_id: str) -> InviteLinkOut:
        link_id = new_id()
        outcome = await self._group_command(
            actor, conversation_id, CreateInviteLink(actor.id, link_id), capability=Capability.SEND
        )
        link = outcome.state.invite_links[link_id]
        return InviteLinkOut(
            id=link.id,
            conversation_id=conversation_id,
            created_by=link.created_by,
            created_at=link.created_at,
            expires_at=link.expires_at,
        )

    async def revoke_invite_link(self, actor: Actor, conversation_id: str, link_id: str) -> None:
        _check_id(link_id, "link_id")
        await self._group_command(
            actor, conversation_id, RevokeInviteLink(actor.id, link_id), capability=Capability.READ
        )

    async def join_by_link(self, actor: Actor, link_id: str) -> ConversationOut:
        self._governance.capabilities(actor.standing).require(Capability.READ)
        _check_id(link_id, "link_id")
        async with self._db.read() as conn:
            conversation_id = await store.link_conversation(conn, link_id)
        if conversation_id is None:
            raise invite_link_not_found()
        await self._group_command(
            actor,
            conversation_id,
            JoinByLink(actor.id, link_id),
            capability=Capability.READ,
            outsider=True,
        )
        return await self._summary(actor, conversation_id=conversation_id)

    async def remove_member(self, actor: Actor, conversation_id: str, account_id: str) -> None:
        _check_id(account_id, "account_id")
        await self._group_command(
            actor, conversation_id, RemoveMember(actor.id, account_id), capability=Capability.READ
        )

    async def mute_member(
        self, actor: Actor, conversation_id: str, account_id: str, minutes: int | None
    ) -> None:
        _check_id(account_id, "account_id")
        if minutes is None:
            command: Command = UnmuteMember(actor.id, account_id)
        else:
            if not 1 <= minutes <= 60 * 24 * 30:
                raise InvalidInput("Mute for 1 minute to 30 days.", details={"field": "minutes"})
            command = MuteMember(actor.id, account_id, timedelta(minutes=minutes))
        await self._group_command(actor, conversation_id, command, capability=Capability.READ)

    async def set_role(
        self, actor: Actor, conversation_id: str, account_id: str, role: str
    ) -> None:
        _check_id(account_id, "account_id")
        if role == Role.ADMIN.value:
            command: Command = PromoteAdmin(actor.id, account_id)
        elif role == Role.MEMBER.value:
            command = DemoteAdmin(actor.id, account_id)
        else:
            raise InvalidInput("role is admin or member.", details={"field": "role"})
        await self._group_command(actor, conversation_id, command, capability=Capability.READ)

    async def leave(self, actor: Actor, conversation_id: str) -> None:
        self._governance.capabilities(actor.standing).require(Capability.READ)
        await self._group_command(
            actor, conversation_id, Leave(actor.id), capability=Capability.READ
        )

    async def update_group(
        self,
        actor: Actor,
        conversation_id: str,
        *,
        name: str | None = None,
        announcement: str | None = None,
        rules: str | None = None,
        owner_approval: bool | None = None,
    ) -> ConversationOut:
        if name is not None:
            await self._group_command(
                actor,
                conversation_id,
                SetName(actor.id, name),
                capability=Capability.SEND,
                text={"name": name},
            )
        if announcement is not None:
            await self._group_command(
                actor,
                conversation_id,
                SetAnnouncement(actor.id, announcement),
                capability=Capability.SEND,
                text={"announcement": announcement},
            )
        if rules is not None:
            await self._group_command(
                actor,
                conversation_id,
                SetRules(actor.id, rules),
                capability=Capability.SEND,
                text={"rules": rules},
            )
        if owner_approval is not None:
            await self._group_command(
                actor,
                conversation_id,
                SetOwnerApproval(actor.id, owner_approval),
                capability=Capability.READ,
            )
        return await self._summary(actor, conversation_id=conversation_id)

    async def set_nickname(self, actor: Actor, conversation_id: str, nickname: str | None) -> None:
        await self._group_command(
            actor,
            conversation_id,
            SetNickname(actor.id, nickname),
            capability=Capability.SEND,
            text={"nickname": nickname or ""},
        )

    async def transfer(
        self, actor: Actor, conversation_id: str, action: str, to: str | None = None
    ) -> None:
        """propose (owner, ``to``), accept (the proposed owner), decline (either)."""
        if action == "propose":
            if to is None:
                raise InvalidInput("Say who the new owner is.", details={"field": "account_id"})
            _check_id(to, "account_id")
            command: Command = ProposeTransfer(actor.id, to)
        elif action == "accept":
            command = AcceptTransfer(actor.id)
        elif action == "decline":
            command = DeclineTransfer(actor.id)
        else:
            raise InvalidInput("Unknown transfer action.", details={"field": "action"})
        await self._group_command(actor, conversation_id, command, capability=Capability.READ)

    async def dissolve(self, actor: Actor, conversation_id: str) -> None:
        await self._group_command(
            actor, conversation_id, Dissolve(actor.id), capability=Capability.READ
        )

    async def group_reports(self, actor: Actor, conversation_id: str) -> list[GroupReportOut]:
        """Reports about a group and its messages, for its owner and admins (everyone else gets
        the same 404 as for a conversation that does not exist). Never who filed them; a
        reported message shows only if it still does and the viewer can read it."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        async with self._db.read() as conn:
            view = await self._member_or_hide(conn, actor.id, conversation_id)
            if view.member.role not in {Role.OWNER, Role.ADMIN}:
                raise conversation_not_found()
            rows = await due_process_store.reports_about_conversation(conn, conversation_id)
            found = await store.messages_by_ids(
                conn, sorted({r["target_id"] for r in rows if r["target_type"] == "message"})
            )
            ranges = await store.history_ranges_of(conn, conversation_id, actor.id)
        out = []
        for row in rows:
            stored = found.get(row["target_id"]) if row["target_type"] == "message" else None
            shown = None
            if (
                stored is not None
                and stored.message.conversation_id == conversation_id
                and stored.message.recalled_at is None
                and _within(ranges, stored.seq)
            ):
                text = stored.message.text
                shown = ReportedMessageOut(
                    id=stored.message.id,
                    seq=stored.seq,
                    sender_id=stored.message.sender_id,
                    snippet=text if len(text) <= SNIPPET_MAX else text[: SNIPPET_MAX - 1] + "…",
                    sent_at=stored.message.sent_at,
                )
            out.append(
                GroupReportOut(
                    id=row["id"],
                    target_type=row["target_type"],
                    target_id=row["target_id"],
                    category=row["category"],
                    explanation=row["explanation"],
                    created_at=row["created_at"],
                    status=row["status"],
                    outcome=row["outcome"],
                    resolved_at=row["resolved_at"],
                    message=shown,
                )
            )
        return out

    # -- the platform's read-only mode (called by due process through GroupModeration) ----------

    async def read_only_in(
        self, tx: Tx, conversation_id: str, read_only: ReadOnly, *, by: str | None = None
    ) -> None:
        """Put a group in read-only mode in the reviewer's transaction: every member is told
        why (``chat.group.read_only``), and sends and group changes are refused until it ends.
        When a longer mode is already in force, that one stays (the new statement's
        restriction takes over if the longer one is lifted)."""
        conn = tx.conn
        now = self._clock.now()
        row = await store.lock_conversation(conn, conversation_id)
        conversation = await store.get_conversation(conn, conversation_id) if row else None
        if conversation is None or conversation.kind is not ConversationKind.GROUP:
            raise conversation_not_found()
        current = conversation.read_only_at(now)
        if current is not None and (
            current.until is None
            or (read_only.until is not None and current.until >= read_only.until)
        ):
            return
        await self._set_read_only(tx, conversation.id, conversation.read_only, read_only, by)

    async def lift_read_only_in(
        self, tx: Tx, conversation_id: str, replacement: ReadOnly | None
    ) -> None:
        """End the group's read-only mode (a reversal), or fall back to ``replacement``, another
        measure on the group still in force."""
        conn = tx.conn
        row = await store.lock_conversation(conn, conversation_id)
        conversation = await store.get_conversation(conn, conversation_id) if row else None
        if conversation is None or conversation.read_only == replacement:
            return
        await self._set_read_only(tx, conversation.id, conversation.read_only, replacement)

    async def _set_read_only(
        self,
        tx: Tx,
        conversation_id: str,
        before: ReadOnly | None,
        after: ReadOnly | None,
        by: str | None = None,
    ) -> None:
        await store.set_read_only(tx.conn, conversation_id, after)
        await self._realtime.append(
            tx,
            [
                events.to_conversation(
                    events.GROUP_READ_ONLY,
                    conversation_id,
                    {"read_only": self._read_only_data(after), "by": "platform"},
                )
            ],
        )
        await self._governance.audit(
            tx,
            actor_id=by,
            tag="chats:group:read_only" if after is not None else "chats:group:read_only_lift",
            target_type="conversation",
            target_id=conversation_id,
            before={"statement_id": before.statement_id} if before else None,
            after={
                "statement_id": after.statement_id,
                "until": after.until.isoformat() if after.until else None,
            }
            if after
            else None,
        )

    # -- the WebSocket ---------------------------------------------------------------------------

    def handle_frame(self, actor: Actor, frame: dict[str, Any], reply: Reply) -> None:
        """``send``, ``typing`` and ``read`` frames from a stream connection; ``reply`` is
        called exactly once (None: nothing to answer). A refusal is answered on the socket
        with the same typed error the HTTP API would give."""
        kind = frame.get("type")
        if kind == "send":
            self._frame_send(actor, frame, reply)
            return
        task = asyncio.get_running_loop().create_task(self._frame_other(actor, frame))
        self._frame_tasks.add(task)

        def finished(done: asyncio.Task[dict[str, Any] | None]) -> None:
            self._frame_tasks.discard(done)
            reply(None if done.cancelled() else done.result())

        task.add_done_callback(finished)

    async def _frame_other(self, actor: Actor, frame: dict[str, Any]) -> dict[str, Any] | None:
        kind = frame.get("type")
        try:
            conversation_id = frame.get("conversation_id")
            if not isinstance(conversation_id, str):
                raise InvalidInput(
                    "conversation_id is required.", details={"field": "conversation_id"}
                )
            if kind == "typing":
                await self.typing(actor, conversation_id)
                return None
            seq = frame.get("seq")
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise InvalidInput("seq is an integer.", details={"field": "seq"})
            marker = await self.mark_read(actor, conversation_id, seq)
            return {"type": "read_ok", "conversation_id": conversation_id, "seq": marker}
        except CourtyardError as exc:
            return _error_frame("error_reply", kind, None, exc)

    def _frame_send(self, actor: Actor, frame: dict[str, Any], reply: Reply) -> None:
        client_id = frame.get("client_id")
        conversation_id = frame.get("conversation_id")
        text = frame.get("text", "")
        reply_to = frame.get("reply_to_id")
        attachments = frame.get("attachments") or []
        try:
            if (
                not isinstance(client_id, str)
                or not isinstance(conversation_id, str)
                or not isinstance(text, str)
                or (reply_to is not None and not isinstance(reply_to, str))
                or not isinstance(attachments, list)
                or not all(isinstance(a, str) for a in attachments)
            ):
                raise InvalidInput(
                    "A send needs string client_id, conversation_id and text.",
                    details={"field": "send"},
                )
            request = SendRequest(
                sender_id=actor.id,
                conversation_id=conversation_id,
                client_id=client_id,
                text=text,
                reply_to_id=reply_to,
                attachment_ids=tuple(attachments),
            )
            request = self._precheck(actor, request)
        except CourtyardError as exc:
            reply(_error_frame("send_error", "send", client_id, exc))
            return

        def done(result: dict[str, Any] | BaseException) -> None:
            if isinstance(result, CourtyardError):
                reply(_error_frame("send_error", "send", client_id, result))
            elif isinstance(result, BaseException):
                error = CourtyardError("The message could not be stored; send it again.")
                reply(_error_frame("send_error", "send", client_id, error))
            else:
                reply(
                    {
                        "type": "ack",
                        "client_id": client_id,
                        "message_id": result["id"],
                        "conversation_id": conversation_id,
                        "seq": result["seq"],
                    }
                )

        self._sends.submit_nowait(request, done)

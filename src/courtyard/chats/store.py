"""Chats tables and their SQL. Functions take a connection and never commit.

A conversation's members are rows of ``conversation_members``, each carrying the member's own
settings (read marker, mute, pin, archive, message-request state). Who may see a
conversation's *events* over time is kept by the realtime pillar's audience periods; who may
see its *history* is kept here as sequence ranges (``history_ranges``), because a member who
joins later sees the messages sent after they joined, and one who left keeps what they saw.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import Row

from courtyard.accounts.store import accounts
from courtyard.chats.model import (
    Conversation,
    ConversationKind,
    ConversationSettings,
    GroupState,
    Invitation,
    InvitationStatus,
    InviteLink,
    Member,
    Message,
    ReadOnly,
    Role,
)
from courtyard.contacts.store import contact_blocks as blocks
from courtyard.contacts.store import friendships
from courtyard.core.db import (
    Conn,
    JSONDocument,
    UTCDateTime,
    execute_many,
    fetch_rows,
    insert_ignoring_duplicates,
    metadata,
    padded,
)
from courtyard.governance.ladder import Bound, bounds_from_json
from courtyard.governance.model import AccountState

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(128), nullable=True),
    Column("owner_id", String(26), ForeignKey("accounts.id"), nullable=True),
    # Direct conversations only: "<smaller id>:<larger id>", unique, so a pair has one.
    Column("direct_key", String(53), nullable=True, unique=True),
    Column("announcement", Text, nullable=True),
    Column("announcement_at", UTCDateTime(), nullable=True),
    Column("rules", Text, nullable=True),
    Column("proposed_owner_id", String(26), nullable=True),
    Column("owner_approval", Boolean, nullable=False, default=False),
    Column("avatar_media_id", String(128), nullable=True),
    Column("member_cap", Integer, nullable=False),
    Column("admin_cap", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("dissolved_at", UTCDateTime(), nullable=True),
    # The conversation's message sequence: the last seq handed out.
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("last_message_at", UTCDateTime(), nullable=True),
    # The platform's read-only mode (due process): the statement of reasons that put it in
    # force, since when, until when (None: until lifted) and the reason members are shown.
    # Checked against the clock wherever it is read, so an expired mode needs no job.
    Column("read_only_statement_id", String(26), nullable=True),
    Column("read_only_since", UTCDateTime(), nullable=True),
    Column("read_only_until", UTCDateTime(), nullable=True),
    Column("read_only_reason", Text, nullable=True),
)

conversation_members = Table(
    "conversation_members",
    metadata,
    Column("conversation_id", String(26), ForeignKey("conversations.id"), primary_key=True),
    Column("account_id", String(26), ForeignKey("accounts.id"), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("joined_at", UTCDateTime(), nullable=False),
    Column("nickname", String(64), nullable=True),
    Column("muted_until", UTCDateTime(), nullable=True),
    Column("invited_by", String(26), nullable=True),
    # The member's own settings.
    Column("read_seq", BigInteger, nullable=False, default=0),
    Column("notifications_muted", Boolean, nullable=False, default=False),
    Column("pinned", Boolean, nullable=False, default=False),
    Column("archived", Boolean, nullable=False, default=False),
    # Direct conversations: False while a stranger's messages wait in the requests box.
    Column("accepted", Boolean, nullable=False, default=True),
    # History before this seq is cleared for this member ("delete chat history").
    Column("cleared_seq", BigInteger, nullable=False, default=0),
    Index("ix_conversation_members_account", "account_id", "conversation_id"),
)

# Which messages (by seq) each account may read: one row per membership period.
history_ranges = Table(
    "history_ranges",
    metadata,
    Column("conversation_id", String(26), ForeignKey("conversations.id"), primary_key=True),
    Column("account_id", String(26), ForeignKey("accounts.id"), primary_key=True),
    Column("from_seq", BigInteger, primary_key=True, autoincrement=False),  # exclusive
    Column("to_seq", BigInteger, nullable=True),  # inclusive; None while a member
)

group_invitations = Table(
    "group_invitations",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("conversation_id", String(26), ForeignKey("conversations.id"), nullable=False),
    Column("inviter_id", String(26), ForeignKey("accounts.id"), nullable=False),
    Column("invitee_id", String(26), ForeignKey("accounts.id"), nullable=False),
    Column("status", String(24), nullable=False),
    Column("needs_approval", Boolean, nullable=False),
    Column("needs_acceptance", Boolean, nullable=False),
    Column("decided_by", String(26), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("closed_at", UTCDateTime(), nullable=True),
    Index("ix_group_invitations_conversation", "conversation_id", "status"),
    Index("ix_group_invitations_invitee", "invitee_id", "status"),
)

invite_links = Table(
    "invite_links",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("conversation_id", String(26), ForeignKey("conversations.id"), nullable=False),
    Column("created_by", String(26), ForeignKey("accounts.id"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Index("ix_invite_links_conversation", "conversation_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("conversation_id", String(26), ForeignKey("conversations.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("sender_id", String(26), ForeignKey("accounts.id"), nullable=False),
    # "<sender id>:<client id>": a retried send finds the message it already created.
    Column("client_key", String(96), nullable=False, unique=True),
    Column("text", Text, nullable=False),
    Column("sent_at", UTCDateTime(), nullable=False),
    Column("reply_to_id", String(26), nullable=True),
    Column("hops", Integer, nullable=False, default=0),
    Column("attachments", JSONDocument, nullable=False),
    Column("mentions", JSONDocument, nullable=False),
    Column("recalled_at", UTCDateTime(), nullable=True),
    # The stream event that announced it (rewritten when the message is recalled).
    Column("stream_id", BigInteger, nullable=False),
    # Governance: labels shown with the message, forwarding friction, and the original of a
    # forwarded copy (docs/policies.md).
    Column("labels", JSONDocument, nullable=True),
    Column("friction", Boolean, nullable=False, server_default="0"),
    Column("origin_id", String(26), nullable=True),
    # The owner or admin who removed it for everyone (None for a recall by its author).
    Column("removed_by", String(26), nullable=True),
    Index("uq_messages_conversation_seq", "conversation_id", "seq", unique=True),
)

# Files and images uploaded to a conversation; a message refers to them by id. A forwarded
# attachment is a new row in the target conversation pointing at the same stored bytes.
attachments = Table(
    "attachments",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("conversation_id", String(26), ForeignKey("conversations.id"), nullable=False),
    Column("uploader_id", String(26), ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(8), nullable=False),  # image | file
    Column("filename", String(255), nullable=False),
    Column("content_type", String(128), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("media_key", String(128), nullable=False),
    Column("removed_metadata", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_attachments_conversation", "conversation_id"),
)

# "Delete for me": the message stays for everyone else.
message_hides = Table(
    "message_hides",
    metadata,
    Column("account_id", String(26), ForeignKey("accounts.id"), primary_key=True),
    Column("message_id", String(26), ForeignKey("messages.id"), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

chat_preferences = Table(
    "chat_preferences",
    metadata,
    Column("account_id", String(26), ForeignKey("accounts.id"), primary_key=True),
    # Messages from non-friends arrive in the inbox instead of the requests box.
    Column("allow_strangers", Boolean, nullable=False, default=False),
)


# ---- records read back ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberView:
    """One member row with the member's own settings."""

    member: Member
    read_seq: int
    notifications_muted: bool
    pinned: bool
    archived: bool
    accepted: bool
    cleared_seq: int


@dataclass(frozen=True, slots=True)
class SendContext:
    """What a send needs to know about the conversation and the sender, in one query."""

    kind: ConversationKind
    direct_key: str | None
    dissolved: bool
    last_seq: int
    role: Role
    muted_until: datetime | None
    accepted: bool
    # The platform's read-only mode on the group: in force while ``read_only`` and the clock is
    # before ``read_only_until`` (None: until lifted).
    read_only: bool
    read_only_until: datetime | None
    # The sender's standing as stored now (a socket's actor may be up to a minute old).
    sender_state: AccountState
    sender_state_until: datetime | None
    sender_bounds: tuple[Bound, ...]
    # Direct conversations only: the recipient still counts the sender as a friend; a block.
    recipient_friends_sender: bool
    blocked: bool


def _conversation(row: Row[Any]) -> Conversation:
    return Conversation(
        id=row.id,
        kind=ConversationKind(row.kind),
        name=row.name,
        owner_id=row.owner_id,
        created_at=row.created_at,
        settings=ConversationSettings(
            member_cap=row.member_cap,
            admin_cap=row.admin_cap,
            owner_approval=bool(row.owner_approval),
        ),
        announcement=row.announcement,
        proposed_owner_id=row.proposed_owner_id,
        dissolved_at=row.dissolved_at,
        rules=row.rules,
        read_only=ReadOnly(
            statement_id=row.read_only_statement_id,
            since=row.read_only_since,
            until=row.read_only_until,
            reason=row.read_only_reason or "",
        )
        if row.read_only_statement_id is not None
        else None,
    )


def _member(row: Row[Any]) -> Member:
    return Member(
        account_id=row.account_id,
        role=Role(row.role),
        joined_at=row.joined_at,
        nickname=row.nickname,
        muted_until=row.muted_until,
        invited_by=row.invited_by,
    )


def _member_view(row: Row[Any]) -> MemberView:
    return MemberView(
        member=_member(row),
        read_seq=int(row.read_seq),
        notifications_muted=bool(row.notifications_muted),
        pinned=bool(row.pinned),
        archived=bool(row.archived),
        accepted=bool(row.accepted),
        cleared_seq=int(row.cleared_seq),
    )


def _invitation(row: Row[Any]) -> Invitation:
    return Invitation(
        id=row.id,
        inviter_id=row.inviter_id,
        invitee_id=row.invitee_id,
        status=InvitationStatus(row.status),
        created_at=row.created_at,
        needs_approval=bool(row.needs_approval),
        needs_acceptance=bool(row.needs_acceptance),
        decided_by=row.decided_by,
    )


def _link(row: Row[Any]) -> InviteLink:
    return InviteLink(
        id=row.id,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked=bool(row.revoked),
    )


@dataclass(frozen=True, slots=True)
class StoredMessage:
    message: Message
    seq: int
    client_id: str
    mentions: list[str]
    stream_id: int
    # What the message shows of each attachment (AttachmentOut's fields).
    attachments: tuple[dict[str, Any], ...] = ()


def _message(row: Any) -> StoredMessage:
    return StoredMessage(
        message=Message(
            id=row.id,
            conversation_id=row.conversation_id,
            sender_id=row.sender_id,
            text=row.text,
            sent_at=row.sent_at,
            hops=int(row.hops),
            attachment_ids=tuple(a["id"] for a in row.attachments or ()),
            reply_to_id=row.reply_to_id,
            recalled_at=row.recalled_at,
            labels=tuple(row.labels or ()),
            friction=bool(row.friction),
            origin_id=row.origin_id,
            removed_by=row.removed_by,
        ),
        seq=int(row.seq),
        client_id=str(row.client_key).split(":", 1)[1],
        mentions=list(row.mentions or ()),
        stream_id=int(row.stream_id),
        attachments=tuple(row.attachments or ()),
    )


# ---- conversations --------------------------------------------------------------------------


async def lock_conversation(conn: Conn, conversation_id: str) -> Row[Any] | None:
    """The conversation row, locked for this transaction on PostgreSQL (SQLite: one writer)."""
    statement = select(conversations).where(conversations.c.id == conversation_id)
    if conn.dialect.name == "postgresql":
        statement = statement.with_for_update()
    result = await conn.execute(statement)
    return result.first()


async def get_conversation(conn: Conn, conversation_id: str) -> Conversation | None:
    result = await conn.execute(select(conversations).where(conversations.c.id == conversation_id))
    row = result.first()
    return _conversation(row) if row is not None else None


async def conversation_extras(conn: Conn, conversation_id: str) -> Row[Any] | None:
    """Columns the pure records do not carry (seq, avatar, announcement time)."""
    result = await conn.execute(
        select(
            conversations.c.last_seq,
            conversations.c.last_message_at,
            conversations.c.avatar_media_id,
            conversations.c.announcement_at,
            conversations.c.direct_key,
        ).where(conversations.c.id == conversation_id)
    )
    return result.first()


async def find_direct(conn: Conn, key: str) -> str | None:
    result = await conn.execute(select(conversations.c.id).where(conversations.c.direct_key == key))
    return result.scalar_one_or_none()


async def insert_conversation(
    conn: Conn, conversation: Conversation, *, direct_key: str | None = None
) -> bool:
    """Insert; False when a direct conversation for the same pair appeared meanwhile."""
    statement = insert_ignoring_duplicates(conn, conversations).values(
        id=conversation.id,
        kind=conversation.kind.value,
        name=conversation.name,
        owner_id=conversation.owner_id,
        direct_key=direct_key,
        announcement=conversation.announcement,
        rules=conversation.rules,
        proposed_owner_id=conversation.proposed_owner_id,
        owner_approval=conversation.settings.owner_approval,
        member_cap=conversation.settings.member_cap,
        admin_cap=conversation.settings.admin_cap,
        created_at=conversation.created_at,
        last_seq=0,
    )
    result = await conn.execute(statement)
    return bool(result.rowcount)


async def update_conversation(conn: Conn, conversation_id: str, **values: Any) -> None:
    await conn.execute(
        update(conversations).where(conversations.c.id == conversation_id).values(**values)
    )


_SET_SEQ = (
    update(conversations)
    .where(conversations.c.id == bindparam("conversation_id"))
    .values(
        last_seq=bindparam("last_seq", type_=BigInteger),
        last_message_at=bindparam("now", type_=UTCDateTime()),
    )
)


_LOCK_SEQS = (
    select(conversations.c.id, conversations.c.last_seq)
    .where(conversations.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(conversations.c.id)
    .with_for_update()
)


async def take_seqs(
    conn: Conn, counts: dict[str, int], now: datetime, known: dict[str, int]
) -> dict[str, int]:
    """Reserve ``count`` message seqs per conversation; returns each one's first new seq.

    ``known`` holds each conversation's ``last_seq`` as read earlier in this transaction. On
    SQLite that read is still true (the write transaction began IMMEDIATE: no other writer).
    On PostgreSQL another node may have moved it, so the rows are read again under
    ``FOR UPDATE``, in id order (PostgreSQL locks after sorting, so two nodes' batches take
    their locks in the same order and never deadlock). Then one ``executemany`` sets them all.
    """
    current = dict(known)
    if conn.dialect.name != "sqlite":
        locked = await conn.execute(_LOCK_SEQS, {"ids": sorted(counts)})
        current.update({row.id: int(row.last_seq) for row in locked})
    first: dict[str, int] = {}
    rows = []
    for conversation_id, count in counts.items():
        first[conversation_id] = current[conversation_id] + 1
        rows.append(
            {
                "conversation_id": conversation_id,
                "last_seq": current[conversation_id] + count,
                "now": now,
            }
        )
    await execute_many(conn, _SET_SEQ, rows)
    return first


async def last_seq(conn: Conn, conversation_id: str) -> int:
    result = await conn.execute(
        select(conversations.c.last_seq).where(conversations.c.id == conversation_id)
    )
    return int(result.scalar_one())


# ---- members --------------------------------------------------------------------------------


async def load_members(conn: Conn, conversation_id: str) -> dict[str, MemberView]:
    result = await conn.execute(
        select(conversation_members)
        .where(conversation_members.c.conversation_id == conversation_id)
        .order_by(conversation_members.c.joined_at, conversation_members.c.account_id)
    )
    return {row.account_id: _member_view(row) for row in result}


async def count_members(conn: Conn, conversation_id: str) -> int:
    result = await conn.execute(
        select(func.count())
        .select_from(conversation_members)
        .where(conversation_members.c.conversation_id == conversation_id)
    )
    return int(result.scalar_one())


async def get_member(conn: Conn, conversation_id: str, account_id: str) -> MemberView | None:
    result = await conn.execute(
        select(conversation_members).where(
            conversation_members.c.conversation_id == conversation_id,
            conversation_members.c.account_id == account_id,
        )
    )
    row = result.first()
    return _member_view(row) if row is not None else None


async def load_group_state(conn: Conn, conversation_id: str) -> GroupState | None:
    conversation = await get_conversation(conn, conversation_id)
    if conversation is None:
        return None
    members = await load_members(conn, conversation_id)
    invitations = await conn.execute(
        select(group_invitations).where(
            group_invitations.c.conversation_id == conversation_id,
            group_invitations.c.status.in_(
                [InvitationStatus.PENDING_APPROVAL.value, InvitationStatus.PENDING_ACCEPTANCE.value]
            ),
        )
    )
    links = await conn.execute(
        select(invite_links).where(
            invite_links.c.conversation_id == conversation_id, invite_links.c.revoked.is_(False)
        )
    )
    return GroupState(
        conversation=conversation,
        members={account_id: view.member for account_id, view in members.items()},
        invitations={row.id: _invitation(row) for row in invitations},
        invite_links={row.id: _link(row) for row in links},
    )


async def insert_member(
    conn: Conn, conversation_id: str, member: Member, accepted: bool, *, read_seq: int = 0
) -> None:
    """A new member row; ``read_seq`` starts at the seq they joined at, so messages from
    before they joined (which they cannot read) never count as unread."""
    await conn.execute(
        conversation_members.insert().values(
            conversation_id=conversation_id,
            account_id=member.account_id,
            role=member.role.value,
            joined_at=member.joined_at,
            nickname=member.nickname,
            muted_until=member.muted_until,
            invited_by=member.invited_by,
            read_seq=read_seq,
            notifications_muted=False,
            pinned=False,
            archived=False,
            accepted=accepted,
            cleared_seq=0,
        )
    )


async def update_member(conn: Conn, conversation_id: str, account_id: str, **values: Any) -> int:
    result = await conn.execute(
        update(conversation_members)
        .where(
            conversation_members.c.conversation_id == conversation_id,
            conversation_members.c.account_id == account_id,
        )
        .values(**values)
    )
    return int(result.rowcount)


async def delete_member(conn: Conn, conversation_id: str, account_id: str) -> None:
    await conn.execute(
        delete(conversation_members).where(
            conversation_members.c.conversation_id == conversation_id,
            conversation_members.c.account_id == account_id,
        )
    )


async def open_history(
    conn: Conn, conversation_id: str, account_ids: Iterable[str], from_seq: int
) -> None:
    rows = [
        {"conversation_id": conversation_id, "account_id": a, "from_seq": from_seq, "to_seq": None}
        for a in account_ids
    ]
    if rows:
        await conn.execute(insert_ignoring_duplicates(conn, history_ranges), rows)
        # Someone who left and comes back at the same seq finds their old, empty period
        # (from_seq, from_seq] under the same key: reopen it, or they would read nothing.
        await conn.execute(
            update(history_ranges)
            .where(
                history_ranges.c.conversation_id == conversation_id,
                history_ranges.c.account_id.in_([row["account_id"] for row in rows]),
                history_ranges.c.from_seq == from_seq,
            )
            .values(to_seq=None)
        )


async def close_history(
    conn: Conn, conversation_id: str, account_ids: Iterable[str], to_seq: int
) -> None:
    ids = list(account_ids)
    if ids:
        await conn.execute(
            update(history_ranges)
            .where(
                history_ranges.c.conversation_id == conversation_id,
                history_ranges.c.account_id.in_(ids),
                history_ranges.c.to_seq.is_(None),
            )
            .values(to_seq=to_seq)
        )


async def history_ranges_of(
    conn: Conn, conversation_id: str, account_id: str
) -> list[tuple[int, int | None]]:
    result = await conn.execute(
        select(history_ranges.c.from_seq, history_ranges.c.to_seq)
        .where(
            history_ranges.c.conversation_id == conversation_id,
            history_ranges.c.account_id == account_id,
        )
        .order_by(history_ranges.c.from_seq)
    )
    return [(int(r.from_seq), None if r.to_seq is None else int(r.to_seq)) for r in result]


# The hot path: one statement, built once, for everything a batch of sends checks about each
# (conversation, sender) pair. For a direct conversation it also answers, through correlated
# subqueries on the other member, whether the recipient still has the sender as a friend and
# whether either blocks the other (``CASE`` keeps those subqueries off group conversations).
_sender = conversation_members.alias("sender")
_other = conversation_members.alias("other")
_is_direct = conversations.c.kind == ConversationKind.DIRECT.value
_recipient_friends = exists().where(
    _other.c.conversation_id == _sender.c.conversation_id,
    _other.c.account_id != _sender.c.account_id,
    friendships.c.owner_id == _other.c.account_id,
    friendships.c.friend_id == _sender.c.account_id,
)
_blocked_either_way = exists().where(
    _other.c.conversation_id == _sender.c.conversation_id,
    _other.c.account_id != _sender.c.account_id,
    or_(
        and_(
            blocks.c.blocker_id == _other.c.account_id, blocks.c.blocked_id == _sender.c.account_id
        ),
        and_(
            blocks.c.blocker_id == _sender.c.account_id, blocks.c.blocked_id == _other.c.account_id
        ),
    ),
)
_SEND_CONTEXTS = (
    select(
        _sender.c.conversation_id,
        _sender.c.account_id,
        conversations.c.kind,
        conversations.c.direct_key,
        conversations.c.dissolved_at,
        conversations.c.last_seq,
        conversations.c.read_only_statement_id,
        conversations.c.read_only_until,
        _sender.c.role,
        _sender.c.muted_until,
        _sender.c.accepted,
        accounts.c.state,
        accounts.c.state_until,
        accounts.c.enforcement,
        case((_is_direct, _recipient_friends), else_=false()).label("recipient_friends"),
        case((_is_direct, _blocked_either_way), else_=false()).label("blocked"),
    )
    .select_from(
        _sender.join(conversations, conversations.c.id == _sender.c.conversation_id).join(
            accounts, accounts.c.id == _sender.c.account_id
        )
    )
    .where(
        # The conversation ids first: SQLite plans a row-value IN over a list as a scan of
        # every membership; this one it answers from the primary key's index.
        _sender.c.conversation_id.in_(bindparam("conversation_ids", expanding=True)),
        tuple_(_sender.c.conversation_id, _sender.c.account_id).in_(
            bindparam("pairs", expanding=True)
        ),
    )
)


async def send_contexts(
    conn: Conn, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], SendContext]:
    """The context of each (conversation, sender) pair of a batch, in one query; a pair that
    is missing is a sender who is not a member."""
    if not pairs:
        return {}
    conversation_ids = sorted({conversation_id for conversation_id, _ in pairs})
    rows = await fetch_rows(
        conn,
        _SEND_CONTEXTS,
        {"conversation_ids": padded(conversation_ids), "pairs": padded(list(pairs))},
    )
    contexts: dict[tuple[str, str], SendContext] = {}
    # Unpacked by position, enums by dict: this runs for every sender of every batch.
    for (
        conversation_id,
        account_id,
        kind,
        direct_key,
        dissolved_at,
        last_seq,
        read_only_statement_id,
        read_only_until,
        role,
        muted_until,
        accepted,
        state,
        state_until,
        enforcement,
        recipient_friends,
        blocked,
    ) in rows:
        contexts[(conversation_id, account_id)] = SendContext(
            kind=_KINDS[kind],
            direct_key=direct_key,
            dissolved=dissolved_at is not None,
            last_seq=int(last_seq),
            role=_ROLES[role],
            muted_until=muted_until,
            accepted=bool(accepted),
            read_only=read_only_statement_id is not None,
            read_only_until=read_only_until,
            sender_state=_STATES[state],
            sender_state_until=state_until,
            sender_bounds=bounds_from_json(enforcement),
            recipient_friends_sender=bool(recipient_friends),
            blocked=bool(blocked),
        )
    return contexts


_KINDS = {kind.value: kind for kind in ConversationKind}
_ROLES = {role.value: role for role in Role}
_STATES = {state.value: state for state in AccountState}


@dataclass(frozen=True, slots=True)
class PairStanding:
    """How the recipient of a direct message stands towards its sender."""

    recipient_friends_sender: bool
    blocked: bool  # either side blocks the other


_PAIR_STANDING = select(
    exists().where(
        friendships.c.owner_id == bindparam("recipient"),
        friendships.c.friend_id == bindparam("sender"),
    ),
    exists().where(
        or_(
            and_(
                blocks.c.blocker_id == bindparam("recipient"),
                blocks.c.blocked_id == bindparam("sender"),
            ),
            and_(
                blocks.c.blocker_id == bindparam("sender"),
                blocks.c.blocked_id == bindparam("recipient"),
            ),
        )
    ),
)


async def pair_standing(conn: Conn, sender_id: str, recipient_id: str) -> PairStanding:
    result = await conn.execute(_PAIR_STANDING, {"recipient": recipient_id, "sender": sender_id})
    row: Any = result.one()
    return PairStanding(recipient_friends_sender=bool(row[0]), blocked=bool(row[1]))


async def allows_strangers(conn: Conn, account_id: str) -> bool:
    result = await conn.execute(
        select(chat_preferences.c.allow_strangers).where(
            chat_preferences.c.account_id == account_id
        )
    )
    return bool(result.scalar_one_or_none())


async def set_allows_strangers(conn: Conn, account_id: str, allow: bool) -> None:
    updated = await conn.execute(
        update(chat_preferences)
        .where(chat_preferences.c.account_id == account_id)
        .values(allow_strangers=allow)
    )
    if not updated.rowcount:
        await conn.execute(
            insert_ignoring_duplicates(conn, chat_preferences).values(
                account_id=account_id, allow_strangers=allow
            )
        )


# ---- the conversation list -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListedConversation:
    conversation: Conversation
    view: MemberView
    last_seq: int
    last_message_at: datetime | None
    direct_key: str | None
    avatar_media_id: str | None


async def list_for_account(
    conn: Conn, account_id: str, *, limit: int, before: tuple[str, str] | None = None
) -> list[ListedConversation]:
    """The account's conversations, most recently active first (created time if silent)."""
    activity = func.coalesce(conversations.c.last_message_at, conversations.c.created_at)
    statement = (
        select(
            conversations,
            conversation_members.c.account_id,
            conversation_members.c.role,
            conversation_members.c.joined_at,
            conversation_members.c.nickname,
            conversation_members.c.muted_until,
            conversation_members.c.invited_by,
            conversation_members.c.read_seq,
            conversation_members.c.notifications_muted,
            conversation_members.c.pinned,
            conversation_members.c.archived,
            conversation_members.c.accepted,
            conversation_members.c.cleared_seq,
        )
        .select_from(
            conversation_members.join(
                conversations, conversations.c.id == conversation_members.c.conversation_id
            )
        )
        .where(conversation_members.c.account_id == account_id)
        .order_by(activity.desc(), conversations.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        at, conversation_id = before
        statement = statement.where(
            or_(
                activity < datetime.fromisoformat(at),
                and_(activity == datetime.fromisoformat(at), conversations.c.id < conversation_id),
            )
        )
    result = await conn.execute(statement)
    return [
        ListedConversation(
            conversation=_conversation(row),
            view=_member_view(row),
            last_seq=int(row.last_seq),
            last_message_at=row.last_message_at,
            direct_key=row.direct_key,
            avatar_media_id=row.avatar_media_id,
        )
        for row in result
    ]


# ---- invitations and links -------------------------------------------------------------------


async def upsert_invitations(
    conn: Conn, conversation_id: str, invitations: Iterable[Invitation], now: datetime
) -> None:
    """Write each invitation as the model left it (insert new ones, update the status of
    existing ones)."""
    for invitation in invitations:
        updated = await conn.execute(
            update(group_invitations)
            .where(group_invitations.c.id == invitation.id)
            .values(
                status=invitation.status.value,
                decided_by=invitation.decided_by,
                closed_at=None if invitation.is_open else now,
            )
        )
        if not updated.rowcount:
            await conn.execute(
                group_invitations.insert().values(
                    id=invitation.id,
                    conversation_id=conversation_id,
                    inviter_id=invitation.inviter_id,
                    invitee_id=invitation.invitee_id,
                    status=invitation.status.value,
                    needs_approval=invitation.needs_approval,
                    needs_acceptance=invitation.needs_acceptance,
                    decided_by=invitation.decided_by,
                    created_at=invitation.created_at,
                    closed_at=None if invitation.is_open else now,
                )
            )


async def invitations_for_invitee(conn: Conn, account_id: str) -> list[tuple[str, Invitation]]:
    """Open invitation cards the account must accept or decline: (conversation id, card)."""
    result = await conn.execute(
        select(group_invitations)
        .where(
            group_invitations.c.invitee_id == account_id,
            group_invitations.c.status == InvitationStatus.PENDING_ACCEPTANCE.value,
        )
        .order_by(group_invitations.c.created_at.desc())
    )
    return [(row.conversation_id, _invitation(row)) for row in result]


async def invitation_conversation(conn: Conn, invitation_id: str) -> str | None:
    result = await conn.execute(
        select(group_invitations.c.conversation_id).where(group_invitations.c.id == invitation_id)
    )
    return result.scalar_one_or_none()


async def upsert_links(conn: Conn, conversation_id: str, links: Iterable[InviteLink]) -> None:
    for link in links:
        updated = await conn.execute(
            update(invite_links).where(invite_links.c.id == link.id).values(revoked=link.revoked)
        )
        if not updated.rowcount:
            await conn.execute(
                invite_links.insert().values(
                    id=link.id,
                    conversation_id=conversation_id,
                    created_by=link.created_by,
                    created_at=link.created_at,
                    expires_at=link.expires_at,
                    revoked=link.revoked,
                )
            )


async def link_conversation(conn: Conn, link_id: str) -> str | None:
    result = await conn.execute(
        select(invite_links.c.conversation_id).where(invite_links.c.id == link_id)
    )
    return result.scalar_one_or_none()


# ---- messages -------------------------------------------------------------------------------


def message_row(stored: StoredMessage, sender_key: str) -> dict[str, Any]:
    m = stored.message
    return {
        "id": m.id,
        "conversation_id": m.conversation_id,
        "seq": stored.seq,
        "sender_id": m.sender_id,
        "client_key": sender_key,
        "text": m.text,
        "sent_at": m.sent_at,
        "reply_to_id": m.reply_to_id,
        "hops": m.hops,
        "attachments": list(stored.attachments),
        "mentions": stored.mentions,
        "recalled_at": m.recalled_at,
        "stream_id": stored.stream_id,
        "labels": list(m.labels) or None,
        "friction": m.friction,
        "origin_id": m.origin_id,
        "removed_by": m.removed_by,
    }


_INSERT_MESSAGES = messages.insert()


async def insert_messages(conn: Conn, rows: Sequence[dict[str, Any]]) -> None:
    await execute_many(conn, _INSERT_MESSAGES, rows)


_BY_CLIENT_KEYS = select(messages).where(
    messages.c.client_key.in_(bindparam("keys", expanding=True))
)
# A ``messages`` row read as a plain tuple, with the column names ``_message`` reads.
_MessageRow = namedtuple("_MessageRow", [column.key for column in messages.columns])  # type: ignore[misc]


async def messages_by_client_keys(conn: Conn, keys: Sequence[str]) -> dict[str, StoredMessage]:
    if not keys:
        return {}
    rows = await fetch_rows(conn, _BY_CLIENT_KEYS, {"keys": padded(list(keys))})
    found: Iterable[Any] = (_MessageRow(*row) for row in rows)
    return {row.client_key: _message(row) for row in found}


async def get_message(conn: Conn, message_id: str) -> StoredMessage | None:
    result = await conn.execute(select(messages).where(messages.c.id == message_id))
    row = result.first()
    return _message(row) if row is not None else None


async def mark_recalled(
    conn: Conn, message_id: str, now: datetime, *, removed_by: str | None = None
) -> None:
    await conn.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(text="", attachments=[], mentions=[], recalled_at=now, removed_by=removed_by)
    )


async def messages_by_ids(conn: Conn, message_ids: Sequence[str]) -> dict[str, StoredMessage]:
    if not message_ids:
        return {}
    result = await conn.execute(select(messages).where(messages.c.id.in_(list(message_ids))))
    return {row.id: _message(row) for row in result}


async def set_read_only(conn: Conn, conversation_id: str, read_only: ReadOnly | None) -> None:
    """Put the platform's read-only mode in force on a group, or end it (None)."""
    await update_conversation(
        conn,
        conversation_id,
        read_only_statement_id=read_only.statement_id if read_only else None,
        read_only_since=read_only.since if read_only else None,
        read_only_until=read_only.until if read_only else None,
        read_only_reason=read_only.reason if read_only else None,
    )


async def history(
    conn: Conn,
    conversation_id: str,
    account_id: str,
    ranges: Sequence[tuple[int, int | None]],
    *,
    after_seq: int,
    before_seq: int | None,
    limit: int,
    newest_first: bool,
) -> list[StoredMessage]:
    """Messages the account may read: inside its history ranges, not hidden by it."""
    if not ranges:
        return []
    within = or_(
        *(
            and_(messages.c.seq > lo, messages.c.seq <= hi)
            if hi is not None
            else messages.c.seq > lo
            for lo, hi in ranges
        )
    )
    hidden = exists().where(
        message_hides.c.account_id == account_id, message_hides.c.message_id == messages.c.id
    )
    statement = select(messages).where(
        messages.c.conversation_id == conversation_id,
        messages.c.seq > after_seq,
        within,
        ~hidden,
    )
    if before_seq is not None:
        statement = statement.where(messages.c.seq < before_seq)
    order = messages.c.seq.desc() if newest_first else messages.c.seq.asc()
    result = await conn.execute(statement.order_by(order).limit(limit))
    return [_message(row) for row in result]


async def hide_message(conn: Conn, account_id: str, message_id: str, now: datetime) -> None:
    await conn.execute(
        insert_ignoring_duplicates(conn, message_hides).values(
            account_id=account_id, message_id=message_id, created_at=now
        )
    )


async def count_unread(conn: Conn, conversation_id: str, account_id: str, after_seq: int) -> int:
    """Messages from others after the read marker (the marker is a seq, so this is a range)."""
    result = await conn.execute(
        select(func.count())
        .select_from(messages)
        .where(
            messages.c.conversation_id == conversation_id,
            messages.c.seq > after_seq,
            messages.c.sender_id != account_id,
        )
    )
    return int(result.scalar_one())


# ---- attachments ----------------------------------------------------------------------------


async def insert_attachment(conn: Conn, row: dict[str, Any]) -> None:
    await conn.execute(attachments.insert().values(**row))


async def get_attachments(conn: Conn, attachment_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not attachment_ids:
        return {}
    result = await conn.execute(
        select(attachments).where(attachments.c.id.in_(list(attachment_ids)))
    )
    return {row.id: dict(row._mapping) for row in result}

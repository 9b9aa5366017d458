"""Moments tables and every SQL statement on them.

The feed is read, not pushed (docs/performance.md, Moments): a post is one row whatever the
author's friend count, and a viewer's first page is one indexed query over the posts of the
friends who may see them, newest first, with each author's history window in the query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    update,
)

from courtyard.contacts.store import contact_label_members, friendships
from courtyard.core.db import Conn, JSONDocument, UTCDateTime, insert_ignoring_duplicates, metadata

posts = Table(
    "posts",
    metadata,
    # ULIDs: ordering by id is ordering by creation time, so the feed needs one index.
    Column("id", String(26), primary_key=True),
    Column("author_id", String(26), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("text", Text, nullable=False),
    Column("images", JSONDocument, nullable=False),
    Column("location", JSONDocument, nullable=True),
    Column("audience", JSONDocument, nullable=False),
    Column("schedule", JSONDocument, nullable=True),
    Column("remind", JSONDocument, nullable=False),
    Column("labels", JSONDocument, nullable=False),
    Column("comments_close_at", UTCDateTime(), nullable=True),
    Column("edited_at", UTCDateTime(), nullable=True),
    Column("deleted_at", UTCDateTime(), nullable=True),
    Column("client_key", String(100), nullable=True, unique=True),
    Index("ix_posts_author_id", "author_id", "id"),
)

post_images = Table(
    "post_images",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("owner_id", String(26), nullable=False),
    Column("key", String(64), nullable=False),
    Column("thumb_key", String(64), nullable=False),
    Column("content_type", String(40), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("removed_metadata", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

post_comments = Table(
    "post_comments",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("post_id", String(26), nullable=False),
    Column("author_id", String(26), nullable=False),
    Column("text", Text, nullable=False),
    Column("reply_to_id", String(26), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("deleted_at", UTCDateTime(), nullable=True),
    Column("deleted_by", String(26), nullable=True),
    Index("ix_post_comments_post", "post_id", "id"),
)

post_likes = Table(
    "post_likes",
    metadata,
    Column("post_id", String(26), primary_key=True),
    Column("account_id", String(26), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Per-relationship Moments permissions, set by ``owner_id`` about ``friend_id``.
moments_permissions = Table(
    "moments_permissions",
    metadata,
    Column("owner_id", String(26), primary_key=True),
    Column("friend_id", String(26), primary_key=True),
    Column("hide_my_moments", Boolean, nullable=False, server_default="0"),
    Column("hide_their_moments", Boolean, nullable=False, server_default="0"),
    Column("chat_only", Boolean, nullable=False, server_default="0"),
    Index("ix_moments_permissions_friend", "friend_id"),
)

moments_settings = Table(
    "moments_settings",
    metadata,
    Column("account_id", String(26), primary_key=True),
    Column("window", String(4), nullable=False),
    Column("sensitive_labels", JSONDocument, nullable=False),
)

moments_notifications = Table(
    "moments_notifications",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("account_id", String(26), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("post_id", String(26), nullable=False),
    Column("actor_id", String(26), nullable=False),
    Column("comment_id", String(26), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_moments_notifications_account", "account_id", "id"),
)


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


async def insert_row(conn: Conn, table: Table, values: dict[str, Any]) -> None:
    await conn.execute(insert(table).values(**values))


async def update_post(conn: Conn, post_id: str, **values: Any) -> None:
    await conn.execute(update(posts).where(posts.c.id == post_id).values(**values))


async def get_post(conn: Conn, post_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(posts).where(posts.c.id == post_id))).first()
    return _row(row) if row is not None else None


async def post_by_client_key(conn: Conn, key: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(posts).where(posts.c.client_key == key))).first()
    return _row(row) if row is not None else None


async def get_images(conn: Conn, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = await conn.execute(select(post_images).where(post_images.c.id.in_(list(ids))))
    return {r.id: _row(r) for r in rows}


# -- the viewer's world: friends, permissions, windows, labels ------------------------------


async def friends_of(conn: Conn, account_id: str) -> set[str]:
    rows = await conn.execute(
        select(friendships.c.friend_id).where(friendships.c.owner_id == account_id)
    )
    return {r[0] for r in rows}


async def are_friends(conn: Conn, a: str, b: str) -> bool:
    row = (
        await conn.execute(
            select(friendships.c.owner_id).where(
                friendships.c.owner_id == a, friendships.c.friend_id == b
            )
        )
    ).first()
    return row is not None


async def permissions_between(
    conn: Conn, viewer_id: str, authors: Iterable[str] | None = None
) -> tuple[dict[str, dict[str, bool]], dict[str, dict[str, bool]]]:
    """(what each author set about the viewer, what the viewer set about each author)."""
    p = moments_permissions.c
    theirs_q = select(moments_permissions).where(p.friend_id == viewer_id)
    mine_q = select(moments_permissions).where(p.owner_id == viewer_id)
    if authors is not None:
        authors = list(authors)
        theirs_q = theirs_q.where(p.owner_id.in_(authors))
        mine_q = mine_q.where(p.friend_id.in_(authors))
    theirs = {r.owner_id: _row(r) for r in await conn.execute(theirs_q)}
    mine = {r.friend_id: _row(r) for r in await conn.execute(mine_q)}
    return theirs, mine


async def windows_of(conn: Conn, authors: Iterable[str]) -> dict[str, str]:
    authors = list(authors)
    if not authors:
        return {}
    rows = await conn.execute(
        select(moments_settings.c.account_id, moments_settings.c.window).where(
            moments_settings.c.account_id.in_(authors)
        )
    )
    return {str(account_id): str(window) for account_id, window in (tuple(r) for r in rows)}


async def get_settings(conn: Conn, account_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(moments_settings).where(moments_settings.c.account_id == account_id)
        )
    ).first()
    return _row(row) if row is not None else None


async def put_settings(conn: Conn, account_id: str, values: dict[str, Any]) -> None:
    existing = await get_settings(conn, account_id)
    if existing is not None and not values:
        return
    if existing is None:
        await conn.execute(
            insert(moments_settings).values(
                account_id=account_id,
                window=values.get("window", "all"),
                sensitive_labels=values.get("sensitive_labels", []),
            )
        )
    else:
        await conn.execute(
            update(moments_settings)
            .where(moments_settings.c.account_id == account_id)
            .values(**values)
        )


async def put_permissions(
    conn: Conn, owner_id: str, friend_id: str, values: dict[str, bool]
) -> None:
    p = moments_permissions.c
    existing = (
        await conn.execute(
            select(moments_permissions).where(p.owner_id == owner_id, p.friend_id == friend_id)
        )
    ).first()
    if existing is not None and not values:
        return
    if existing is None:
        base = {"hide_my_moments": False, "hide_their_moments": False, "chat_only": False}
        await conn.execute(
            insert(moments_permissions).values(
                owner_id=owner_id, friend_id=friend_id, **{**base, **values}
            )
        )
    else:
        await conn.execute(
            update(moments_permissions)
            .where(p.owner_id == owner_id, p.friend_id == friend_id)
            .values(**values)
        )


async def labels_containing(
    conn: Conn, viewer_id: str, owners: Iterable[str] | None = None
) -> set[str]:
    """The ids of other people's labels the viewer is in (what a follow-mode audience needs)."""
    m = contact_label_members.c
    query = select(m.label_id).where(m.friend_id == viewer_id)
    if owners is not None:
        query = query.where(m.owner_id.in_(list(owners)))
    return {r[0] for r in await conn.execute(query)}


async def label_members(conn: Conn, owner_id: str, label_ids: Iterable[str]) -> dict[str, set[str]]:
    m = contact_label_members.c
    label_ids = list(label_ids)
    out: dict[str, set[str]] = {label: set() for label in label_ids}
    if not label_ids:
        return out
    rows = await conn.execute(
        select(m.label_id, m.friend_id).where(m.owner_id == owner_id, m.label_id.in_(label_ids))
    )
    for row in rows:
        label_id, friend_id = tuple(row)
        out[str(label_id)].add(str(friend_id))
    return out


# -- reading posts -----------------------------------------------------------------------------


def _window_terms(by_since: dict[datetime | None, list[str]]) -> ColumnElement[bool]:
    terms: list[ColumnElement[bool]] = []
    for since, authors in by_since.items():
        if not authors:
            continue
        term: ColumnElement[bool] = posts.c.author_id.in_(authors)
        if since is not None:
            term = and_(term, posts.c.created_at >= since)
        terms.append(term)
    return or_(*terms) if terms else false()


async def candidate_posts(
    conn: Conn,
    by_since: dict[datetime | None, list[str]],
    *,
    before_id: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Undeleted posts by these authors, each author within its window, newest first."""
    query = select(posts).where(_window_terms(by_since), posts.c.deleted_at.is_(None))
    if before_id is not None:
        query = query.where(posts.c.id < before_id)
    rows = await conn.execute(query.order_by(posts.c.id.desc()).limit(limit))
    return [_row(r) for r in rows]


async def posts_matching(
    conn: Conn, by_since: dict[datetime | None, list[str]], needle: str, *, limit: int
) -> list[dict[str, Any]]:
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = await conn.execute(
        select(posts)
        .where(
            _window_terms(by_since),
            posts.c.deleted_at.is_(None),
            posts.c.text.like(pattern, escape="\\"),
        )
        .order_by(posts.c.id.desc())
        .limit(limit)
    )
    return [_row(r) for r in rows]


# -- comments, likes, notifications ------------------------------------------------------------


async def comments_of(conn: Conn, post_ids: Sequence[str]) -> list[dict[str, Any]]:
    if not post_ids:
        return []
    rows = await conn.execute(
        select(post_comments)
        .where(post_comments.c.post_id.in_(list(post_ids)), post_comments.c.deleted_at.is_(None))
        .order_by(post_comments.c.id)
    )
    return [_row(r) for r in rows]


async def get_comment(conn: Conn, comment_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(select(post_comments).where(post_comments.c.id == comment_id))
    ).first()
    return _row(row) if row is not None else None


async def delete_comment(conn: Conn, comment_id: str, by: str, now: datetime) -> None:
    await conn.execute(
        update(post_comments)
        .where(post_comments.c.id == comment_id)
        .values(deleted_at=now, deleted_by=by)
    )


async def restore_comment(conn: Conn, comment_id: str) -> None:
    await conn.execute(
        update(post_comments)
        .where(post_comments.c.id == comment_id)
        .values(deleted_at=None, deleted_by=None)
    )


async def likes_of(conn: Conn, post_ids: Sequence[str]) -> list[dict[str, Any]]:
    if not post_ids:
        return []
    rows = await conn.execute(
        select(post_likes)
        .where(post_likes.c.post_id.in_(list(post_ids)))
        .order_by(post_likes.c.created_at, post_likes.c.account_id)
    )
    return [_row(r) for r in rows]


async def add_like(conn: Conn, post_id: str, account_id: str, now: datetime) -> bool:
    result = await conn.execute(
        insert_ignoring_duplicates(conn, post_likes).values(
            post_id=post_id, account_id=account_id, created_at=now
        )
    )
    return bool(result.rowcount)


async def remove_like(conn: Conn, post_id: str, account_id: str) -> bool:
    result = await conn.execute(
        delete(post_likes).where(
            post_likes.c.post_id == post_id, post_likes.c.account_id == account_id
        )
    )
    return bool(result.rowcount)


async def notifications_for(
    conn: Conn, account_id: str, *, before_id: str | None, limit: int
) -> list[dict[str, Any]]:
    query = select(moments_notifications).where(moments_notifications.c.account_id == account_id)
    if before_id is not None:
        query = query.where(moments_notifications.c.id < before_id)
    rows = await conn.execute(query.order_by(moments_notifications.c.id.desc()).limit(limit))
    return [_row(r) for r in rows]


async def count_posts(conn: Conn) -> int:
    return int((await conn.execute(select(func.count()).select_from(posts))).scalar_one())

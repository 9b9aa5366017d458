"""Moments tables and every SQL statement on them.

The feed is read, not pushed (docs/performance.md, Moments): a post is one row whatever the
author's friend count. A viewer's page is the newest ids among the posts of the friends who
may see them, each author's history window in the query (one range of a covering index per
friend, or, for a viewer with thousands of friends, a scan of everyone's newest posts), then
the rows of those ids.
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
    any_,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from courtyard.contacts.store import contact_label_members, friendships
from courtyard.core import json
from courtyard.core.db import (
    Conn,
    JSONDocument,
    UTCDateTime,
    insert_ignoring_duplicates,
    metadata,
    row_dict,
)
from courtyard.core.db import insert_row as insert_row  # noqa: PLC0414 - re-exported row helper

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
    # Covering for the feed's first step (``candidate_posts``): each author's range, newest
    # first, with the window and deletion tests on the index entry, no table row read.
    Index("ix_posts_author_feed", "author_id", "id", "created_at", "deleted_at"),
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

# The labels a viewer is in, for audiences that follow a label: every feed asks, and without
# it the answer is a scan of every label's members. (contact_label_members is the contacts
# pillar's table; the index is declared here, beside the one query that needs it.)
Index(
    "ix_contact_label_members_friend",
    contact_label_members.c.friend_id,
    contact_label_members.c.label_id,
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


_row = row_dict


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


async def windows_of_friends(conn: Conn, account_id: str) -> dict[str, str]:
    """``windows_of`` all of an account's friends, in one join (no list of ids to send)."""
    f, s = friendships.c, moments_settings.c
    rows = await conn.execute(
        select(s.account_id, s.window)
        .select_from(friendships.join(moments_settings, s.account_id == f.friend_id))
        .where(f.owner_id == account_id)
    )
    return {str(account_id): str(window) for account_id, window in (tuple(r) for r in rows)}


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


# Above this many values, a list goes to the database as one parameter.
_MANY = 100
# A viewer with many authors (thousands of friends) reads the newest posts of everyone in id
# order and keeps their authors' (cost: the rows scanned until enough match) rather than
# descending the author index once per author (~3 µs each on SQLite, ~13 µs on PostgreSQL,
# measured with bench/moments.py). The scan stops after this many rows per author, so that a
# scan that finds too little (a small share of a large instance's posts) costs about what the
# author index would have; the author index then reads the rest, below what was scanned.
_SCAN_ROWS_PER_AUTHOR = 2
# ... and is tried only when it may read at least this many rows per post wanted.
_SCAN_MIN_ROWS_PER_WANTED = 8


def _one_of(
    conn: Conn, column: ColumnElement[str], values: list[str], *, scan: bool = False
) -> ColumnElement[bool]:
    """``column IN values``, with a long list sent as one parameter (an array on PostgreSQL,
    a JSON array read by ``json_each`` on SQLite): SQLAlchemy renders a list as one
    placeholder per value, ~15 ms of CPU for a viewer with 5,000 friends. ``scan``: the test
    is a filter on rows scanned in id order (PostgreSQL: a hashed set, not a search of the
    index per value)."""
    if len(values) <= _MANY:
        return column.in_(values)
    if conn.dialect.name == "postgresql":
        array = literal(values, type_=ARRAY(String()))
        return column.in_(select(func.unnest(array))) if scan else column == any_(array)
    each = func.json_each(literal(json.dumps_str(values))).table_valued("value")
    return column.in_(select(each.c.value))


def _group_terms(
    conn: Conn, by_since: dict[datetime | None, list[str]], *, scan: bool = False
) -> list[ColumnElement[bool]]:
    """One term per window group: these authors, posts no older than the group's window."""
    terms: list[ColumnElement[bool]] = []
    for since, authors in by_since.items():
        if not authors:
            continue
        term = _one_of(conn, posts.c.author_id, authors, scan=scan)
        if since is not None:
            term = and_(term, posts.c.created_at >= since)
        terms.append(term)
    return terms


async def _ids_by_author(
    conn: Conn, by_since: dict[datetime | None, list[str]], before_id: str | None, limit: int
) -> list[str]:
    """The newest ids, one range of the covering index per author. Each window group is its
    own arm of a UNION ALL (the groups share no author): an OR of them makes SQLite collect
    row ids and read every candidate's row before the cut."""
    arms = []
    for term in _group_terms(conn, by_since):
        arm = select(posts.c.id).where(term, posts.c.deleted_at.is_(None))
        if before_id is not None:
            arm = arm.where(posts.c.id < before_id)
        arms.append(arm)
    if not arms:
        return []
    if len(arms) == 1:
        query = arms[0].order_by(posts.c.id.desc()).limit(limit)
    else:
        merged = union_all(*arms).subquery()
        query = select(merged.c.id).order_by(merged.c.id.desc()).limit(limit)
    return [r[0] for r in await conn.execute(query)]


async def _ids_by_scan(
    conn: Conn,
    by_since: dict[datetime | None, list[str]],
    before_id: str | None,
    limit: int,
    rows: int,
) -> tuple[list[str], str | None]:
    """The newest ids among the ``rows`` newest posts (in id order, the primary key), and the
    lowest id of those ``rows`` (None: there are no more)."""
    newest = select(posts.c.id).order_by(posts.c.id.desc())
    if before_id is not None:
        newest = newest.where(posts.c.id < before_id)
    floor = (await conn.execute(newest.offset(rows - 1).limit(1))).scalar()
    terms = _group_terms(conn, by_since, scan=True)
    if not terms:
        return [], floor
    # IS TRUE keeps the author test a filter on the scan: bare, SQLite would search the author
    # index and PostgreSQL would turn the IN into a join, and neither would read in id order.
    query = select(posts.c.id).where(or_(*terms).is_(true()), posts.c.deleted_at.is_(None))
    if floor is not None:
        query = query.where(posts.c.id >= floor)
    if before_id is not None:
        query = query.where(posts.c.id < before_id)
    ids = [r[0] for r in await conn.execute(query.order_by(posts.c.id.desc()).limit(limit))]
    return ids, floor


async def candidate_posts(
    conn: Conn,
    by_since: dict[datetime | None, list[str]],
    *,
    before_id: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Undeleted posts by these authors, each author within its window, newest first.

    Two steps: the ids (from the covering index, or for a viewer with many authors from a
    scan of the newest posts), then the rows of just those. Reading whole rows for every
    candidate before the cut costs one random page per post: posts are stored in time
    order, so an author's are scattered."""
    authors = sum(len(group) for group in by_since.values())
    scan = authors * _SCAN_ROWS_PER_AUTHOR
    if scan and scan >= limit * _SCAN_MIN_ROWS_PER_WANTED:
        ids, floor = await _ids_by_scan(conn, by_since, before_id, limit, scan)
        if len(ids) < limit and floor is not None:
            ids += await _ids_by_author(conn, by_since, floor, limit - len(ids))
    else:
        ids = await _ids_by_author(conn, by_since, before_id, limit)
    if not ids:
        return []
    rows = {r.id: _row(r) for r in await conn.execute(select(posts).where(posts.c.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows]


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

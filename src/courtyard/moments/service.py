"""Moments use cases: post, edit, delete, comment, like, the feed, a profile, "preview as",
the check before posting, permissions and the history window.

Every read builds one ``ViewerContext`` per author from the viewer's friendships, the Moments
permissions both ways, the authors' windows and the labels the viewer is in, and keeps only
what ``model.can_see`` allows; likes and comments then pass ``model.sees_interaction``.
Every write goes through capabilities and governance; a held or blocked post is kept for its
author by due process, never dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from courtyard.accounts.model import Actor
from courtyard.accounts.service import AccountsService
from courtyard.contacts import store as contacts_store
from courtyard.core.clock import Clock
from courtyard.core.config import Settings
from courtyard.core.db import Conn, Database, Tx
from courtyard.core.errors import InvalidInput, NotFound
from courtyard.core.ids import is_valid_id, new_id
from courtyard.core.media import MediaStore, sanitize_image
from courtyard.core.pagination import clamp_limit
from courtyard.governance import due_process_store
from courtyard.governance.detectors import detect_pii
from courtyard.governance.due_process import Withheld
from courtyard.governance.model import Capability, EventKind, PolicyEvent, Verdict
from courtyard.governance.service import GovernanceService, blocked
from courtyard.moments import store
from courtyard.moments.model import (
    MAX_REMINDS,
    Audience,
    AudienceChange,
    AudienceIn,
    AudienceUpdateIn,
    CheckIn,
    CommentIn,
    CommentsClosed,
    MomentsSettingsIn,
    PermissionsIn,
    Post,
    PostIn,
    Relation,
    ViewerContext,
    Window,
    audience_size,
    can_see,
    comment_not_found,
    comments_open,
    in_feed,
    post_not_found,
    resolve_audience,
    sees_interaction,
)
from courtyard.realtime.model import EventDraft
from courtyard.realtime.service import RealtimeService

if TYPE_CHECKING:
    from courtyard.governance.due_process import DueProcessService

NOTIFICATION_EVENT = "moments.notification"
IMAGE_MAX_SIDE = 2048
THUMB_SIDE = 360
IMAGE_MAX_BYTES = 20 * 1024 * 1024
# How many candidate posts one feed query reads per page asked for, before audience filtering.
OVERFETCH = 3


def post_record(row: dict[str, Any]) -> Post:
    schedule = tuple(
        AudienceChange(datetime.fromisoformat(c["at"]), Audience.from_json(c["audience"]))
        for c in (row["schedule"] or ())
    )
    return Post(
        id=row["id"],
        author_id=row["author_id"],
        created_at=row["created_at"],
        text=row["text"],
        audience=Audience.from_json(row["audience"]),
        schedule=schedule,
        deleted=row["deleted_at"] is not None,
        comments_close_at=row["comments_close_at"],
    )


@dataclass(slots=True)
class _World:
    """A viewer's Moments world, loaded once per request."""

    viewer_id: str
    friends: set[str]
    theirs: dict[str, dict[str, Any]]  # what each author set about the viewer
    mine: dict[str, dict[str, Any]]  # what the viewer set about each author
    windows: dict[str, str]
    labels_in: set[str]  # other people's labels the viewer is in
    # Built once per world, not once per post: a feed asks for thousands of contexts.
    _labels: dict[str, frozenset[str]] = field(default_factory=dict, init=False)
    _contexts: dict[str, ViewerContext] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        viewer = frozenset({self.viewer_id})
        self._labels = dict.fromkeys(self.labels_in, viewer)

    def context(self, author_id: str) -> ViewerContext:
        context = self._contexts.get(author_id)
        if context is not None:
            return context
        theirs = self.theirs.get(author_id, {})
        mine = self.mine.get(author_id, {})
        relation = Relation(
            friends=author_id in self.friends,
            author_hides_from_viewer=bool(theirs.get("hide_my_moments")),
            author_chat_only=bool(theirs.get("chat_only")),
            viewer_hides_author=bool(mine.get("hide_their_moments")),
            viewer_chat_only=bool(mine.get("chat_only")),
        )
        context = ViewerContext(relation, Window(self.windows.get(author_id, "all")), self._labels)
        self._contexts[author_id] = context
        return context


class MomentsService:
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
    ) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock
        self._realtime = realtime
        self._governance = governance
        self._accounts = accounts
        self._media = media
        self.due_process: DueProcessService | None = None

    # -- the viewer's world -----------------------------------------------------------------

    async def _world(
        self, conn: Conn, viewer_id: str, authors: Iterable[str] | None = None
    ) -> _World:
        friends = await store.friends_of(conn, viewer_id)
        wanted = friends if authors is None else set(authors) & friends
        theirs, mine = await store.permissions_between(
            conn, viewer_id, None if authors is None else wanted
        )
        windows = (  # all friends: a join, rather than thousands of ids sent back
            await store.windows_of_friends(conn, viewer_id)
            if authors is None
            else await store.windows_of(conn, wanted)
        )
        labels_in = await store.labels_containing(
            conn, viewer_id, None if authors is None else wanted
        )
        return _World(viewer_id, friends, theirs, mine, windows, labels_in)

    def _eligible(
        self, world: _World, authors: Iterable[str], *, feed: bool
    ) -> dict[datetime | None, list[str]]:
        """Authors whose posts the viewer may see at all, grouped by the earliest post time
        their window allows (the query reads nothing older)."""
        now = self._clock.now()
        by_since: dict[datetime | None, list[str]] = {}
        for author in sorted(authors):
            if author == world.viewer_id:
                by_since.setdefault(None, []).append(author)
                continue
            if author not in world.theirs and author not in world.mine:
                # The common case, without building a context: no per-friend settings.
                if author not in world.friends:
                    continue
                window = world.windows.get(author)
                span = None if window is None else Window(window).span
                by_since.setdefault(None if span is None else now - span, []).append(author)
                continue
            context = world.context(author)
            r = context.relation
            if (
                not r.friends
                or r.author_hides_from_viewer
                or r.author_chat_only
                or r.viewer_chat_only
            ):
                continue
            if feed and r.viewer_hides_author:
                continue
            span = context.window.span
            by_since.setdefault(None if span is None else now - span, []).append(author)
        return by_since

    # -- posting -------------------------------------------------------------------------------

    async def create_post(self, actor: Actor, data: PostIn) -> dict[str, Any]:
        capabilities = self._governance.capabilities(actor.standing)
        capabilities.require(Capability.POST)
        text = data.text.strip()
        if not text and not data.image_ids:
            raise InvalidInput("A post needs text or an image.", details={"field": "text"})
        if data.client_id is not None:
            async with self._db.read() as conn:
                existing = await store.post_by_client_key(conn, f"{actor.id}:{data.client_id}")
            if existing is not None:
                return await self._present_one(actor.id, existing)
        now = self._clock.now()
        post_id = new_id()
        async with self._db.read() as conn:
            friends = await store.friends_of(conn, actor.id)
            audience = await self._audience(conn, actor.id, data.audience, friends)
            schedule = [
                {
                    "at": (now + timedelta(hours=c.after_hours)).isoformat(),
                    "audience": (
                        await self._audience(conn, actor.id, c.audience, friends)
                    ).to_json(),
                }
                for c in data.schedule
            ]
            images = await self._own_images(conn, actor.id, data.image_ids)
            probe = Post(post_id, actor.id, now, text, audience)
            for friend_id in sorted(set(data.remind)):
                if friend_id not in friends:
                    raise InvalidInput("You can remind only friends.", details={"field": "remind"})
                world = await self._world(conn, friend_id, [actor.id])
                if not can_see(probe, friend_id, world.context(actor.id), now):
                    raise InvalidInput(
                        "You can remind only friends who will see the post.",
                        details={"field": "remind", "account_id": friend_id},
                    )
        event = PolicyEvent(
            EventKind.POST,
            actor_id=actor.id,
            subject_type="post",
            subject_id=post_id,
            text={"text": text},
            context={"images": len(images), "content_type": "post", "content_id": post_id},
        )
        row = {
            "id": post_id,
            "author_id": actor.id,
            "created_at": now,
            "text": text,
            "images": images,
            "location": {"name": data.location.name} if data.location else None,
            "audience": audience.to_json(),
            "schedule": schedule or None,
            "remind": sorted(set(data.remind)),
            "labels": [],
            "comments_close_at": (
                now + timedelta(days=data.close_comments_after_days)
                if data.close_comments_after_days
                else None
            ),
            "client_key": f"{actor.id}:{data.client_id}" if data.client_id else None,
            "edited_at": None,
            "deleted_at": None,
        }
        async with self._db.write() as tx:
            decision = await self._governance.decide_in(tx, event)
            if decision.verdict in {Verdict.BLOCK, Verdict.HOLD}:
                error = blocked(decision)
                if self.due_process is not None:
                    statement_id, withheld_id = await self.due_process.withhold_in(
                        tx,
                        decision,
                        Withheld(
                            content_type="post",
                            content_id=post_id,
                            author_id=actor.id,
                            conversation_id=None,
                            client_id=data.client_id,
                            text=text,
                            body=row | {"created_at": now.isoformat()},
                        ),
                    )
                    error.details.update(statement_id=statement_id, withheld_id=withheld_id)
                failure: Exception = error
            else:
                row["labels"] = list(decision.labels)
                await store.insert_row(tx.conn, store.posts, row)
                await self._remind(tx, post_record(row), sorted(set(data.remind)))
                await self._governance.audit(
                    tx,
                    actor_id=actor.id,
                    tag="moments:post:create",
                    target_type="post",
                    target_id=post_id,
                    after={"audience": audience.kind.value},
                )
                failure = None  # type: ignore[assignment]
        if failure is not None:
            raise failure
        return await self._present_one(actor.id, row)

    async def restore_post(self, withheld: dict[str, Any]) -> str | None:
        """Publish a post that was held or blocked, once a reviewer or an appeal allows it."""
        body = dict(withheld["body"])
        body["created_at"] = datetime.fromisoformat(body["created_at"])
        if body.get("comments_close_at"):
            body["comments_close_at"] = datetime.fromisoformat(body["comments_close_at"])
        async with self._db.write() as tx:
            existing = await store.get_post(tx.conn, body["id"])
            if existing is None:
                await store.insert_row(tx.conn, store.posts, body)
            else:  # removed by a reviewer, now restored
                await store.update_post(tx.conn, body["id"], deleted_at=None)
            await self._governance.audit(
                tx,
                actor_id=None,
                tag="moments:post:restore",
                target_type="post",
                target_id=body["id"],
            )
        return str(body["id"])

    async def restore_comment(self, comment_id: str) -> str | None:
        """Bring back a comment a reviewer removed, when an appeal reverses that."""
        async with self._db.write() as tx:
            comment = await store.get_comment(tx.conn, comment_id)
            if comment is None:
                return None
            await store.restore_comment(tx.conn, comment_id)
            await self._governance.audit(
                tx,
                actor_id=None,
                tag="moments:comment:restore",
                target_type="comment",
                target_id=comment_id,
            )
        return comment_id

    async def _audience(
        self, conn: Conn, author_id: str, data: AudienceIn, friends: set[str]
    ) -> Audience:
        own_labels = await contacts_store.owned_label_ids(conn, author_id, data.labels)
        unknown = set(data.labels) - own_labels
        if unknown:
            raise InvalidInput("Unknown label in the audience.", details={"field": "labels"})
        strangers = set(data.accounts) - friends
        if strangers:
            raise InvalidInput("An audience names friends only.", details={"field": "accounts"})
        members = await store.label_members(conn, author_id, data.labels)
        return resolve_audience(
            data.kind,
            data.labels,
            data.accounts,
            data.mode,
            {k: frozenset(v) for k, v in members.items()},
        )

    async def _own_images(
        self, conn: Conn, owner_id: str, ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        if len(set(ids)) != len(ids):
            raise InvalidInput("An image appears twice.", details={"field": "image_ids"})
        found = await store.get_images(conn, ids)
        images = []
        for image_id in ids:
            image = found.get(image_id)
            if image is None or image["owner_id"] != owner_id:
                raise InvalidInput("Unknown image.", details={"field": "image_ids"})
            images.append(
                {
                    "id": image_id,
                    "key": image["key"],
                    "thumb_key": image["thumb_key"],
                    "width": image["width"],
                    "height": image["height"],
                    "content_type": image["content_type"],
                }
            )
        return images

    async def upload_image(self, actor: Actor, data: bytes) -> dict[str, Any]:
        """Re-encode (no location, no camera metadata survives), resize, and make a
        thumbnail; say what was removed so the composer can tell the author."""
        self._governance.capabilities(actor.standing).require(Capability.POST)
        image = await asyncio.to_thread(
            sanitize_image, data, max_side=IMAGE_MAX_SIDE, max_bytes=IMAGE_MAX_BYTES
        )
        thumb = await asyncio.to_thread(
            sanitize_image, image.data, max_side=THUMB_SIDE, max_bytes=IMAGE_MAX_BYTES
        )
        await self._media.put(image.key, image.data)
        await self._media.put(thumb.key, thumb.data)
        image_id = new_id()
        row = {
            "id": image_id,
            "owner_id": actor.id,
            "key": image.key,
            "thumb_key": thumb.key,
            "content_type": image.content_type,
            "width": image.width,
            "height": image.height,
            "removed_metadata": list(image.removed_metadata),
            "created_at": self._clock.now(),
        }
        async with self._db.write() as tx:
            await store.insert_row(tx.conn, store.post_images, row)
        return {
            "id": image_id,
            "width": image.width,
            "height": image.height,
            "removed_metadata": list(image.removed_metadata),
        }

    async def image_bytes(
        self, actor: Actor, post_id: str, image_id: str, *, thumb: bool
    ) -> tuple[bytes, str]:
        """An image of a post the actor may see (and only then)."""
        row = await self._visible_post(actor, post_id)
        for image in row["images"]:
            if image["id"] == image_id:
                data = await self._media.get(image["thumb_key"] if thumb else image["key"])
                if data is None:
                    break
                return data, image["content_type"]
        raise NotFound("No such image.", code="image_not_found")

    async def change_audience(
        self, actor: Actor, post_id: str, data: AudienceUpdateIn
    ) -> dict[str, Any]:
        """Change who sees a post, now and on a schedule; a smaller audience applies at once
        everywhere (every route reads the audience in force)."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        now = self._clock.now()
        async with self._db.write() as tx:
            row = await self._own_post(tx.conn, actor.id, post_id)
            friends = await store.friends_of(tx.conn, actor.id)
            audience = await self._audience(tx.conn, actor.id, data.audience, friends)
            schedule = [
                {
                    "at": (now + timedelta(hours=c.after_hours)).isoformat(),
                    "audience": (
                        await self._audience(tx.conn, actor.id, c.audience, friends)
                    ).to_json(),
                }
                for c in data.schedule
            ]
            await store.update_post(
                tx.conn, post_id, audience=audience.to_json(), schedule=schedule or None
            )
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="moments:post:audience",
                target_type="post",
                target_id=post_id,
                before={"audience": row["audience"]},
                after={"audience": audience.to_json(), "schedule": schedule},
            )
            row.update(audience=audience.to_json(), schedule=schedule or None)
        return await self._present_one(actor.id, row)

    async def pending(self, actor: Actor) -> list[dict[str, Any]]:
        """The actor's own posts that governance held or blocked: only they see them, with
        the notice that says why."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        async with self._db.read() as conn:
            rows = await due_process_store.withheld_for_author(conn, actor.id, None)
        return [
            {
                "id": r["id"],
                "text": (r["body"] or {}).get("text", ""),
                "status": r["status"],
                "created_at": r["created_at"],
                "statement_id": r["statement_id"],
            }
            for r in rows
            if r["content_type"] == "post" and r["status"] in {"held", "blocked", "removed"}
        ]

    async def edit_post(self, actor: Actor, post_id: str, text: str) -> dict[str, Any]:
        self._governance.capabilities(actor.standing).require(Capability.POST)
        text = text.strip()
        now = self._clock.now()
        async with self._db.write() as tx:
            row = await self._own_post(tx.conn, actor.id, post_id)
            if not text and not row["images"]:
                raise InvalidInput("A post needs text or an image.", details={"field": "text"})
            decision = await self._governance.decide_in(
                tx,
                PolicyEvent(
                    EventKind.POST,
                    actor_id=actor.id,
                    subject_type="post",
                    subject_id=post_id,
                    text={"text": text},
                    context={"action": "edit", "content_type": "post", "content_id": post_id},
                ),
            )
            if decision.verdict in {Verdict.BLOCK, Verdict.HOLD}:
                raise blocked(decision)
            await store.update_post(
                tx.conn, post_id, text=text, edited_at=now, labels=list(decision.labels)
            )
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="moments:post:edit",
                target_type="post",
                target_id=post_id,
                before={"text": row["text"]},
                after={"text": text},
            )
            row.update(text=text, edited_at=now, labels=list(decision.labels))
        return await self._present_one(actor.id, row)

    async def delete_post(self, actor: Actor, post_id: str) -> None:
        self._governance.capabilities(actor.standing).require(Capability.READ)
        async with self._db.write() as tx:
            await self._own_post(tx.conn, actor.id, post_id)
            await store.update_post(tx.conn, post_id, deleted_at=self._clock.now())
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="moments:post:delete",
                target_type="post",
                target_id=post_id,
            )

    async def _own_post(self, conn: Conn, author_id: str, post_id: str) -> dict[str, Any]:
        if not is_valid_id(post_id):
            raise post_not_found()
        row = await store.get_post(conn, post_id)
        if row is None or row["author_id"] != author_id or row["deleted_at"] is not None:
            raise post_not_found()
        return row

    async def _remind(self, tx: Tx, post: Post, reminded: Sequence[str]) -> None:
        """Remind friends who are in the audience (nobody learns of a post they cannot see)."""
        if not reminded:
            return
        world_cache: dict[str, bool] = {}
        for friend_id in reminded[:MAX_REMINDS]:
            world = await self._world(tx.conn, friend_id, [post.author_id])
            world_cache[friend_id] = can_see(
                post, friend_id, world.context(post.author_id), self._clock.now()
            )
        await self._notify(
            tx,
            [f for f, ok in world_cache.items() if ok],
            kind="remind",
            post_id=post.id,
            actor_id=post.author_id,
        )

    # -- reading -------------------------------------------------------------------------------

    async def feed(
        self, actor: Actor, *, before: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        """The viewer's timeline: posts they may see, newest first."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        size = clamp_limit(limit)
        if before is not None and not is_valid_id(before):
            raise InvalidInput("Not a valid cursor.", details={"field": "before"})
        async with self._db.read() as conn:
            world = await self._world(conn, actor.id)
            by_since = self._eligible(world, world.friends | {actor.id}, feed=True)
            rows = await self._page(conn, world, by_since, before, size, feed=True)
            items = await self._present(conn, actor.id, world, rows[:size])
        return {"items": items, "next_cursor": rows[size - 1]["id"] if len(rows) > size else None}

    async def _page(
        self,
        conn: Conn,
        world: _World,
        by_since: dict[datetime | None, list[str]],
        before: str | None,
        size: int,
        *,
        feed: bool,
    ) -> list[dict[str, Any]]:
        """Up to ``size + 1`` visible posts, reading candidates in batches until enough pass."""
        now = self._clock.now()
        visible: list[dict[str, Any]] = []
        cursor = before
        batch = size * OVERFETCH + 1
        while len(visible) <= size:
            rows = await store.candidate_posts(conn, by_since, before_id=cursor, limit=batch)
            for row in rows:
                post = post_record(row)
                context = world.context(post.author_id)
                ok = (
                    in_feed(post, world.viewer_id, context, now)
                    if feed
                    else can_see(post, world.viewer_id, context, now)
                )
                if ok:
                    visible.append(row)
            if len(rows) < batch:
                break
            cursor = rows[-1]["id"]
            batch = min(batch * 2, 2_000)
        return visible[: size + 1]

    async def profile(
        self, actor: Actor, author_id: str, *, before: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        """One friend's posts as the actor may see them (within the author's window)."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        if not is_valid_id(author_id):
            raise NotFound("No such account.", code="account_not_found")
        size = clamp_limit(limit)
        async with self._db.read() as conn:
            world = await self._world(conn, actor.id, [author_id])
            by_since = self._eligible(world, [author_id], feed=False)
            rows = await self._page(conn, world, by_since, before, size, feed=False)
            items = await self._present(conn, actor.id, world, rows[:size])
        return {"items": items, "next_cursor": rows[size - 1]["id"] if len(rows) > size else None}

    async def preview_as(
        self, actor: Actor, friend_id: str, *, limit: int | None = None
    ) -> dict[str, Any]:
        """The author's own posts exactly as ``friend_id`` would see them now."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        async with self._db.read() as conn:
            if not is_valid_id(friend_id) or not await store.are_friends(conn, actor.id, friend_id):
                raise NotFound("No such friend.", code="friend_not_found")
            world = await self._world(conn, friend_id, [actor.id])
            size = clamp_limit(limit)
            by_since = self._eligible(world, [actor.id], feed=False)
            rows = await self._page(conn, world, by_since, None, size, feed=False)
            items = await self._present(conn, friend_id, world, rows[:size])
        return {"items": items, "as": friend_id}

    async def post(self, actor: Actor, post_id: str) -> dict[str, Any]:
        row = await self._visible_post(actor, post_id)
        async with self._db.read() as conn:
            world = await self._world(conn, actor.id, [row["author_id"]])
            [item] = await self._present(conn, actor.id, world, [row])
        return item

    async def _visible_post(self, actor: Actor, post_id: str) -> dict[str, Any]:
        self._governance.capabilities(actor.standing).require(Capability.READ)
        if not is_valid_id(post_id):
            raise post_not_found()
        async with self._db.read() as conn:
            row = await store.get_post(conn, post_id)
            if row is None:
                raise post_not_found()
            world = await self._world(conn, actor.id, [row["author_id"]])
        if not can_see(
            post_record(row), actor.id, world.context(row["author_id"]), self._clock.now()
        ):
            raise post_not_found()
        return row

    async def search(
        self, actor: Actor, query: str, *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Posts the actor may see whose text contains ``query``."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        query = query.strip()
        if not 1 <= len(query) <= 100:
            raise InvalidInput("Search for 1 to 100 characters.", details={"field": "q"})
        size = clamp_limit(limit)
        now = self._clock.now()
        async with self._db.read() as conn:
            world = await self._world(conn, actor.id)
            by_since = self._eligible(world, world.friends | {actor.id}, feed=False)
            rows = await store.posts_matching(conn, by_since, query, limit=size * OVERFETCH)
            rows = [
                r
                for r in rows
                if can_see(post_record(r), actor.id, world.context(r["author_id"]), now)
            ][:size]
            return await self._present(conn, actor.id, world, rows)

    async def _present_one(self, viewer_id: str, row: dict[str, Any]) -> dict[str, Any]:
        async with self._db.read() as conn:
            world = await self._world(conn, viewer_id, [row["author_id"]])
            [item] = await self._present(conn, viewer_id, world, [row])
        return item

    async def _present(
        self, conn: Conn, viewer_id: str, world: _World, rows: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Posts with the likes and comments the viewer may see (and counts of only those)."""
        ids = [r["id"] for r in rows]
        comments = await store.comments_of(conn, ids)
        likes = await store.likes_of(conn, ids)
        shown_to = frozenset(world.friends | {viewer_id})
        by_post: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        likes_by: dict[str, list[str]] = {i: [] for i in ids}
        authors = {r["id"]: r["author_id"] for r in rows}
        for like in likes:
            if sees_interaction(
                viewer_id=viewer_id,
                post_author_id=authors[like["post_id"]],
                actor_id=like["account_id"],
                viewer_friends=shown_to,
            ):
                likes_by[like["post_id"]].append(like["account_id"])
        visible_comment_ids: set[str] = set()
        for comment in comments:
            author = authors[comment["post_id"]]
            if not sees_interaction(
                viewer_id=viewer_id,
                post_author_id=author,
                actor_id=comment["author_id"],
                viewer_friends=shown_to,
            ):
                continue
            if comment["reply_to_id"] and comment["reply_to_id"] not in visible_comment_ids:
                continue  # a reply to a comment the viewer cannot see
            visible_comment_ids.add(comment["id"])
            by_post[comment["post_id"]].append(
                {
                    "id": comment["id"],
                    "author_id": comment["author_id"],
                    "text": comment["text"],
                    "reply_to_id": comment["reply_to_id"],
                    "created_at": comment["created_at"],
                }
            )
        now = self._clock.now()
        out = []
        for row in rows:
            mine = row["author_id"] == viewer_id
            audience = Audience.from_json(row["audience"])
            item: dict[str, Any] = {
                "id": row["id"],
                "author_id": row["author_id"],
                "created_at": row["created_at"],
                "text": row["text"],
                "images": [
                    {"id": i["id"], "width": i["width"], "height": i["height"]}
                    for i in row["images"]
                ],
                "location": row["location"],
                "labels": row["labels"],
                "edited": row["edited_at"] is not None,
                "edited_at": row["edited_at"],
                "likes": likes_by[row["id"]],
                "like_count": len(likes_by[row["id"]]),
                "liked": viewer_id in likes_by[row["id"]],
                "comments": by_post[row["id"]],
                "comment_count": len(by_post[row["id"]]),
                "comments_open": comments_open(post_record(row), now),
            }
            if mine:  # only the author learns how the post is shared
                item["audience"] = {
                    "kind": audience.kind.value,
                    "labels": sorted(audience.labels),
                    "accounts": sorted(audience.accounts),
                    "mode": audience.mode.value,
                }
                item["schedule"] = row["schedule"] or []
                item["remind"] = row["remind"]
            out.append(item)
        return out

    # -- likes and comments ----------------------------------------------------------------

    async def like(self, actor: Actor, post_id: str, *, on: bool = True) -> dict[str, Any]:
        self._governance.capabilities(actor.standing).require(Capability.COMMENT)
        row = await self._visible_post(actor, post_id)
        event = PolicyEvent(
            EventKind.COMMENT,
            actor_id=actor.id,
            subject_type="post",
            subject_id=post_id,
            context={
                "action": "like" if on else "unlike",
                "content_type": "post",
                "content_id": post_id,
            },
        )
        async with self._db.write() as tx:
            decision = await self._governance.decide_in(tx, event)
            if decision.verdict in {Verdict.BLOCK, Verdict.HOLD}:
                raise blocked(decision)
            now = self._clock.now()
            if on:
                added = await store.add_like(tx.conn, post_id, actor.id, now)
                if added and row["author_id"] != actor.id:
                    await self._notify(
                        tx, [row["author_id"]], kind="like", post_id=post_id, actor_id=actor.id
                    )
            else:
                await store.remove_like(tx.conn, post_id, actor.id)
        return await self.post(actor, post_id)

    async def comment(self, actor: Actor, post_id: str, data: CommentIn) -> dict[str, Any]:
        self._governance.capabilities(actor.standing).require(Capability.COMMENT)
        row = await self._visible_post(actor, post_id)
        now = self._clock.now()
        if not comments_open(post_record(row), now):
            raise CommentsClosed
        text = data.text.strip()
        if not text:
            raise InvalidInput("A comment needs text.", details={"field": "text"})
        comment_id = new_id()
        async with self._db.write() as tx:
            replied: dict[str, Any] | None = None
            if data.reply_to_id is not None:
                replied = (
                    await store.get_comment(tx.conn, data.reply_to_id)
                    if is_valid_id(data.reply_to_id)
                    else None
                )
                world = await self._world(tx.conn, actor.id, [row["author_id"]])
                if (
                    replied is None
                    or replied["post_id"] != post_id
                    or replied["deleted_at"] is not None
                    or not sees_interaction(
                        viewer_id=actor.id,
                        post_author_id=row["author_id"],
                        actor_id=replied["author_id"],
                        viewer_friends=frozenset(world.friends | {actor.id}),
                    )
                ):
                    raise comment_not_found()
            decision = await self._governance.decide_in(
                tx,
                PolicyEvent(
                    EventKind.COMMENT,
                    actor_id=actor.id,
                    subject_type="post",
                    subject_id=post_id,
                    text={"text": text},
                    context={
                        "action": "comment",
                        "content_type": "comment",
                        "content_id": comment_id,
                    },
                ),
            )
            if decision.verdict in {Verdict.BLOCK, Verdict.HOLD}:
                raise blocked(decision)
            await store.insert_row(
                tx.conn,
                store.post_comments,
                {
                    "id": comment_id,
                    "post_id": post_id,
                    "author_id": actor.id,
                    "text": text,
                    "reply_to_id": data.reply_to_id,
                    "created_at": now,
                },
            )
            recipients = []
            if row["author_id"] != actor.id:
                recipients.append((row["author_id"], "comment"))
            if replied is not None and replied["author_id"] not in (actor.id, row["author_id"]):
                recipients.append((replied["author_id"], "reply"))
            for recipient, kind in recipients:
                if await self._sees_comment(tx.conn, recipient, row, actor.id):
                    await self._notify(
                        tx,
                        [recipient],
                        kind=kind,
                        post_id=post_id,
                        actor_id=actor.id,
                        comment_id=comment_id,
                    )
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="moments:comment:create",
                target_type="post",
                target_id=post_id,
                after={"comment_id": comment_id},
            )
        return await self.post(actor, post_id)

    async def _sees_comment(
        self, conn: Conn, viewer_id: str, row: dict[str, Any], commenter_id: str
    ) -> bool:
        world = await self._world(conn, viewer_id, [row["author_id"], commenter_id])
        if not can_see(
            post_record(row), viewer_id, world.context(row["author_id"]), self._clock.now()
        ):
            return False
        return sees_interaction(
            viewer_id=viewer_id,
            post_author_id=row["author_id"],
            actor_id=commenter_id,
            viewer_friends=frozenset(world.friends | {viewer_id}),
        )

    async def delete_comment(self, actor: Actor, post_id: str, comment_id: str) -> None:
        """The commenter deletes their comment, or the post's author removes it (the commenter
        is told)."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        row = await self._visible_post(actor, post_id)
        async with self._db.write() as tx:
            comment = (
                await store.get_comment(tx.conn, comment_id) if is_valid_id(comment_id) else None
            )
            if (
                comment is None
                or comment["post_id"] != post_id
                or comment["deleted_at"] is not None
            ):
                raise comment_not_found()
            if actor.id not in (comment["author_id"], row["author_id"]):
                raise comment_not_found()
            await store.delete_comment(tx.conn, comment_id, actor.id, self._clock.now())
            if actor.id != comment["author_id"]:
                await self._notify(
                    tx,
                    [comment["author_id"]],
                    kind="comment_removed",
                    post_id=post_id,
                    actor_id=actor.id,
                    comment_id=comment_id,
                )
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="moments:comment:delete",
                target_type="comment",
                target_id=comment_id,
            )

    # -- notifications -------------------------------------------------------------------------

    async def _notify(
        self,
        tx: Tx,
        recipients: Sequence[str],
        *,
        kind: str,
        post_id: str,
        actor_id: str,
        comment_id: str | None = None,
    ) -> None:
        now = self._clock.now()
        drafts = []
        for recipient in recipients:
            notification = {
                "id": new_id(),
                "account_id": recipient,
                "kind": kind,
                "post_id": post_id,
                "actor_id": actor_id,
                "comment_id": comment_id,
                "created_at": now,
            }
            await store.insert_row(tx.conn, store.moments_notifications, notification)
            drafts.append(
                EventDraft(
                    kind=NOTIFICATION_EVENT,
                    account_id=recipient,
                    payload={k: v for k, v in notification.items() if k != "account_id"},
                )
            )
        if drafts:
            await self._realtime.append(tx, drafts)

    async def notifications(
        self, actor: Actor, *, before: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Notifications still true to the rules now: a post whose audience shrank, a comment
        deleted or by someone no longer a friend, drop out."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        size = clamp_limit(limit)
        now = self._clock.now()
        async with self._db.read() as conn:
            rows = await store.notifications_for(
                conn,
                actor.id,
                before_id=before if before and is_valid_id(before) else None,
                limit=size * OVERFETCH,
            )
            world = await self._world(conn, actor.id)
            out = []
            for n in rows:
                post = await store.get_post(conn, n["post_id"])
                if post is None or not can_see(
                    post_record(post), actor.id, world.context(post["author_id"]), now
                ):
                    continue
                if n["kind"] in {"like", "comment", "reply"} and not sees_interaction(
                    viewer_id=actor.id,
                    post_author_id=post["author_id"],
                    actor_id=n["actor_id"],
                    viewer_friends=frozenset(world.friends | {actor.id}),
                ):
                    continue
                if n["kind"] in {"comment", "reply"}:
                    comment = await store.get_comment(conn, n["comment_id"])
                    if comment is None or comment["deleted_at"] is not None:
                        continue
                out.append({k: v for k, v in n.items() if k != "account_id"})
                if len(out) == size:
                    break
        return out

    # -- settings and the check before posting ---------------------------------------------

    async def settings(self, actor: Actor) -> dict[str, Any]:
        async with self._db.read() as conn:
            row = await store.get_settings(conn, actor.id)
        return {
            "window": row["window"] if row else "all",
            "sensitive_labels": row["sensitive_labels"] if row else [],
        }

    async def update_settings(self, actor: Actor, data: MomentsSettingsIn) -> dict[str, Any]:
        self._governance.capabilities(actor.standing).require(Capability.READ)
        values: dict[str, Any] = {}
        async with self._db.write() as tx:
            if data.window is not None:
                values["window"] = data.window.value
            if data.sensitive_labels is not None:
                own = await contacts_store.owned_label_ids(tx.conn, actor.id, data.sensitive_labels)
                if set(data.sensitive_labels) - own:
                    raise InvalidInput("Unknown label.", details={"field": "sensitive_labels"})
                values["sensitive_labels"] = sorted(set(data.sensitive_labels))
            await store.put_settings(tx.conn, actor.id, values)
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="moments:settings:update",
                target_type="account",
                target_id=actor.id,
                after=values,
            )
        return await self.settings(actor)

    async def permissions(
        self, actor: Actor, friend_ids: Sequence[str] | None = None
    ) -> dict[str, dict[str, bool]]:
        """What the actor set about each friend (all friends when ``friend_ids`` is None)."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        async with self._db.read() as conn:
            wanted = list(friend_ids) if friend_ids is not None else None
            if wanted is None:
                wanted = sorted(await store.friends_of(conn, actor.id))
            _theirs, mine = await store.permissions_between(conn, actor.id, wanted)
        keys = ("hide_my_moments", "hide_their_moments", "chat_only")
        return {f: {k: bool(mine.get(f, {}).get(k, False)) for k in keys} for f in wanted}

    async def own_image(self, actor: Actor, image_id: str, *, thumb: bool) -> tuple[bytes, str]:
        """An image the actor uploaded (posted or not yet): for the composer's preview."""
        if not is_valid_id(image_id):
            raise NotFound("No such image.", code="image_not_found")
        async with self._db.read() as conn:
            image = (await store.get_images(conn, [image_id])).get(image_id)
        if image is None or image["owner_id"] != actor.id:
            raise NotFound("No such image.", code="image_not_found")
        data = await self._media.get(image["thumb_key"] if thumb else image["key"])
        if data is None:
            raise NotFound("No such image.", code="image_not_found")
        return data, image["content_type"]

    async def set_permissions(
        self, actor: Actor, friend_id: str, data: PermissionsIn
    ) -> dict[str, Any]:
        self._governance.capabilities(actor.standing).require(Capability.READ)
        values = {k: v for k, v in data.model_dump().items() if v is not None}
        async with self._db.write() as tx:
            if not is_valid_id(friend_id) or not await store.are_friends(
                tx.conn, actor.id, friend_id
            ):
                raise NotFound("No such friend.", code="friend_not_found")
            await store.put_permissions(tx.conn, actor.id, friend_id, values)
            await self._governance.audit(
                tx,
                actor_id=actor.id,
                tag="moments:permissions:update",
                target_type="account",
                target_id=friend_id,
                after=values,
            )
            _theirs, mine = await store.permissions_between(tx.conn, actor.id, [friend_id])
        current = mine.get(friend_id, {})
        return {
            k: bool(current.get(k, False))
            for k in ("hide_my_moments", "hide_their_moments", "chat_only")
        }

    async def check(self, actor: Actor, data: CheckIn) -> dict[str, Any]:
        """What the composer shows before posting; it never blocks. How many people will see
        the post, which labels it includes, a warning for labels marked sensitive, personal
        data found in the text, and what metadata was removed from the images."""
        self._governance.capabilities(actor.standing).require(Capability.READ)
        async with self._db.read() as conn:
            friends = await store.friends_of(conn, actor.id)
            audience = await self._audience(conn, actor.id, data.audience, friends)
            own_labels = await contacts_store.list_labels(conn, actor.id)
            members = await store.label_members(conn, actor.id, [lb.id for lb in own_labels])
            names = {lb.id: lb.name for lb in own_labels}
            settings_row = await store.get_settings(conn, actor.id)
            theirs, mine = await store.permissions_between(conn, actor.id)
            images = await store.get_images(conn, data.image_ids)
        frozen_members = {k: frozenset(v) for k, v in members.items()}
        reached = audience_size(audience, frozenset(friends), frozen_members)
        # Friends the author keeps out of their Moments do not see it either.
        excluded = {f for f, p in mine.items() if p.get("hide_my_moments") or p.get("chat_only")}
        excluded |= {f for f, p in theirs.items() if p.get("chat_only")}
        reached = reached - excluded
        included = sorted(label for label, people in frozen_members.items() if people & reached)
        sensitive = set(settings_row["sensitive_labels"]) if settings_row else set()
        warnings: list[dict[str, Any]] = []
        for label in sorted(set(included) & sensitive):
            warnings.append(
                {
                    "kind": "sensitive_label",
                    "label_id": label,
                    "label": names.get(label, ""),
                    "message": f"People in \u201c{names.get(label, '')}\u201d will see this post.",
                }
            )
        for hit in detect_pii(data.text):
            warnings.append(
                {
                    "kind": "personal_data",
                    "pii": hit.kind.value,
                    "masked": hit.masked,
                    "start": hit.start,
                    "end": hit.end,
                    "message": "The text contains personal data; check before sharing.",
                }
            )
        for image_id in data.image_ids:
            image = images.get(image_id)
            if image is not None and image["owner_id"] == actor.id and image["removed_metadata"]:
                warnings.append(
                    {
                        "kind": "image_metadata_removed",
                        "image_id": image_id,
                        "removed": image["removed_metadata"],
                        "message": "Location and camera details were removed from this image.",
                    }
                )
        return {
            "audience_count": len(reached),
            "labels": [{"id": label, "name": names.get(label, "")} for label in included],
            "warnings": warnings,
        }

"""Posts and comments as due process sees them: found for a reporter only when the reporter
may see them, shown in context, taken down and restored."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from courtyard.core.db import Conn, Tx
from courtyard.core.ids import is_valid_id
from courtyard.governance.due_process import ContentRef
from courtyard.moments import store
from courtyard.moments.model import can_see, sees_interaction

if TYPE_CHECKING:
    from courtyard.moments.service import MomentsService


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


class PostModeration:
    """The ``ContentHandler`` for posts."""

    def __init__(self, moments: MomentsService) -> None:
        self._moments = moments

    async def _visible(self, conn: Conn, viewer_id: str, post_id: str) -> dict[str, Any] | None:
        from courtyard.moments.service import post_record

        if not is_valid_id(post_id):
            return None
        row = await store.get_post(conn, post_id)
        if row is None:
            return None
        world = await self._moments._world(conn, viewer_id, [row["author_id"]])
        now = self._moments._clock.now()
        if not can_see(post_record(row), viewer_id, world.context(row["author_id"]), now):
            return None
        return row

    async def find(self, conn: Conn, viewer_id: str, content_id: str) -> ContentRef | None:
        row = await self._visible(conn, viewer_id, content_id)
        if row is None:
            return None
        return ContentRef("post", row["id"], row["author_id"], None, row["text"])

    async def context(
        self, conn: Conn, viewer_id: str, content_id: str, around: int
    ) -> list[dict[str, Any]]:
        row = await self._visible(conn, viewer_id, content_id)
        if row is None:
            return []
        world = await self._moments._world(conn, viewer_id, [row["author_id"]])
        [item] = await self._moments._present(conn, viewer_id, world, [row])
        out = [
            {
                "id": row["id"],
                "sender_id": row["author_id"],
                "text": row["text"],
                "sent_at": row["created_at"],
                "reported": True,
            }
        ]
        out += [
            {
                "id": c["id"],
                "sender_id": c["author_id"],
                "text": c["text"],
                "sent_at": c["created_at"],
                "reported": False,
            }
            for c in item["comments"][: around * 2]
        ]
        return out

    async def remove(self, tx: Tx, content_id: str) -> dict[str, Any] | None:
        row = await store.get_post(tx.conn, content_id)
        if row is None or row["deleted_at"] is not None:
            return None
        await store.update_post(tx.conn, content_id, deleted_at=self._moments._clock.now())
        return _jsonable(row) | {"deleted_at": None}

    async def deliver(self, withheld: dict[str, Any]) -> str | None:
        return await self._moments.restore_post(withheld)


class CommentModeration:
    """The ``ContentHandler`` for comments."""

    def __init__(self, moments: MomentsService) -> None:
        self._moments = moments
        self._posts = PostModeration(moments)

    async def find(self, conn: Conn, viewer_id: str, content_id: str) -> ContentRef | None:
        if not is_valid_id(content_id):
            return None
        comment = await store.get_comment(conn, content_id)
        if comment is None or comment["deleted_at"] is not None:
            return None
        post = await self._posts._visible(conn, viewer_id, comment["post_id"])
        if post is None:
            return None
        friends = await store.friends_of(conn, viewer_id)
        if not sees_interaction(
            viewer_id=viewer_id,
            post_author_id=post["author_id"],
            actor_id=comment["author_id"],
            viewer_friends=frozenset(friends | {viewer_id}),
        ):
            return None
        return ContentRef("comment", content_id, comment["author_id"], None, comment["text"])

    async def context(
        self, conn: Conn, viewer_id: str, content_id: str, around: int
    ) -> list[dict[str, Any]]:
        comment = await store.get_comment(conn, content_id) if is_valid_id(content_id) else None
        if comment is None:
            return []
        items = await self._posts.context(conn, viewer_id, comment["post_id"], around)
        return [dict(i, reported=i["id"] == content_id) for i in items]

    async def remove(self, tx: Tx, content_id: str) -> dict[str, Any] | None:
        comment = await store.get_comment(tx.conn, content_id)
        if comment is None or comment["deleted_at"] is not None:
            return None
        await store.delete_comment(tx.conn, content_id, "moderation", self._moments._clock.now())
        return _jsonable(comment)

    async def deliver(self, withheld: dict[str, Any]) -> str | None:
        return await self._moments.restore_comment(withheld["id"])

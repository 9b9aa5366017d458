"""Messages and groups as due process sees them: found for a reporter, shown in context to a
reviewer, taken down, and delivered again when a decision is reversed; a group put in the
platform's read-only mode and released from it.

Every read goes through the same history ranges as the client's own reads, so a reporter can
only report, and a reviewer only sees as context, what that reporter could read.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from courtyard.chats import events, store
from courtyard.chats.model import ConversationKind, ReadOnly
from courtyard.core.db import Conn, Tx
from courtyard.core.ids import new_id
from courtyard.governance import due_process_store
from courtyard.governance.due_process import ContentRef

if TYPE_CHECKING:
    from courtyard.chats.service import ChatsService


class MessageModeration:
    """The ``ContentHandler`` for chat messages."""

    def __init__(self, chats: ChatsService) -> None:
        self._chats = chats

    async def find(self, conn: Conn, viewer_id: str, content_id: str) -> ContentRef | None:
        stored = await store.get_message(conn, content_id)
        if stored is None or stored.message.recalled_at is not None:
            return None
        if not await self._chats._can_read(conn, viewer_id, stored):
            return None
        m = stored.message
        return ContentRef("message", m.id, m.sender_id, m.conversation_id, m.text)

    async def context(
        self, conn: Conn, viewer_id: str, content_id: str, around: int
    ) -> list[dict[str, Any]]:
        """Up to ``around`` messages either side, as ``viewer_id`` can read them. For withheld
        content (never published), the messages its author saw before it."""
        stored = await store.get_message(conn, content_id)
        if stored is not None:
            conversation_id, seq = stored.message.conversation_id, stored.seq
        else:
            withheld = await due_process_store.get_row(
                conn, due_process_store.withheld_content, content_id
            )
            if withheld is None or withheld["conversation_id"] is None:
                return []
            conversation_id = withheld["conversation_id"]
            seq = await store.last_seq(conn, conversation_id) + 1
        ranges = await store.history_ranges_of(conn, conversation_id, viewer_id)
        before = await store.history(
            conn,
            conversation_id,
            viewer_id,
            ranges,
            after_seq=max(0, seq - around - 1),
            before_seq=seq,
            limit=around,
            newest_first=False,
        )
        after = await store.history(
            conn,
            conversation_id,
            viewer_id,
            ranges,
            after_seq=seq,
            before_seq=None,
            limit=around,
            newest_first=False,
        )
        middle = [stored] if stored is not None else []
        return [
            {
                "id": m.message.id,
                "seq": m.seq,
                "sender_id": m.message.sender_id,
                "text": m.message.text,
                "sent_at": m.message.sent_at,
                "reported": m.message.id == content_id,
            }
            for m in (*before, *middle, *after)
        ]

    async def remove(self, tx: Tx, content_id: str) -> dict[str, Any] | None:
        """Take a message down for everyone: the conversation shows it was removed by
        moderation, the replayed event no longer carries its text, and its body is kept so a
        reversal can deliver it again."""
        conn = tx.conn
        stored = await store.get_message(conn, content_id)
        if stored is None or stored.message.recalled_at is not None:
            return None
        m = stored.message
        now = self._chats._clock.now()
        await store.mark_recalled(conn, content_id, now)
        removed = replace(stored, message=replace(m, text="", attachment_ids=(), recalled_at=now))
        payload = self._chats._stored_payload(removed)
        await self._chats._realtime.redact(tx, stored.stream_id, payload)
        await self._chats._realtime.append(
            tx,
            [
                events.to_conversation(
                    events.MESSAGE_RECALLED,
                    m.conversation_id,
                    {"message_id": m.id, "seq": stored.seq, "by": "moderation"},
                )
            ],
        )
        return {
            "text": m.text,
            "conversation_id": m.conversation_id,
            "client_id": stored.client_id,
            "reply_to_id": m.reply_to_id,
            "attachment_ids": list(m.attachment_ids),
            "hops": m.hops,
            "origin_id": m.origin_id,
            "forwarded_from": None,
        }

    async def deliver(self, withheld: dict[str, Any]) -> str | None:
        """Send withheld content as its author's message, under its own id when it was never
        published (a removed message comes back as a new one)."""
        from courtyard.chats.service import SendRequest

        body = withheld["body"]
        fresh = withheld["status"] == "removed"
        released_id = new_id() if fresh else withheld["id"]
        client_id = f"restored-{released_id}" if fresh else withheld["client_id"]
        payload = await self._chats._sends.submit(
            SendRequest(
                sender_id=withheld["author_id"],
                conversation_id=withheld["conversation_id"] or body["conversation_id"],
                client_id=client_id or f"restored-{released_id}",
                text=body.get("text", ""),
                reply_to_id=body.get("reply_to_id"),
                attachment_ids=tuple(body.get("attachment_ids") or ()),
                hops=int(body.get("hops") or 0),
                origin_id=body.get("origin_id"),
                released_id=released_id,
            )
        )
        return str(payload["id"])


class GroupModeration:
    """Groups as due process sees them: the ``ContentHandler`` for target type ``group`` (a
    member reports the whole group; a reviewer reads its recent messages as the reporter could)
    and its ``TargetRestrictor``, which puts the group in the platform's read-only mode and
    lifts it when the statement is reversed."""

    def __init__(self, chats: ChatsService) -> None:
        self._chats = chats

    async def find(self, conn: Conn, viewer_id: str, content_id: str) -> ContentRef | None:
        """A group the viewer is a member of now; its "author" is the owner, who is
        answerable for it and receives the statement of any measure on it."""
        conversation = await store.get_conversation(conn, content_id)
        if (
            conversation is None
            or conversation.kind is not ConversationKind.GROUP
            or conversation.owner_id is None
            or await store.get_member(conn, content_id, viewer_id) is None
        ):
            return None
        return ContentRef(
            "group", content_id, conversation.owner_id, content_id, conversation.name or ""
        )

    async def context(
        self, conn: Conn, viewer_id: str, content_id: str, around: int
    ) -> list[dict[str, Any]]:
        """The group's last ``around * 2`` messages the viewer can read, oldest first."""
        ranges = await store.history_ranges_of(conn, content_id, viewer_id)
        latest = await store.history(
            conn,
            content_id,
            viewer_id,
            ranges,
            after_seq=0,
            before_seq=None,
            limit=max(0, around) * 2,
            newest_first=True,
        )
        return [
            {
                "id": m.message.id,
                "seq": m.seq,
                "sender_id": m.message.sender_id,
                "text": m.message.text,
                "sent_at": m.message.sent_at,
                "reported": False,
            }
            for m in reversed(latest)
        ]

    async def remove(self, tx: Tx, content_id: str) -> dict[str, Any] | None:
        """Groups are not taken down this way (read-only mode is the measure on a group)."""
        return None

    async def deliver(self, withheld: dict[str, Any]) -> str | None:
        return None

    async def restrict(self, tx: Tx, target_id: str, statement: dict[str, Any]) -> None:
        """Read-only mode from the statement's start to its end (None: until lifted)."""
        await self._chats.read_only_in(
            tx, target_id, _read_only_of(statement), by=statement.get("decided_by")
        )

    async def lift(self, tx: Tx, target_id: str) -> None:
        """End read-only mode after a reversal (due process marks the restriction lifted
        first). Another read-only measure on the group still in force takes over."""
        now = self._chats._clock.now()
        replacement = None
        restriction = await due_process_store.target_restriction(tx.conn, "group", target_id)
        if restriction is not None and (
            restriction["ends_at"] is None or restriction["ends_at"] > now
        ):
            statement = await due_process_store.get_row(
                tx.conn, due_process_store.statements, restriction["statement_id"]
            )
            if statement is not None and statement["status"] != "reversed":
                replacement = _read_only_of(statement)
        await self._chats.lift_read_only_in(tx, target_id, replacement)


def _read_only_of(statement: dict[str, Any]) -> ReadOnly:
    return ReadOnly(
        statement_id=statement["id"],
        since=statement["starts_at"],
        until=statement["ends_at"],
        reason=statement["reason"],
    )

"""The chats pillar's realtime events (kinds and payloads; catalogue in docs/events.md).

Conversation events go to the conversation's audience at the moment they are written;
account events (cards, read markers, settings) go to one account's devices.
"""

from __future__ import annotations

from typing import Any

from courtyard.realtime.model import EventDraft

MESSAGE = "chat.message"
MESSAGE_RECALLED = "chat.message.recalled"
MESSAGE_HIDDEN = "chat.message.hidden"
# To a message's author when an owner or admin removed it for everyone.
MESSAGE_REMOVED_BY_ADMIN = "chat.message.removed_by_admin"
READ = "chat.read"
CONVERSATION_CREATED = "chat.conversation.created"
CONVERSATION_UPDATED = "chat.conversation.updated"
MEMBER_JOINED = "chat.member.joined"
MEMBER_LEFT = "chat.member.left"
MEMBER_REMOVED = "chat.member.removed"
MEMBER_UPDATED = "chat.member.updated"
# The platform put the group in read-only mode, or ended it (``read_only`` is then null).
GROUP_READ_ONLY = "chat.group.read_only"
INVITATION = "chat.invitation"
INVITATION_CLOSED = "chat.invitation.closed"
SETTINGS = "chat.settings"
TYPING = "typing"  # an ephemeral frame type, never stored


def to_conversation(
    kind: str, conversation_id: str, data: dict[str, Any], *, audience_changed: bool = False
) -> EventDraft:
    return EventDraft(
        kind=kind,
        payload={"conversation_id": conversation_id, **data},
        conversation_id=conversation_id,
        audience_changed=audience_changed,
    )


def to_account(kind: str, account_id: str, data: dict[str, Any]) -> EventDraft:
    return EventDraft(kind=kind, payload=data, account_id=account_id)

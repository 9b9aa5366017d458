"""Realtime payloads of the contacts pillar, appended to the event stream for the recipient
(``type`` becomes the event's kind, the rest its data). A block is never announced to the
blocked account."""

from __future__ import annotations

from typing import Any

from courtyard.contacts.model import FriendOut, FriendRequestOut

REQUEST_RECEIVED = "contacts.request.received"
REQUEST_ACCEPTED = "contacts.request.accepted"
REQUEST_DECLINED = "contacts.request.declined"
REQUEST_CANCELLED = "contacts.request.cancelled"
FRIEND_REMOVED = "contacts.friend.removed"


def request_received(request: FriendRequestOut) -> dict[str, Any]:
    """To the recipient: a new request (as they see it) for their incoming list."""
    return {"type": REQUEST_RECEIVED, "request": request.model_dump(mode="json")}


def request_accepted(request_id: str, friend: FriendOut) -> dict[str, Any]:
    """To the sender: their request was accepted; ``friend`` is the new entry in their list."""
    return {
        "type": REQUEST_ACCEPTED,
        "request_id": request_id,
        "friend": friend.model_dump(mode="json"),
    }


def request_declined(request_id: str) -> dict[str, Any]:
    """To the sender (an ignored request, by contrast, is never announced)."""
    return {"type": REQUEST_DECLINED, "request_id": request_id}


def request_cancelled(request_id: str) -> dict[str, Any]:
    """To the recipient: a pending request in their incoming list was withdrawn."""
    return {"type": REQUEST_CANCELLED, "request_id": request_id}


def friend_removed(account_id: str) -> dict[str, Any]:
    """To the other side of a removed friendship: ``account_id`` left their friends list."""
    return {"type": FRIEND_REMOVED, "account_id": account_id}

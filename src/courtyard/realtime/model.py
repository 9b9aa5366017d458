"""Records and I/O schemas of the realtime event stream (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from courtyard.core import json


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event a service appends in its transaction; it gets its stream id there."""

    kind: str
    payload: dict[str, Any]
    account_id: str | None = None
    conversation_id: str | None = None
    # Set on the event of a transaction that changed who may see the conversation.
    audience_changed: bool = False


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    account_id: str | None
    conversation_id: str | None
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    audience_changed: bool = False


def event_frame(event: StoredEvent) -> str:
    """The WebSocket (text) frame of an event, serialised once whoever receives it."""
    return json.dumps_str(
        {"type": "event", "id": event.id, "kind": event.kind, "data": event.payload}
    )


class EventOut(BaseModel):
    id: int
    kind: str
    data: dict[str, Any]
    created_at: datetime


class EventsPage(BaseModel):
    items: list[EventOut]
    # Pass as ``after`` next time: the last id returned, or ``after`` itself when none.
    cursor: int

"""Records and I/O schemas of the realtime event stream (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from courtyard.core import json
from courtyard.core.errors import CourtyardError


class CursorExpired(CourtyardError):
    """Events after the cursor are no longer kept (``COURTYARD_EVENTS_RETENTION_DAYS``): the
    client fetches its state again and continues from ``details["position"]``, as after a
    first registration."""

    code = "cursor_expired"
    http_status = 410
    default_message = (
        "Events this far back are no longer kept: fetch the current state, then continue "
        "from the position given."
    )


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


class WireFrame:
    """A text frame serialised once, and its WebSocket encoding built once, however many
    connections it goes to (a group message reaches hundreds)."""

    __slots__ = ("_wire", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._wire: bytes | None = None

    @property
    def wire(self) -> bytes:
        """The whole server-to-client frame: FIN + text opcode, length, unmasked payload."""
        if self._wire is None:
            payload = self.text.encode()
            size = len(payload)
            if size < 126:
                header = bytes((0x81, size))
            elif size < 65536:
                header = bytes((0x81, 126)) + size.to_bytes(2, "big")
            else:
                header = bytes((0x81, 127)) + size.to_bytes(8, "big")
            self._wire = header + payload
        return self._wire


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

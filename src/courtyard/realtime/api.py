"""Routes of the event stream: the WebSocket gateway and the HTTP fallback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from courtyard.accounts.api import ActorDep
from courtyard.container import Services, get_services
from courtyard.realtime.gateway import STREAM_PATH, stream_endpoint
from courtyard.realtime.model import EventOut, EventsPage

router = APIRouter(prefix="/api/v1", tags=["realtime"])

ServicesDep = Annotated[Services, Depends(get_services)]

# A plain Starlette route: the endpoint takes no FastAPI dependencies, and FastAPI's
# dependency machinery kept three exit stacks alive per socket for the connection's life.
router.add_websocket_route(STREAM_PATH, stream_endpoint, name="stream")


@router.get("/events", summary="Events after a stream position (the WebSocket's HTTP fallback)")
async def list_events(
    actor: ActorDep,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventsPage:
    events = await services.realtime.list_events(actor, after, limit)
    items = [
        EventOut(id=e.id, kind=e.kind, data=e.payload, created_at=e.created_at) for e in events
    ]
    return EventsPage(items=items, cursor=items[-1].id if items else after)

"""``create_app(settings)``: the one composition root for the HTTP server."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from courtyard import __version__
from courtyard.accounts import api as accounts_api
from courtyard.chats import api as chats_api
from courtyard.contacts import api as contacts_api
from courtyard.container import Services, build_services
from courtyard.core.bus import Bus, RedisBus
from courtyard.core.clock import Clock
from courtyard.core.config import Environment, Settings
from courtyard.core.http import BodySizeLimit, install_error_handlers
from courtyard.governance import api as governance_api
from courtyard.governance import due_process_api, transparency_api
from courtyard.moments import api as moments_api
from courtyard.realtime import api as realtime_api
from courtyard.realtime.gateway import WireAccess
from courtyard.web import pages as web_pages

# The collector's thresholds in a server process (CPython's default is 700, 10, 10). A chat
# send allocates a few hundred objects; with the default, the objects in flight (a batch
# waiting for its commit) were promoted so fast that a full collection ran every 1-2 s under
# load, pausing the loop 40-85 ms each time (bench/chat.py, docs/performance.md). A larger
# young generation lets those die young; full collections become rare.
SERVER_GC_THRESHOLDS = (5_000, 20, 100)


def _freeze_startup() -> None:
    """What start-up built (the compiled rule packs are a quarter of a million objects) lives
    as long as the process: out of the collector's reach, full collections stop pausing
    requests for 100-200 ms each (docs/performance.md, Moments and Chats)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVER_GC_THRESHOLDS)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    bus: Bus | None = None,
    freeze_startup: bool | None = None,
) -> FastAPI:
    """``freeze_startup``: move what start-up built out of the cyclic collector's reach once
    the services are up. A server process wants it (``courtyard serve`` passes True, whatever
    ``COURTYARD_ENV`` says: the test servers and benchmarks run as real servers); an app built
    in-process by the tests does not (frozen objects are never freed). Default: all but TEST.
    """
    settings = settings or Settings()
    if freeze_startup is None:
        freeze_startup = settings.env is not Environment.TEST

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with build_services(settings, clock=clock, bus=bus) as services:
            app.state.services = services
            await services.tailer.start()
            services.chats.start()
            services.realtime.start_pruning(
                settings.events_retention_days, settings.events_prune_seconds
            )
            if freeze_startup:
                _freeze_startup()
            try:
                yield
            finally:
                await services.realtime.stop_pruning()
                await services.chats.stop()
                await services.tailer.stop()

    app = FastAPI(
        title="Courtyard",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(WireAccess)  # added last: outermost, sees the server's own send
    app.include_router(accounts_api.router)
    app.include_router(contacts_api.router)
    app.include_router(chats_api.router)
    app.include_router(realtime_api.router)
    app.include_router(governance_api.router)
    app.include_router(due_process_api.router)
    app.include_router(moments_api.router)
    app.include_router(transparency_api.router)
    web_pages.install(app)

    @app.get("/healthz", tags=["operations"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="The database (and Redis) answer")
    async def readyz() -> JSONResponse:
        services: Services = app.state.services
        checks: dict[str, Any] = {}
        try:
            async with services.db.read() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # readiness reports, it does not raise
            checks["database"] = f"error: {type(exc).__name__}"
        if isinstance(services.bus, RedisBus):
            try:
                await services.bus.ping()
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = f"error: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    return app

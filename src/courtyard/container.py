"""The composition root's product: every service, built once, in dependency order.

``build_services`` is the only place that constructs engines and services; routes, pages and
the CLI receive this container and never reach for globals.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import Request

from courtyard.accounts.service import AccountsService, LocalDevelopmentVerifier
from courtyard.chats.moderation import GroupModeration, MessageModeration
from courtyard.chats.service import ChatsService
from courtyard.contacts.service import ContactsService
from courtyard.core.bus import Bus, InProcessBus, RedisBus
from courtyard.core.clock import Clock, SystemClock
from courtyard.core.config import Settings
from courtyard.core.db import Database
from courtyard.core.media import LocalMediaStore, MediaStore
from courtyard.core.migrate import ensure_schema
from courtyard.governance.counters import Counters, build_counters
from courtyard.governance.due_process import DueProcessService, DueProcessSettings
from courtyard.governance.service import GovernanceService
from courtyard.governance.virality import ViralityService, ViralityThresholds
from courtyard.moments.moderation import CommentModeration, PostModeration
from courtyard.moments.service import MomentsService
from courtyard.realtime.service import RealtimeService
from courtyard.realtime.tailer import StreamTailer


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    bus: Bus
    media: MediaStore
    governance: GovernanceService
    virality: ViralityService
    realtime: RealtimeService
    tailer: StreamTailer
    accounts: AccountsService
    contacts: ContactsService
    chats: ChatsService
    due_process: DueProcessService
    moments: MomentsService


@asynccontextmanager
async def build_services(
    settings: Settings, *, clock: Clock | None = None, bus: Bus | None = None
) -> AsyncIterator[Services]:
    clock = clock or SystemClock()
    db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    owns_bus = bus is None
    governance: GovernanceService | None = None
    counters: Counters | None = None
    try:
        await ensure_schema(db, migrate=settings.migrate_on_start)
        if bus is None:
            bus = RedisBus(settings.redis_url) if settings.redis_url else InProcessBus()
        media = LocalMediaStore(settings.media_dir)
        counters = build_counters(settings.redis_url, db)
        governance = GovernanceService(
            db,
            clock,
            counters=counters,
            policy_dir=settings.policy_dir,
            builtin_packs=settings.policy_builtin_packs,
        )
        await governance.load_policy()
        realtime = RealtimeService(db, bus, clock, governance)
        # Built here, started by the HTTP server's lifespan (the CLI does not tail the stream).
        tailer = StreamTailer(db, bus, poll_seconds=settings.stream_poll_seconds)
        realtime.local_wake = tailer.wake
        realtime.local_offer = tailer.offer
        accounts = AccountsService(
            settings=settings,
            db=db,
            clock=clock,
            governance=governance,
            media=media,
            verifier=LocalDevelopmentVerifier(),
        )
        contacts = ContactsService(
            settings=settings,
            db=db,
            clock=clock,
            realtime=realtime,
            governance=governance,
            accounts=accounts,
        )
        virality = ViralityService(
            db,
            clock,
            realtime,
            ViralityThresholds(views=settings.virality_views, shares=settings.virality_shares),
        )
        chats = ChatsService(
            settings=settings,
            db=db,
            clock=clock,
            realtime=realtime,
            governance=governance,
            accounts=accounts,
            media=media,
            virality=virality,
        )
        due_process = DueProcessService(
            db, clock, realtime, governance, DueProcessSettings.from_settings(settings)
        )
        chats.due_process = due_process
        due_process.content["message"] = MessageModeration(chats)
        moments = MomentsService(
            settings=settings,
            db=db,
            clock=clock,
            realtime=realtime,
            governance=governance,
            accounts=accounts,
            media=media,
        )
        moments.due_process = due_process
        due_process.content["post"] = PostModeration(moments)
        due_process.content["comment"] = CommentModeration(moments)
        group = GroupModeration(chats)
        due_process.content["group"] = group
        due_process.restrictors["group"] = group
        virality.on_escalate = due_process.escalate_in
        governance.author_facts = accounts.author_facts
        governance.author_facts_many = accounts.author_facts_many
        await governance.start(bus)
        for frame_type in ("send", "typing", "read"):
            realtime.frame_handlers[frame_type] = chats.handle_frame
        yield Services(
            settings=settings,
            clock=clock,
            db=db,
            bus=bus,
            media=media,
            governance=governance,
            virality=virality,
            realtime=realtime,
            tailer=tailer,
            accounts=accounts,
            contacts=contacts,
            chats=chats,
            due_process=due_process,
            moments=moments,
        )
    finally:
        if governance is not None:
            await governance.stop()
        if counters is not None:
            await counters.close()
        if owns_bus and bus is not None:
            await bus.close()
        await db.dispose()


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services

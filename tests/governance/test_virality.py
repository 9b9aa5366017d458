"""Virality of labelled content: unique views and shares, one escalation with friction, and a
correction notice that reaches exactly the people who saw or shared it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from courtyard.container import Services
from courtyard.core.clock import FakeClock
from courtyard.core.errors import NotFound
from courtyard.governance import store
from courtyard.governance.virality import (
    CORRECTION_EVENT,
    ContentNotTracked,
    Escalation,
    ViralityService,
    ViralityThresholds,
)

CT = "message"


@pytest.fixture
def virality(services: Services, clock: FakeClock) -> ViralityService:
    return ViralityService(
        services.db, clock, services.realtime, ViralityThresholds(views=3, shares=2)
    )


async def label(services: Services, v: ViralityService, content_id: str, *labels: str) -> None:
    async with services.db.write() as tx:
        await v.label(tx, CT, content_id, "author1", list(labels) or ["misleading"])


async def views(
    services: Services, v: ViralityService, content_id: str, *viewers: str
) -> Escalation | None:
    async with services.db.write() as tx:
        return await v.record_views(tx, CT, content_id, list(viewers))


async def share(
    services: Services, v: ViralityService, content_id: str, sharer: str, hops: int = 1
) -> Escalation | None:
    async with services.db.write() as tx:
        return await v.record_share(tx, CT, content_id, sharer, hops)


async def decisions(services: Services, content_id: str) -> list[dict[str, Any]]:
    async with services.db.read() as conn:
        rows = await conn.execute(
            select(store.policy_decisions).where(store.policy_decisions.c.subject_id == content_id)
        )
        return [dict(r._mapping) for r in rows]


async def test_unlabelled_content_is_not_tracked(
    services: Services, virality: ViralityService
) -> None:
    assert await views(services, virality, "m0", "a", "b", "c", "d") is None
    assert await share(services, virality, "m0", "a") is None
    async with services.db.read() as conn:
        assert await virality.reach(conn, CT, "m0") is None
        assert not await virality.has_friction(conn, CT, "m0")
        audience = await conn.execute(select(func.count()).select_from(store.content_audience))
        assert audience.scalar_one() == 0


async def test_labels_merge(services: Services, virality: ViralityService) -> None:
    await label(services, virality, "m1", "spam")
    await label(services, virality, "m1", "misleading", "spam")
    async with services.db.read() as conn:
        reach = await virality.reach(conn, CT, "m1")
    assert reach is not None
    assert reach.labels == ("misleading", "spam")
    assert (reach.views, reach.shares, reach.max_hops, reach.friction) == (0, 0, 0, False)


async def test_unique_viewers_count_once_and_views_escalate_once(
    services: Services, virality: ViralityService, clock: FakeClock
) -> None:
    await label(services, virality, "m2")
    assert await views(services, virality, "m2", "a", "a", "b") is None
    assert await views(services, virality, "m2", "a", "b") is None  # seen before: no change
    async with services.db.read() as conn:
        reach = await virality.reach(conn, CT, "m2")
        assert reach is not None
        assert reach.views == 2
        assert not await virality.has_friction(conn, CT, "m2")

    escalation = await views(services, virality, "m2", "b", "c")
    assert escalation is not None
    assert escalation.reach.views == 3
    assert escalation.reach.friction
    assert escalation.reach.escalated_at == clock.now()
    assert escalation.reach.decision_id == escalation.decision_id

    # Past the threshold nothing escalates again, and the friction stays.
    assert await views(services, virality, "m2", "d", "e") is None
    assert await share(services, virality, "m2", "a") is None
    assert await share(services, virality, "m2", "b") is None
    async with services.db.read() as conn:
        assert await virality.has_friction(conn, CT, "m2")
        reach = await virality.reach(conn, CT, "m2")
    assert reach is not None
    assert (reach.views, reach.shares, reach.decision_id) == (5, 2, escalation.decision_id)

    [decision] = await decisions(services, "m2")
    assert decision["id"] == escalation.decision_id
    assert decision["verdict"] == "friction"
    assert decision["actor_id"] == "author1"
    assert decision["labels"] == ["misleading"]
    [hit] = decision["hits"]
    assert hit["rule_id"] == "virality"
    assert hit["evidence"] == {"views": 3, "shares": 0, "thresholds": {"views": 3, "shares": 2}}


async def test_shares_count_every_forward_and_keep_the_longest_chain(
    services: Services, virality: ViralityService
) -> None:
    await label(services, virality, "m3")
    assert await share(services, virality, "m3", "a", hops=1) is None
    escalation = await share(services, virality, "m3", "a", hops=4)
    assert escalation is not None
    assert (escalation.reach.shares, escalation.reach.max_hops) == (2, 4)
    await share(services, virality, "m3", "b", hops=2)
    async with services.db.read() as conn:
        reach = await virality.reach(conn, CT, "m3")
    assert reach is not None
    assert (reach.shares, reach.max_hops, reach.views) == (3, 4, 0)


async def test_concurrent_calls_escalate_exactly_once(
    services: Services, virality: ViralityService
) -> None:
    await label(services, virality, "m4")
    results = await asyncio.gather(
        *(views(services, virality, "m4", f"v{i}") for i in range(8)),
        *(share(services, virality, "m4", f"v{i}") for i in range(4)),  # viewers share too
    )
    escalations = [r for r in results if r is not None]
    assert len(escalations) == 1
    assert len(await decisions(services, "m4")) == 1
    async with services.db.read() as conn:
        reach = await virality.reach(conn, CT, "m4")
        # The conditional update is what decides: a second claim finds nothing to claim.
        assert not await store.claim_escalation(conn, CT, "m4", virality._clock.now())
    assert reach is not None
    assert (reach.views, reach.shares) == (8, 4)
    assert reach.decision_id == escalations[0].decision_id


async def test_a_correction_reaches_exactly_the_viewers_and_sharers(
    services: Services, virality: ViralityService
) -> None:
    await label(services, virality, "m5")
    await label(services, virality, "other")
    await views(services, virality, "m5", "alice", "bob")
    await share(services, virality, "m5", "bob")
    await share(services, virality, "m5", "carol")
    await views(services, virality, "other", "dave")

    sent = await virality.send_correction(CT, "m5", "This claim was false.", by="moderator1")
    assert sent == 3
    for account in ("alice", "bob", "carol"):
        events = await services.realtime.events_for(account, 0, 100)
        corrections = [e for e in events if e.kind == CORRECTION_EVENT]
        assert len(corrections) == 1, account
        payload = corrections[0].payload
        assert payload["content_type"] == CT
        assert payload["content_id"] == "m5"
        assert payload["text"] == "This claim was false."
        assert payload["notice_id"]
    for outsider in ("dave", "author1", "moderator1"):
        events = await services.realtime.events_for(outsider, 0, 100)
        assert [e for e in events if e.kind == CORRECTION_EVENT] == [], outsider

    async with services.db.read() as conn:
        notices = (await conn.execute(select(store.correction_notices))).all()
    [notice] = notices
    assert (notice.content_id, notice.recipients, notice.created_by) == ("m5", 3, "moderator1")
    audit = await services_audit(services, "m5")
    assert [a["tag"] for a in audit] == ["governance:correction:send"]


async def services_audit(services: Services, content_id: str) -> list[dict[str, Any]]:
    async with services.db.read() as conn:
        return await store.list_audit_for_target(conn, CT, content_id)


async def test_a_correction_for_untracked_content_is_refused(
    services: Services, virality: ViralityService
) -> None:
    with pytest.raises(ContentNotTracked) as caught:
        await virality.send_correction(CT, "nothing", "text", by=None)
    assert isinstance(caught.value, NotFound)
    async with services.db.read() as conn:
        count = await conn.execute(select(func.count()).select_from(store.correction_notices))
        assert count.scalar_one() == 0

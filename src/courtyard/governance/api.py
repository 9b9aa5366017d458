"""Admin JSON routes for rule packs: read, check, try, edit with history, and see what a
rule did (or, in shadow mode, would have done) on recent traffic.

Reviewers may read; only admins change packs. Everyone else gets 404, as for a missing page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from courtyard.accounts.access import access_operator
from courtyard.accounts.api import ActorDep, ServicesDep
from courtyard.accounts.model import OperatorRole
from courtyard.governance import store
from courtyard.governance.engine import CompiledPolicy
from courtyard.governance.model import (
    CorrectionIn,
    CorrectionOut,
    DecisionOut,
    PackCheckIn,
    PackCheckOut,
    PackEnabledIn,
    PackIn,
    PackRevertIn,
    PackSummaryOut,
    PackVersionOut,
    PolicyTestIn,
    ProblemOut,
    ReachOut,
    RuleActivityCountOut,
    RuleActivityOut,
)
from courtyard.governance.packs import PackError, parse_pack
from courtyard.governance.policytest import run
from courtyard.governance.service import GovernanceService, PackRefused
from courtyard.governance.virality import ContentNotTracked

router = APIRouter(prefix="/api/v1/admin/policy", tags=["governance"])

_READERS = (OperatorRole.ADMIN, OperatorRole.REVIEWER)


def _summary(governance: GovernanceService, row: store.PackRow) -> dict[str, Any]:
    loaded = governance.loaded.get(row.pack_id)
    in_force = loaded is not None and loaded.row.version == row.version
    pack = loaded.pack if in_force and loaded is not None else None
    return {
        "pack_id": row.pack_id,
        "version": row.version,
        "enabled": row.enabled,
        "in_force": in_force,
        "origin": row.origin,
        "sha256": row.sha256,
        "created_at": row.created_at,
        "created_by": row.created_by,
        "note": row.note,
        "title": pack.title if pack else "",
        "rules": len(pack.rules) if pack else 0,
        "lists": len(pack.signals) if pack else 0,
    }


@router.get(
    "/packs", response_model=list[PackSummaryOut], summary="Rule packs and their versions in force"
)
async def list_packs(actor: ActorDep, services: ServicesDep) -> list[PackSummaryOut]:
    access_operator(actor, *_READERS)
    rows = await services.governance.list_packs()
    return [PackSummaryOut(**_summary(services.governance, row)) for row in rows]


@router.get("/packs/{pack_id}", response_model=PackVersionOut, summary="A pack's newest version")
async def get_pack(pack_id: str, actor: ActorDep, services: ServicesDep) -> PackVersionOut:
    access_operator(actor, *_READERS)
    history = await services.governance.pack_history(pack_id)
    row = history[0]
    return PackVersionOut(**_summary(services.governance, row), source=row.source)


@router.get(
    "/packs/{pack_id}/versions",
    response_model=list[PackSummaryOut],
    summary="Every version of a pack, newest first",
)
async def pack_history(
    pack_id: str, actor: ActorDep, services: ServicesDep
) -> list[PackSummaryOut]:
    access_operator(actor, *_READERS)
    history = await services.governance.pack_history(pack_id)
    return [PackSummaryOut(**_summary(services.governance, row)) for row in history]


@router.get(
    "/packs/{pack_id}/versions/{version}",
    response_model=PackVersionOut,
    summary="One version of a pack, with its source",
)
async def pack_version(
    pack_id: str, version: int, actor: ActorDep, services: ServicesDep
) -> PackVersionOut:
    access_operator(actor, *_READERS)
    row = await services.governance.pack_version(pack_id, version)
    return PackVersionOut(**_summary(services.governance, row), source=row.source)


@router.put(
    "/packs/{pack_id}",
    response_model=PackVersionOut,
    summary="Store and put in force a new version of a pack",
    description="The pack is checked whole (fields, signals, CEL types, examples); a refused "
    "pack changes nothing and the error lists every problem with its line.",
)
async def put_pack(
    pack_id: str, body: PackIn, actor: ActorDep, services: ServicesDep
) -> PackVersionOut:
    access_operator(actor, OperatorRole.ADMIN)
    pack = services.governance.check_pack(
        body.source, await services.governance.stored_files(body.source)
    )
    if pack.id != pack_id:
        raise PackRefused(
            f"The pack's id is {pack.id!r}, not {pack_id!r}.",
            details={"problems": [{"line": None, "message": "pack.id differs from the URL"}]},
        )
    row = await services.governance.put_pack(actor.id, body.source, note=body.note)
    return PackVersionOut(**_summary(services.governance, row), source=row.source)


@router.post(
    "/packs/{pack_id}/enabled",
    response_model=PackSummaryOut,
    summary="Turn a pack off or on (a new version, so the change has history too)",
)
async def set_enabled(
    pack_id: str, body: PackEnabledIn, actor: ActorDep, services: ServicesDep
) -> PackSummaryOut:
    access_operator(actor, OperatorRole.ADMIN)
    row = await services.governance.set_pack_enabled(actor.id, pack_id, body.enabled, body.note)
    return PackSummaryOut(**_summary(services.governance, row))


@router.post(
    "/packs/{pack_id}/revert",
    response_model=PackVersionOut,
    summary="Put an earlier version back in force (as a new version)",
)
async def revert(
    pack_id: str, body: PackRevertIn, actor: ActorDep, services: ServicesDep
) -> PackVersionOut:
    access_operator(actor, OperatorRole.ADMIN)
    row = await services.governance.revert_pack(actor.id, pack_id, body.version, body.note)
    return PackVersionOut(**_summary(services.governance, row), source=row.source)


@router.post("/check", response_model=PackCheckOut, summary="Check a pack without storing it")
async def check(body: PackCheckIn, actor: ActorDep, services: ServicesDep) -> PackCheckOut:
    access_operator(actor, *_READERS)
    files = await services.governance.stored_files(body.source)
    try:
        pack = parse_pack(
            body.source,
            source_name="pack",
            base_dir=services.governance.policy_dir,
            files=files,
        )
        compiled = CompiledPolicy([pack], classifiers=services.governance.classifiers)
    except PackError as error:
        return PackCheckOut(
            valid=False,
            problems=[ProblemOut(line=p.line, message=p.message) for p in error.problems],
        )
    return PackCheckOut(
        valid=True, pack_id=pack.id, rules=len(compiled.rules), lists=len(pack.signals)
    )


@router.post(
    "/test",
    summary="What each rule of a pack would do on sample events (shadow rules included)",
)
async def test_pack(body: PolicyTestIn, actor: ActorDep, services: ServicesDep) -> dict[str, Any]:
    access_operator(actor, *_READERS)
    files = await services.governance.stored_files(body.source)
    pack = services.governance.check_pack(body.source, files)
    lines = [event.model_dump_json(exclude_none=True) for event in body.events]
    return run(pack, lines).as_dict()


@router.get(
    "/rules/{rule_id}/activity",
    response_model=RuleActivityOut,
    summary="What a rule did, or in shadow mode would have done, on recent traffic",
)
async def rule_activity(
    rule_id: str,
    actor: ActorDep,
    services: ServicesDep,
    days: Annotated[int, Query(ge=1, le=365)] = 7,
) -> RuleActivityOut:
    access_operator(actor, *_READERS)
    activity = await services.governance.rule_activity(rule_id, days=days)
    return RuleActivityOut(
        rule_id=rule_id,
        since=activity["since"],
        counts=[
            RuleActivityCountOut(action=action, mode=mode, count=count)
            for (action, mode), count in sorted(activity["counts"].items())
        ],
        recent=[DecisionOut(**row) for row in activity["recent"]],
    )


@router.get("/decisions/{decision_id}", response_model=DecisionOut, summary="One recorded decision")
async def decision(decision_id: str, actor: ActorDep, services: ServicesDep) -> DecisionOut:
    access_operator(actor, *_READERS)
    row = await services.governance.decision(decision_id)
    return DecisionOut(**row)


_CONTENT_TYPES = frozenset({"message", "post", "comment", "article"})


@router.get(
    "/content/{content_type}/{content_id}/reach",
    response_model=ReachOut,
    summary="How far labelled content travelled: unique views, shares, hops, escalation",
)
async def reach(
    content_type: str, content_id: str, actor: ActorDep, services: ServicesDep
) -> ReachOut:
    access_operator(actor, *_READERS)
    async with services.db.read() as conn:
        found = await services.virality.reach(conn, content_type, content_id)
    if found is None or content_type not in _CONTENT_TYPES:
        raise ContentNotTracked(details={"content_type": content_type, "content_id": content_id})
    return ReachOut(
        content_type=found.content_type,
        content_id=found.content_id,
        views=found.views,
        shares=found.shares,
        max_hops=found.max_hops,
        labels=list(found.labels),
        friction=found.friction,
        escalated_at=found.escalated_at,
        decision_id=found.decision_id,
    )


@router.post(
    "/content/{content_type}/{content_id}/correction",
    response_model=CorrectionOut,
    summary="Send a correction notice to everyone who saw or shared labelled content",
)
async def send_correction(
    content_type: str,
    content_id: str,
    body: CorrectionIn,
    actor: ActorDep,
    services: ServicesDep,
) -> CorrectionOut:
    access_operator(actor, OperatorRole.ADMIN)
    if content_type not in _CONTENT_TYPES:
        raise ContentNotTracked(details={"content_type": content_type, "content_id": content_id})
    recipients = await services.virality.send_correction(
        content_type, content_id, body.text, by=actor.id
    )
    return CorrectionOut(recipients=recipients)

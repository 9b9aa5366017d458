"""JSON routes for due process: a person's notices, appeals, reports and standing; the review
queue for reviewers and admins (everyone else gets 404 there, as for a missing page)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from courtyard.accounts.api import ActorDep, ServicesDep
from courtyard.core.text import MultiLineText, SingleLineText

router = APIRouter(prefix="/api/v1", tags=["due process"])

_STRICT = ConfigDict(extra="forbid")


class AppealIn(BaseModel):
    model_config = _STRICT
    text: MultiLineText = Field(default="", max_length=4000)


class AppealAdditionIn(BaseModel):
    model_config = _STRICT
    text: MultiLineText = Field(min_length=1, max_length=4000)


class ReportIn(BaseModel):
    model_config = _STRICT
    target_type: Literal["message", "post", "comment", "account", "group", "article"]
    target_id: str = Field(min_length=1, max_length=64)
    category: str = Field(min_length=1, max_length=40)
    explanation: MultiLineText = Field(default="", max_length=2000)


class DecisionIn(BaseModel):
    model_config = _STRICT
    outcome: str = Field(min_length=1, max_length=30)
    policy_clause: SingleLineText = Field(min_length=1, max_length=120)
    reasons: MultiLineText = Field(min_length=1, max_length=2000)
    duration_hours: int | None = Field(default=None, ge=1, le=24 * 365)
    manifestly_unfounded: bool = False


class MeasureIn(BaseModel):
    model_config = _STRICT
    measure: Literal["warning", "feature_limit", "limited", "suspended", "terminated"]
    policy_clause: SingleLineText = Field(min_length=1, max_length=120)
    reasons: MultiLineText = Field(min_length=1, max_length=2000)
    duration_hours: int | None = Field(default=None, ge=1, le=24 * 365)


Json = dict[str, Any]


@router.get("/notices", summary="Your statements of reasons, newest first")
async def notices(
    actor: ActorDep,
    services: ServicesDep,
    before: Annotated[str | None, Query(max_length=26)] = None,
) -> list[Json]:
    return await services.due_process.notices(actor, before)


@router.get("/notices/{statement_id}", summary="One statement of reasons")
async def notice(statement_id: str, actor: ActorDep, services: ServicesDep) -> Json:
    return await services.due_process.notice(actor, statement_id)


@router.post("/notices/{statement_id}/appeal", status_code=201, summary="Appeal a decision")
async def appeal(statement_id: str, body: AppealIn, actor: ActorDep, services: ServicesDep) -> Json:
    return await services.due_process.appeal(actor, statement_id, body.text)


@router.post("/appeals/{appeal_id}/additions", summary="Add information to an open appeal")
async def add_to_appeal(
    appeal_id: str, body: AppealAdditionIn, actor: ActorDep, services: ServicesDep
) -> Json:
    return await services.due_process.add_to_appeal(actor, appeal_id, body.text)


@router.get("/standing", summary="What your account may do now, and why")
async def standing(actor: ActorDep, services: ServicesDep) -> Json:
    return await services.due_process.standing(actor)


@router.post("/reports", status_code=201, summary="Report content or an account")
async def report(body: ReportIn, actor: ActorDep, services: ServicesDep) -> Json:
    return await services.due_process.report(
        actor, body.target_type, body.target_id, body.category, body.explanation
    )


@router.get("/reports", summary="Your reports and their outcomes")
async def my_reports(actor: ActorDep, services: ServicesDep) -> list[Json]:
    return await services.due_process.my_reports(actor)


@router.get("/withheld", summary="Your own held or blocked content")
async def withheld(
    actor: ActorDep,
    services: ServicesDep,
    conversation_id: Annotated[str | None, Query(max_length=26)] = None,
) -> list[Json]:
    return await services.due_process.withheld(actor, conversation_id)


# -- reviewers ---------------------------------------------------------------------------------


@router.get("/admin/review/queue", summary="Open review items, by priority then deadline")
async def review_queue(
    actor: ActorDep,
    services: ServicesDep,
    kind: Annotated[
        Literal["hold", "report", "appeal", "virality", "escalation"] | None, Query()
    ] = None,
) -> list[Json]:
    return await services.due_process.queue(actor, kind)


@router.get("/admin/review/items/{item_id}", summary="A review item with context")
async def review_item(item_id: str, actor: ActorDep, services: ServicesDep) -> Json:
    return await services.due_process.item(actor, item_id)


@router.post("/admin/review/items/{item_id}/claim", summary="Assign an item to yourself")
async def claim_item(item_id: str, actor: ActorDep, services: ServicesDep) -> Json:
    return await services.due_process.claim(actor, item_id)


class AssignIn(BaseModel):
    model_config = _STRICT
    reviewer_id: str = Field(min_length=1, max_length=26)


@router.post("/admin/review/items/{item_id}/assign", summary="Assign an item to a reviewer")
async def assign_item(item_id: str, body: AssignIn, actor: ActorDep, services: ServicesDep) -> Json:
    return await services.due_process.assign(actor, item_id, body.reviewer_id)


@router.post("/admin/review/items/{item_id}/decision", summary="Decide an item")
async def decide_item(
    item_id: str, body: DecisionIn, actor: ActorDep, services: ServicesDep
) -> Json:
    return await services.due_process.decide(
        actor,
        item_id,
        outcome=body.outcome,
        policy_clause=body.policy_clause,
        reasons=body.reasons,
        duration_hours=body.duration_hours,
        manifestly_unfounded=body.manifestly_unfounded,
    )


@router.post("/admin/accounts/{account_id}/measures", summary="Put a measure on an account")
async def impose(account_id: str, body: MeasureIn, actor: ActorDep, services: ServicesDep) -> Json:
    return await services.due_process.impose(
        actor,
        account_id,
        measure=body.measure,
        policy_clause=body.policy_clause,
        reasons=body.reasons,
        duration_hours=body.duration_hours,
    )


@router.get("/admin/review/flagged-rules", summary="Rules overturned on appeal too often")
async def flagged_rules(actor: ActorDep, services: ServicesDep) -> list[Json]:
    return await services.due_process.flagged_rules(actor)

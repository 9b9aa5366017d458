"""Admin JSON routes for transparency: the report's figures and the statements of reasons as
DSA Transparency Database submissions, for a period of whole UTC days.

Admins and reviewers may read; everyone else gets 404, as for a missing page.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from courtyard.accounts.access import access_operator
from courtyard.accounts.api import ActorDep, ServicesDep
from courtyard.accounts.model import OperatorRole
from courtyard.governance import transparency_store
from courtyard.governance.due_process_store import statements_between
from courtyard.governance.transparency import Period, default_puid_prefix, to_dsa_statement
from courtyard.governance.transparency_report import build_report

router = APIRouter(prefix="/api/v1/admin/transparency", tags=["governance"])

_READERS = (OperatorRole.ADMIN, OperatorRole.REVIEWER)
ID_PATTERN = "^[0-9A-HJKMNP-TV-Z]{26}$"  # a statement id (core.ids)

FromDay = Annotated[
    date, Query(alias="from", description="First day of the period (YYYY-MM-DD, UTC).")
]
ToDay = Annotated[
    date, Query(alias="to", description="Last day of the period, included (YYYY-MM-DD, UTC).")
]


class ActionsOut(BaseModel):
    total: int
    by_category: dict[str, int]
    by_ground: dict[str, int]
    by_detection_method: dict[str, int]
    by_automation: dict[str, int]
    by_restriction_type: dict[str, int]
    by_measure: dict[str, int]
    by_content_type: dict[str, int]


class ReportsOut(BaseModel):
    received: int
    by_category: dict[str, int]
    actioned: int
    dismissed: int
    median_seconds_to_action: float | None


class AppealsOut(BaseModel):
    received: int
    decided: int
    upheld: int
    reversed: int
    reversal_rate: float | None
    median_seconds_to_decision: float | None


class RestoredOut(BaseModel):
    total: int
    holds_approved: int
    other_decisions_reversed: int
    by_measure: dict[str, int]


class RuleOverturnOut(BaseModel):
    rule_id: str
    appeals_decided: int
    reversed: int
    overturn_rate: float | None


class FlaggedRuleOut(BaseModel):
    rule_id: str
    flagged_at: str
    appeals: int
    reversals: int
    rate: float
    cleared_at: str | None


class TransparencyReportOut(BaseModel):
    title: str
    period: dict[str, str]
    generated_at: str
    software: str
    actions: ActionsOut
    reports: ReportsOut
    appeals: AppealsOut
    restored_without_appeal: RestoredOut
    rules: list[RuleOverturnOut]
    flagged_rules: list[FlaggedRuleOut]


class DsaStatementsOut(BaseModel):
    period: dict[str, str]
    puid_prefix: str
    statements: list[dict[str, Any]]
    next_after: str | None


@router.get(
    "/report",
    response_model=TransparencyReportOut,
    summary="The transparency report's figures for a period",
    description="What `courtyard transparency report` writes to report.json: actions by"
    " category, ground, detection method, automation, restriction type, measure and content"
    " type; reports and the median time to action; appeals, reversals and the median"
    " decision time; decisions restored without an appeal; per-rule overturn rates; flagged"
    " rules.",
)
async def transparency_report(
    first: FromDay, last: ToDay, actor: ActorDep, services: ServicesDep
) -> dict[str, Any]:
    access_operator(actor, *_READERS)
    period = Period(first, last)
    async with services.db.read() as conn:
        figures = await transparency_store.report_figures(conn, period.start, period.end)
    return build_report(figures, period, services.clock.now())


@router.get(
    "/statements",
    response_model=DsaStatementsOut,
    summary="Statements of reasons of a period as DSA Transparency Database submissions",
    description="One page of statements issued in the period, oldest first, each a v2"
    " submission object; pass `next_after` as `after` for the next page. Up to 100 statements"
    ' of a page are one body for POST /api/v1/statements as `{"statements": [...]}`.',
)
async def dsa_statements(
    first: FromDay,
    last: ToDay,
    actor: ActorDep,
    services: ServicesDep,
    after: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="`next_after` of the previous page."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DsaStatementsOut:
    access_operator(actor, *_READERS)
    period = Period(first, last)
    prefix = default_puid_prefix(services.settings.public_url)
    async with services.db.read() as conn:
        rows = await statements_between(
            conn, period.start, period.end, after_id=after, limit=limit + 1
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return DsaStatementsOut(
        period=period.as_dict(),
        puid_prefix=prefix,
        statements=[to_dsa_statement(row, platform_puid_prefix=prefix) for row in rows],
        next_after=rows[-1]["id"] if more and rows else None,
    )
